// The Job controller (Kubernetes' pkg/controller/job): runs a Job's pods to completion. Pods carry
// the batch.kubernetes.io/job-tracking finalizer, so every finished or deleted pod is counted
// exactly once: its uid goes to status.uncountedTerminatedPods, the finalizer comes off, then
// the counter moves (a crash in between repeats a step, never double-counts). Failures hold
// back the next pod by an exponential back-off; backoffLimit and activeDeadlineSeconds fail
// the Job (FailureTarget, then Failed once no pod is terminating), enough successes complete it
// (SuccessCriteriaMet, then Complete), ttlSecondsAfterFinished deletes it afterwards.
// podFailurePolicy decides what a failed pod means (fail the Job or its index, ignore, count),
// backoffLimitPerIndex fails single indexes, successPolicy completes an Indexed Job early
// (job-policy.ts).
//
// The small pod helpers at the top are shared with the other workload controllers here.
import { ApiError } from "../k8s/errors.ts";
import { controllerRef, newControllerRef, type OwnerObject } from "../k8s/owner-refs.ts";
import { JOB_NAME_LABEL } from "../resources/job.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Ctx, create, remove, timestamp, update } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import { getObject, type Key, type KObject, listObjects, withRv } from "../store/objects.ts";
import { uidExists } from "../store/ownership.ts";
import { type Involved, recordEvent } from "./events.ts";
import {
  formatIndexes,
  matchPodFailurePolicy,
  matchSuccessPolicy,
  parseIndexes,
} from "./job-policy.ts";
import { isActive, isPodReady, isTerminal } from "./pod-state.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";

// ---------------------------------------------------------------------------
// Shared helpers for controllers that own pods

/** The strategy of a built-in resource (always registered). */
export function strategy(group: string, plural: string): Strategy {
  const s = strategyFor(group, plural);
  if (!s) throw new Error(`no strategy for ${group}/${plural}`);
  return s;
}

/** Objects of `resource` in `namespace` whose controller reference is `uid`. */
export async function ownedBy(
  ctx: Ctx,
  resource: string,
  namespace: string,
  uid: string,
): Promise<KObject[]> {
  const { rows } = await listObjects(ctx.db, { resource, namespace });
  return rows.map((r) => withRv(r.body, r.rv)).filter((o) => controllerRef(o)?.uid === uid);
}

/** 404 (someone else removed it) and a uid precondition that no longer holds are both "done". */
export async function ignoreGone<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ApiError && (err.code === 404 || err.code === 409)) return undefined;
    throw err;
  }
}

/** A conflict on a pinned write: someone changed the object since this reconcile read it. */
export const isConflict = (err: unknown) => err instanceof ApiError && err.code === 409;

/** Record an Event about a stored object. */
export const event = (
  ctx: Ctx,
  o: KObject,
  type: "Normal" | "Warning",
  reason: string,
  message: string,
  component: string,
) => recordEvent(ctx, o as Involved, type, reason, message, component);

/** metav1.NewControllerRef for a stored object. */
export const controllerRefTo = (o: KObject) => newControllerRef(o as OwnerObject);

/** Delete a pod we read, only if it is still that pod. */
export function deletePod(ctx: Ctx, pod: KObject, gracePeriodSeconds?: number) {
  return ignoreGone(
    remove(ctx, strategy("", "pods"), pod.metadata.namespace, pod.metadata.name, {
      preconditions: { uid: pod.metadata.uid },
      gracePeriodSeconds,
    }),
  );
}

/** Delete an owner's pod and say so in a SuccessfulDelete Event, as the workload controllers do. */
export async function deleteOwnedPod(ctx: Ctx, owner: KObject, pod: KObject, component: string) {
  await deletePod(ctx, pod);
  await event(
    ctx,
    owner,
    "Normal",
    "SuccessfulDelete",
    `Deleted pod: ${pod.metadata.name}`,
    component,
  );
}

/** Write `status` through the status subresource, pinned to the revision `obj` was read at. */
export async function writeStatus(
  ctx: Ctx,
  s: Strategy,
  obj: KObject,
  status: KObject,
): Promise<KObject> {
  const { namespace, name, resourceVersion, uid } = obj.metadata;
  const res = await update(
    ctx,
    s,
    namespace,
    name,
    (cur) => {
      cur.metadata.resourceVersion = resourceVersion;
      cur.metadata.uid = uid;
      cur.status = status;
      return cur;
    },
    { subresource: "status" },
  );
  return res.object;
}

/** Create up to `count` objects in batches of 1, 2, 4 … stopping at the first failing batch. */
export async function slowStart(
  count: number,
  make: (i: number) => Promise<unknown>,
): Promise<{ made: number; error?: unknown }> {
  let made = 0;
  for (let batch = Math.min(1, count); made < count; batch = Math.min(batch * 2, count - made)) {
    const results = await Promise.allSettled(
      Array.from({ length: batch }, (_, i) => make(made + i)),
    );
    const failed = results.find((r) => r.status === "rejected");
    made += results.filter((r) => r.status === "fulfilled").length;
    if (failed) return { made, error: (failed as PromiseRejectedResult).reason };
  }
  return { made };
}

/** A reconciler whose pass takes the time it runs at (CronJob's tests set it). */
export abstract class SerialReconciler extends Reconciler {
  protected abstract sync(ctx: Ctx, key: Key, now: Date): Promise<Next>;

  protected reconcile(ctx: Ctx, key: Key): Promise<Next> {
    return this.sync(ctx, key, new Date());
  }
}

// ---------------------------------------------------------------------------
// Job

export const JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking";
/** Annotation and label of an Indexed Job's pods. */
export const COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index";
/** How often a pod's index failed before it (backoffLimitPerIndex). */
const INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count";
const COMPONENT = "job-controller";
const MAX_PODS_PER_PASS = 500;
/** Names generated from a prefix get 5 random characters; a name is at most 63. */
const MAX_GENERATE_NAME = 58;

type Condition = { type: string; status: string; reason?: string; message?: string } & KObject;

export const jobCondition = (job: KObject, type: string): Condition | undefined =>
  (job.status?.conditions ?? []).find((c: Condition) => c.type === type && c.status === "True");

/** Complete or Failed: the Job is done and the controller leaves it alone (but for its TTL). */
export const jobFinished = (job: KObject) =>
  !!(jobCondition(job, "Complete") || jobCondition(job, "Failed"));

/** The pod back-off base (DefaultJobPodFailureBackOff); doubles per failure, capped at 60×. */
function backoffBaseMs(env: object): number {
  const v = Number((env as { JOB_BACKOFF_BASE_SECONDS?: string }).JOB_BACKOFF_BASE_SECONDS);
  return (Number.isFinite(v) && v >= 0 ? v : 10) * 1000;
}

const indexOf = (p: KObject): number | undefined => {
  const raw = p.metadata.annotations?.[COMPLETION_INDEX];
  return /^\d+$/.test(raw ?? "") ? Number(raw) : undefined;
};

/** When a pod finished: its containers' last finishedAt, else when it went away or was made. */
function finishTime(p: KObject): number {
  let t = Number.NaN;
  for (const c of [
    ...(p.status?.containerStatuses ?? []),
    ...(p.status?.initContainerStatuses ?? []),
  ]) {
    const f = Date.parse(c.state?.terminated?.finishedAt ?? "");
    if (Number.isFinite(f) && !(f <= t)) t = f;
  }
  if (Number.isFinite(t)) return t;
  return Date.parse(p.metadata.deletionTimestamp ?? p.metadata.creationTimestamp ?? "") || 0;
}

/** ensureJobConditionStatus: true when the list changed. A False condition is never added. */
function ensureCondition(
  status: KObject,
  type: string,
  value: "True" | "False",
  reason: string,
  message: string,
  now: Date,
): boolean {
  const list: Condition[] = status.conditions ?? [];
  const at = timestamp(now);
  const existing = list.find((c) => c.type === type);
  if (existing) {
    if (existing.status === value && existing.reason === reason && existing.message === message)
      return false;
    if (existing.status !== value) existing.lastTransitionTime = at;
    Object.assign(existing, { status: value, reason, message, lastProbeTime: at });
    return true;
  }
  if (value === "False") return false;
  status.conditions = [
    ...list,
    { type, status: value, lastProbeTime: at, lastTransitionTime: at, reason, message },
  ];
  return true;
}

/** controller.ActivePods order: unscheduled, pending, not ready, then the newest first. */
function deletionOrder(a: KObject, b: KObject): number {
  const rank = (p: KObject) => [
    p.spec?.nodeName ? 1 : 0,
    p.status?.phase === "Running" ? 1 : 0,
    isPodReady(p) ? 1 : 0,
  ];
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i] - rb[i];
  return (
    (Date.parse(b.metadata.creationTimestamp) || 0) -
    (Date.parse(a.metadata.creationTimestamp) || 0)
  );
}

const generateName = (prefix: string) =>
  prefix.length <= MAX_GENERATE_NAME ? prefix : prefix.slice(0, MAX_GENERATE_NAME);

/** What the Job is on its way to (a terminal condition waiting for its pods to settle). */
interface Finishing {
  type: "Complete" | "Failed";
  reason: string;
  message: string;
  /** The interim condition to record first: SuccessCriteriaMet or FailureTarget. */
  interim: "SuccessCriteriaMet" | "FailureTarget";
}

export class JobController extends SerialReconciler {
  protected async sync(ctx: Ctx, key: Key, now: Date): Promise<Next> {
    const found = await getObject(ctx.db, key);
    if (!found) {
      await this.releaseOrphans(ctx, key);
      return "gone";
    }
    const job = found.object;
    const managedBy = job.spec?.managedBy;
    if (managedBy && managedBy !== "kubernetes.io/job-controller") return "resync";
    if (jobFinished(job)) return this.afterFinish(ctx, job, now);
    try {
      return await this.syncJob(ctx, job, now);
    } catch (err) {
      // The Job moved under us (spec edit, another pass): read it again shortly.
      if (isConflict(err)) return soon(100);
      throw err;
    }
  }

  /** Pods of a deleted Job keep its tracking finalizer: take it off so they can go. */
  private async releaseOrphans(ctx: Ctx, key: Key) {
    const { rows } = await listObjects(ctx.db, { resource: "pods", namespace: key.namespace });
    for (const row of rows) {
      const pod = withRv(row.body, row.rv);
      if (!(pod.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER)) continue;
      const ref = controllerRef(pod);
      // Ours: a reference to a Job of this name that is gone, or (orphaned) just our label.
      if (ref) {
        if (ref.kind !== "Job" || ref.name !== key.name) continue;
        if (await uidExists(ctx.db, ref.uid)) continue;
      } else if (pod.metadata.labels?.[JOB_NAME_LABEL] !== key.name) continue;
      try {
        await this.dropFinalizers(ctx, [pod]);
      } catch (err) {
        console.error("job: releasing pod", pod.metadata.name, err);
      }
    }
  }

  /** ttlSecondsAfterFinished: delete the finished Job (and, through GC, its pods) when due. */
  private async afterFinish(ctx: Ctx, job: KObject, now: Date): Promise<Next> {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (typeof ttl !== "number" || job.metadata.deletionTimestamp) return "resync";
    const done = jobCondition(job, "Complete") ?? jobCondition(job, "Failed");
    const finishedAt = Date.parse(job.status?.completionTime ?? done?.lastTransitionTime ?? "");
    const expireAt = (Number.isFinite(finishedAt) ? finishedAt : now.getTime()) + ttl * 1000;
    if (now.getTime() < expireAt) return soon(expireAt - now.getTime());
    await ignoreGone(
      remove(ctx, strategy("batch", "jobs"), job.metadata.namespace, job.metadata.name, {
        propagationPolicy: "Foreground",
        preconditions: { uid: job.metadata.uid },
      }),
    );
    return "resync";
  }

  private async syncJob(ctx: Ctx, job: KObject, now: Date): Promise<Next> {
    const spec = job.spec ?? {};
    const status: KObject = structuredClone(job.status ?? {});
    const before = JSON.stringify(status);
    const indexed = spec.completionMode === "Indexed";
    const completions: number | undefined =
      typeof spec.completions === "number" ? spec.completions : undefined;
    const parallelism: number = spec.parallelism ?? 1;
    const suspended = spec.suspend === true;
    const deleting = !!job.metadata.deletionTimestamp;
    const pods = await ownedBy(ctx, "pods", job.metadata.namespace, job.metadata.uid);
    const tracked = (p: KObject) => (p.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
    const validIndex = (p: KObject) => {
      const i = indexOf(p);
      return i !== undefined && i < (completions ?? 0);
    };
    const policy: KObject | undefined = spec.podFailurePolicy ?? undefined;
    // isPodFailed: a pod going away unfinished counts as failed, unless suspension is what
    // removed it; with a podFailurePolicy only the Failed phase does (its rules need the reason).
    const isFailed = (p: KObject) =>
      p.status?.phase === "Failed" ||
      (!policy && !!p.metadata.deletionTimestamp && p.status?.phase !== "Succeeded" && !suspended);
    const match = (p: KObject) => matchPodFailurePolicy(policy, p);
    /** A failure the policy does not Ignore. */
    const countedFailure = (p: KObject) => isFailed(p) && match(p).counts;
    const uncounted = {
      succeeded: new Set<string>(status.uncountedTerminatedPods?.succeeded ?? []),
      failed: new Set<string>(status.uncountedTerminatedPods?.failed ?? []),
    };
    const prevIndexes = parseIndexes(status.completedIndexes, completions ?? 0);
    const succeededIndexes = new Set(prevIndexes);
    let newSucceeded = 0;
    let newFailed = 0;
    for (const p of pods) {
      if (!tracked(p)) continue;
      const uid = p.metadata.uid;
      if (p.status?.phase === "Succeeded") {
        if (indexed) {
          if (validIndex(p)) succeededIndexes.add(indexOf(p) as number);
        } else if (!uncounted.succeeded.has(uid)) newSucceeded++;
      } else if (countedFailure(p) && !uncounted.failed.has(uid) && (!indexed || validIndex(p)))
        newFailed++;
    }
    const succeeded = indexed
      ? succeededIndexes.size
      : (status.succeeded ?? 0) + newSucceeded + uncounted.succeeded.size;
    const failed = (status.failed ?? 0) + newFailed + uncounted.failed.size;
    let active = pods.filter(isActive);
    let terminating = pods.filter((p) => p.metadata.deletionTimestamp && !isTerminal(p)).length;
    const perIndex = indexed
      ? this.indexFailures(job, pods, validIndex, match, succeededIndexes)
      : undefined;

    if (!status.startTime && !suspended) status.startTime = timestamp(now);
    let recheck: number | undefined;
    let finishing = this.finishingFromConditions(status);
    if (!finishing) {
      const backoffLimit: number = spec.backoffLimit ?? 6;
      const ads = spec.activeDeadlineSeconds;
      const started = Date.parse(status.startTime ?? "");
      const failJob =
        policy &&
        pods
          .filter(isFailed)
          .map(match)
          .find((m) => m.message);
      const maxFailedIndexes = spec.maxFailedIndexes;
      if (failJob?.message) finishing = failure("PodFailurePolicy", failJob.message);
      else if (
        perIndex &&
        typeof maxFailedIndexes === "number" &&
        perIndex.failed.size > maxFailedIndexes
      )
        finishing = failure(
          "MaxFailedIndexesExceeded",
          "Job has exceeded the specified maximal number of failed indexes",
        );
      else if (failed > backoffLimit || this.pastBackoffLimitOnFailure(job, active))
        finishing = failure("BackoffLimitExceeded", "Job has reached the specified backoff limit");
      else if (typeof ads === "number" && !suspended && Number.isFinite(started)) {
        const left = started + ads * 1000 - now.getTime();
        if (left <= 0)
          finishing = failure("DeadlineExceeded", "Job was active longer than specified deadline");
        else recheck = left;
      }
    }
    const successPolicy =
      !finishing && indexed
        ? matchSuccessPolicy(spec.successPolicy, completions ?? 0, succeededIndexes)
        : undefined;
    if (successPolicy)
      finishing = {
        type: "Complete",
        interim: "SuccessCriteriaMet",
        reason: "SuccessPolicy",
        message: successPolicy,
      };

    let changedPods = false;
    if (finishing) {
      // The Job's fate is sealed: no pod keeps running.
      const deleted = await this.deletePods(ctx, job, active);
      terminating += deleted;
      changedPods ||= deleted > 0;
      active = active.slice(deleted);
    } else {
      if (!deleting) {
        // Failed indexes are as finished as succeeded ones: nothing more runs for them.
        const doneIndexes = new Set([...succeededIndexes, ...(perIndex?.failed ?? [])]);
        const r = await this.manage(ctx, job, {
          active,
          terminating,
          succeeded: indexed ? doneIndexes.size : succeeded,
          succeededIndexes: doneIndexes,
          failureCounts: perIndex?.counts,
          pods,
          now,
          parallelism,
          completions,
          indexed,
          suspended,
        });
        active = r.active;
        terminating += r.deleted;
        changedPods ||= r.created + r.deleted > 0;
        if (r.wait !== undefined) recheck = Math.min(recheck ?? r.wait, r.wait);
      }
      const complete =
        active.length === 0 &&
        (completions === undefined ? succeeded > 0 : succeeded >= completions);
      const indexesFailed =
        !!perIndex?.failed.size &&
        active.length === 0 &&
        succeeded + perIndex.failed.size >= (completions ?? 0);
      if (indexesFailed) finishing = failure("FailedIndexes", "Job has failed indexes");
      else if (complete)
        finishing = {
          type: "Complete",
          interim: "SuccessCriteriaMet",
          reason: "CompletionsReached",
          message: "Reached expected number of succeeded pods",
        };
      else if (!deleting) await this.suspension(ctx, job, status, suspended, now);
    }
    // Zero counters are omitted on the wire (int32 with omitempty); ready and terminating are not.
    if (active.length) status.active = active.length;
    else delete status.active;
    status.ready = active.filter(isPodReady).length;
    status.terminating = terminating;

    // Count finished pods: record their uids, drop their finalizers, then move the counters.
    const toRelease = pods.filter(
      (p) =>
        tracked(p) &&
        (deleting ||
          !!finishing ||
          p.status?.phase === "Succeeded" ||
          isFailed(p) ||
          (suspended && !!p.metadata.deletionTimestamp)),
    );
    const newIndexes: number[] = [];
    for (const p of toRelease) {
      const uid = p.metadata.uid;
      if (p.status?.phase === "Succeeded" && !uncounted.failed.has(uid)) {
        if (indexed) {
          const i = indexOf(p);
          if (validIndex(p) && i !== undefined && !prevIndexes.has(i)) newIndexes.push(i);
        } else uncounted.succeeded.add(uid);
      } else if (isFailed(p) || (finishing && finishing.type === "Failed" && !isTerminal(p))) {
        // An Ignored failure releases the pod without counting it.
        if ((!indexed || validIndex(p)) && (!isFailed(p) || match(p).counts))
          uncounted.failed.add(uid);
      }
    }
    if (indexed) {
      status.completedIndexes = formatIndexes(succeededIndexes);
      status.succeeded = succeededIndexes.size;
    }
    if (perIndex) status.failedIndexes = formatIndexes(perIndex.failed);
    if (finishing && !jobCondition({ status }, finishing.interim))
      ensureCondition(status, finishing.interim, "True", finishing.reason, finishing.message, now);
    status.uncountedTerminatedPods = uncountedOf(uncounted);
    let current = job;
    if (JSON.stringify(status) !== before) current = await writeStatus(ctx, JOBS(), job, status);

    const released = await this.dropFinalizers(ctx, toRelease);
    changedPods ||= released.size > 0;
    const stillTracked = new Set(
      pods.filter((p) => tracked(p) && !released.has(p.metadata.uid)).map((p) => p.metadata.uid),
    );
    for (const kind of ["succeeded", "failed"] as const)
      for (const uid of uncounted[kind])
        if (!stillTracked.has(uid)) {
          uncounted[kind].delete(uid);
          status[kind] = (status[kind] ?? 0) + 1;
        }
    status.uncountedTerminatedPods = uncountedOf(uncounted);
    const settled =
      finishing &&
      uncounted.succeeded.size + uncounted.failed.size === 0 &&
      stillTracked.size === 0 &&
      terminating === 0 &&
      !changedPods;
    if (finishing && settled) {
      ensureCondition(status, finishing.type, "True", finishing.reason, finishing.message, now);
      if (finishing.type === "Complete") status.completionTime = timestamp(now);
    }
    if (JSON.stringify(status) !== JSON.stringify(current.status ?? {}))
      current = await writeStatus(ctx, JOBS(), current, status);
    if (finishing && settled) {
      if (finishing.type === "Complete")
        await event(ctx, current, "Normal", "Completed", "Job completed", COMPONENT);
      else await event(ctx, current, "Warning", finishing.reason, finishing.message, COMPONENT);
      return spec.ttlSecondsAfterFinished != null ? soon(0) : "resync";
    }
    if (finishing || changedPods) return soon(Math.min(recheck ?? 500, 500));
    return recheck !== undefined ? soon(recheck) : "resync";
  }

  /**
   * backoffLimitPerIndex: each index's failures (carried from pod to pod in an annotation) and
   * the indexes that failed for good — past the limit, or by a FailIndex rule.
   */
  private indexFailures(
    job: KObject,
    pods: KObject[],
    validIndex: (p: KObject) => boolean,
    match: (p: KObject) => { counts: boolean; action?: string },
    succeeded: Set<number>,
  ) {
    const limit = job.spec?.backoffLimitPerIndex;
    if (typeof limit !== "number") return undefined;
    const completions: number = job.spec?.completions ?? 0;
    const failed = parseIndexes(job.status?.failedIndexes, completions);
    const counts = new Map<number, number>();
    for (const p of pods) {
      const i = indexOf(p);
      if (i === undefined || !validIndex(p)) continue;
      const carried = Number(p.metadata.annotations?.[INDEX_FAILURE_COUNT]) || 0;
      const m = p.status?.phase === "Failed" ? match(p) : undefined;
      if (m?.action === "FailIndex") failed.add(i);
      const n = carried + (m?.counts ? 1 : 0);
      counts.set(i, Math.max(counts.get(i) ?? 0, n));
    }
    for (const [i, n] of counts) if (n > limit && !succeeded.has(i)) failed.add(i);
    return { failed, counts };
  }

  /** A Job that already recorded SuccessCriteriaMet or FailureTarget only waits to finish. */
  private finishingFromConditions(status: KObject): Finishing | undefined {
    const s = { status };
    const met = jobCondition(s, "SuccessCriteriaMet");
    if (met)
      return {
        type: "Complete",
        interim: "SuccessCriteriaMet",
        reason: met.reason ?? "",
        message: met.message ?? "",
      };
    const target = jobCondition(s, "FailureTarget");
    if (target) return failure(target.reason ?? "", target.message ?? "");
    return undefined;
  }

  /** restartPolicy OnFailure: container restarts of running pods count against backoffLimit. */
  private pastBackoffLimitOnFailure(job: KObject, active: KObject[]): boolean {
    if (job.spec?.template?.spec?.restartPolicy !== "OnFailure") return false;
    let restarts = 0;
    for (const p of active)
      for (const c of [
        ...(p.status?.initContainerStatuses ?? []),
        ...(p.status?.containerStatuses ?? []),
      ])
        restarts += c.restartCount ?? 0;
    const limit: number = job.spec?.backoffLimit ?? 6;
    return limit === 0 ? restarts > 0 : restarts >= limit;
  }

  /** The Suspended condition follows spec.suspend; resuming restarts the deadline clock. */
  private async suspension(ctx: Ctx, job: KObject, status: KObject, suspended: boolean, now: Date) {
    if (suspended) {
      if (ensureCondition(status, "Suspended", "True", "JobSuspended", "Job suspended", now))
        await event(ctx, job, "Normal", "Suspended", "Job suspended", COMPONENT);
    } else if (ensureCondition(status, "Suspended", "False", "JobResumed", "Job resumed", now)) {
      status.startTime = timestamp(now);
      await event(ctx, job, "Normal", "Resumed", "Job resumed", COMPONENT);
    }
  }

  /** manageJob: delete extra pods or create missing ones (after the failure back-off). */
  private async manage(
    ctx: Ctx,
    job: KObject,
    o: {
      active: KObject[];
      terminating: number;
      succeeded: number;
      succeededIndexes: Set<number>;
      /** backoffLimitPerIndex: failures so far per index, for the replacement pods. */
      failureCounts?: Map<number, number>;
      pods: KObject[];
      now: Date;
      parallelism: number;
      completions: number | undefined;
      indexed: boolean;
      suspended: boolean;
    },
  ): Promise<{ active: KObject[]; created: number; deleted: number; wait?: number }> {
    const { active } = o;
    if (o.suspended) {
      const deleted = await this.deletePods(ctx, job, active);
      return { active: active.slice(deleted), created: 0, deleted };
    }
    let want: number;
    if (o.completions === undefined) want = o.succeeded > 0 ? active.length : o.parallelism;
    else want = Math.max(0, Math.min(o.completions - o.succeeded, o.parallelism));

    // Indexed: duplicates, out-of-range and already-succeeded indexes go first.
    const extra: KObject[] = [];
    let keep = active;
    if (o.indexed) {
      const seen = new Set<number>();
      keep = [];
      for (const p of [...active].sort((a, b) => deletionOrder(b, a))) {
        const i = indexOf(p);
        if (
          i === undefined ||
          i >= (o.completions ?? 0) ||
          seen.has(i) ||
          o.succeededIndexes.has(i)
        )
          extra.push(p);
        else {
          seen.add(i);
          keep.push(p);
        }
      }
    }
    const removeAtLeast = Math.max(0, active.length - want);
    if (extra.length < removeAtLeast)
      extra.push(...[...keep].sort(deletionOrder).slice(0, removeAtLeast - extra.length));
    if (extra.length) {
      const doomed = extra.slice(0, MAX_PODS_PER_PASS);
      const deleted = await this.deletePods(ctx, job, doomed);
      const gone = new Set(doomed.slice(0, deleted).map((p) => p.metadata.uid));
      return { active: active.filter((p) => !gone.has(p.metadata.uid)), created: 0, deleted };
    }

    let diff = want - active.length;
    if (job.spec?.podReplacementPolicy === "Failed") diff -= o.terminating;
    if (diff <= 0) return { active, created: 0, deleted: 0 };
    const wait = this.backoffRemaining(o.pods, o.now);
    if (wait > 0) return { active, created: 0, deleted: 0, wait };
    diff = Math.min(diff, MAX_PODS_PER_PASS);
    let indexes: number[] = [];
    if (o.indexed) {
      const held = new Set(keep.map((p) => indexOf(p)));
      for (let i = 0; i < (o.completions ?? 0) && indexes.length < diff; i++)
        if (!o.succeededIndexes.has(i) && !held.has(i)) indexes.push(i);
      diff = indexes.length;
    } else indexes = [];
    const made: KObject[] = [];
    const { error } = await slowStart(diff, async (n) => {
      const pod = await create(
        ctx,
        strategy("", "pods"),
        job.metadata.namespace,
        this.podFor(job, o.indexed ? indexes[n] : undefined, o.failureCounts),
      );
      made.push(pod.object);
      await event(
        ctx,
        job,
        "Normal",
        "SuccessfulCreate",
        `Created pod: ${pod.object.metadata.name}`,
        COMPONENT,
      );
    });
    if (error) {
      const msg = error instanceof Error ? error.message : String(error);
      await event(ctx, job, "Warning", "FailedCreate", `Error creating: ${msg}`, COMPONENT);
      if (!made.length) throw error;
    }
    return { active: [...active, ...made], created: made.length, deleted: 0 };
  }

  /**
   * The pod failure back-off, read from the pods themselves: failures since the last success
   * double the delay (base, 2×base …, capped at 60×base) counted from the last failure.
   */
  private backoffRemaining(pods: KObject[], now: Date): number {
    let lastSuccess = 0;
    for (const p of pods)
      if (p.status?.phase === "Succeeded") lastSuccess = Math.max(lastSuccess, finishTime(p));
    let failures = 0;
    let lastFailure = 0;
    for (const p of pods) {
      if (p.status?.phase !== "Failed") continue;
      const t = finishTime(p);
      if (t <= lastSuccess) continue;
      failures++;
      lastFailure = Math.max(lastFailure, t);
    }
    if (failures === 0) return 0;
    const base = backoffBaseMs(this.env);
    const delay = Math.min(base * 2 ** Math.min(failures - 1, 30), base * 60);
    return Math.max(0, lastFailure + delay - now.getTime());
  }

  private podFor(
    job: KObject,
    index: number | undefined,
    failureCounts?: Map<number, number>,
  ): KObject {
    const t = structuredClone(job.spec?.template ?? {});
    const meta = t.metadata ?? {};
    const name = job.metadata.name;
    const pod: KObject = {
      metadata: {
        generateName: generateName(index === undefined ? `${name}-` : `${name}-${index}-`),
        labels: { ...meta.labels },
        annotations: { ...meta.annotations },
        ownerReferences: [controllerRefTo(job)],
        finalizers: [...(meta.finalizers ?? []), JOB_TRACKING_FINALIZER],
      },
      spec: t.spec ?? {},
    };
    if (index !== undefined) {
      pod.metadata.annotations[COMPLETION_INDEX] = String(index);
      if (failureCounts)
        pod.metadata.annotations[INDEX_FAILURE_COUNT] = String(failureCounts.get(index) ?? 0);
      pod.metadata.labels[COMPLETION_INDEX] = String(index);
      pod.spec.hostname = `${name}-${index}`;
      // addCompletionIndexEnvVariables: JOB_COMPLETION_INDEX through the downward API.
      for (const c of [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])]) {
        if ((c.env ?? []).some((e: KObject) => e.name === "JOB_COMPLETION_INDEX")) continue;
        c.env = [
          ...(c.env ?? []),
          {
            name: "JOB_COMPLETION_INDEX",
            valueFrom: {
              fieldRef: {
                apiVersion: "v1",
                fieldPath: `metadata.annotations['${COMPLETION_INDEX}']`,
              },
            },
          },
        ];
      }
    }
    if (!Object.keys(pod.metadata.annotations).length) delete pod.metadata.annotations;
    return pod;
  }

  /** Delete pods in order; returns how many deletions went through (a prefix of `pods`). */
  private async deletePods(ctx: Ctx, job: KObject, pods: KObject[]): Promise<number> {
    let n = 0;
    for (const p of pods) {
      await deleteOwnedPod(ctx, job, p, COMPONENT);
      n++;
    }
    return n;
  }

  /** Remove the tracking finalizer; returns the uids now free of it (or gone). */
  private async dropFinalizers(ctx: Ctx, pods: KObject[]): Promise<Set<string>> {
    const done = new Set<string>();
    const s = strategy("", "pods");
    await Promise.all(
      pods.map(async (p) => {
        try {
          await update(ctx, s, p.metadata.namespace, p.metadata.name, (cur) => {
            if (cur.metadata.uid !== p.metadata.uid) return cur;
            const rest = (cur.metadata.finalizers ?? []).filter(
              (f: string) => f !== JOB_TRACKING_FINALIZER,
            );
            if (rest.length) cur.metadata.finalizers = rest;
            else delete cur.metadata.finalizers;
            return cur;
          });
          done.add(p.metadata.uid);
        } catch (err) {
          if (err instanceof ApiError && err.code === 404) done.add(p.metadata.uid);
          else console.error("job: dropping finalizer of", p.metadata.name, err);
        }
      }),
    );
    return done;
  }
}

const JOBS = () => strategy("batch", "jobs");

const failure = (reason: string, message: string): Finishing => ({
  type: "Failed",
  interim: "FailureTarget",
  reason,
  message,
});

const uncountedOf = (u: { succeeded: Set<string>; failed: Set<string> }) => {
  const out: KObject = {};
  if (u.succeeded.size) out.succeeded = [...u.succeeded];
  if (u.failed.size) out.failed = [...u.failed];
  return out;
};
