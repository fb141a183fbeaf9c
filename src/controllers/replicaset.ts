// The ReplicaSet controller (Kubernetes' pkg/controller/replicaset/replica_set.go), one Durable
// Object per ReplicaSet: claim the pods the selector matches, create or delete toward
// spec.replicas in slow-start batches, and always write the status the pods show.
import { ApiError } from "../k8s/errors.ts";
import { SelectorError, selectorFromLabelSelector, selectorFromSet } from "../k8s/labels.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Ctx, create, remove, update } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import { getObject, type Key, type KObject, listObjects, withRv } from "../store/objects.ts";
import { recordEvent } from "./events.ts";
import { availableAt, isActive, isPodAvailable, isPodReady } from "./pod-state.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";
import { claim } from "./replicaset-claim.ts";
import {
  Expectations,
  involved,
  podFromTemplate,
  podsToDelete,
  SLOW_START_INITIAL_BATCH,
  slowStartBatch,
} from "./replicaset-pods.ts";

const COMPONENT = "replicaset-controller";
/** Most pods one reconcile creates or deletes (burstReplicas, smaller: D1 writes are serial). */
export const BURST_REPLICAS = 100;
/** Next look when a reconcile left work undone (burst cap, expectations in flight). */
const AGAIN_MS = 200;

const strategy = (group: string, plural: string): Strategy => {
  const s = strategyFor(group, plural);
  if (!s) throw new Error(`no strategy for ${group}/${plural}`);
  return s;
};

/** Every pod in a namespace (the controller's "informer" is the store). */
export async function listPods(ctx: Ctx, namespace: string): Promise<KObject[]> {
  const { rows } = await listObjects(ctx.db, { resource: "pods", namespace });
  return rows.map((r) => withRv(r.body, r.rv));
}

/** The ReplicaSet status the pods show (calculateStatus); zero counts omitted as Go omits them. */
export function replicaSetStatus(
  rs: KObject,
  pods: KObject[],
  failure: { reason: string; message: string } | undefined,
  now: Date,
): KObject {
  const template = selectorFromSet(rs.spec?.template?.metadata?.labels ?? {});
  const minReady = rs.spec?.minReadySeconds ?? 0;
  let labeled = 0;
  let ready = 0;
  let available = 0;
  for (const p of pods) {
    if (template.matches(p.metadata?.labels ?? {})) labeled++;
    if (isPodReady(p)) {
      ready++;
      if (isPodAvailable(p, minReady, now.getTime())) available++;
    }
  }
  const s: KObject = { replicas: pods.length };
  if (labeled) s.fullyLabeledReplicas = labeled;
  if (ready) s.readyReplicas = ready;
  if (available) s.availableReplicas = available;
  if (rs.metadata?.generation) s.observedGeneration = rs.metadata.generation;
  const others = (rs.status?.conditions ?? []).filter((c: KObject) => c.type !== "ReplicaFailure");
  const had = (rs.status?.conditions ?? []).find((c: KObject) => c.type === "ReplicaFailure");
  if (failure && had) others.push(had);
  else if (failure)
    others.push({
      type: "ReplicaFailure",
      status: "True",
      lastTransitionTime: `${now.toISOString().slice(0, 19)}Z`,
      reason: failure.reason,
      message: failure.message,
    });
  if (others.length) s.conditions = others;
  return s;
}

const sameStatus = (a: KObject | undefined, b: KObject) =>
  JSON.stringify(a ?? {}) === JSON.stringify(b);

export class ReplicaSetController extends Reconciler {
  private expectations = new Expectations();
  private running: Promise<unknown> = Promise.resolve();

  /** Reconciles of this ReplicaSet run one at a time (an alarm and an RPC may overlap). */
  protected reconcile(ctx: Ctx, key: Key): Promise<Next> {
    const run = this.running.then(() => this.sync(ctx, key));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async sync(ctx: Ctx, key: Key): Promise<Next> {
    const found = await getObject(ctx.db, key);
    if (!found) {
      this.expectations.clear();
      return "gone";
    }
    const rs = found.object;
    const namespace = key.namespace;
    let selector: ReturnType<typeof selectorFromLabelSelector>;
    try {
      selector = selectorFromLabelSelector(rs.spec?.selector);
    } catch (err) {
      // Input no reconcile can fix: say so once and wait for the spec to change.
      if (!(err instanceof SelectorError)) throw err;
      await recordEvent(ctx, involved(rs), "Warning", "InvalidSelector", err.message, COMPONENT);
      return "resync";
    }
    const pods = strategy("", "pods");
    const candidates = (await listPods(ctx, namespace)).filter(isActive);
    let owned = await claim(ctx, pods, rs, selector, candidates, async () => {
      const fresh = await getObject(ctx.db, key);
      return (
        fresh?.object.metadata.uid === rs.metadata.uid && !fresh?.object.metadata.deletionTimestamp
      );
    });

    let failure: { reason: string; message: string; error: unknown } | undefined;
    let more = false;
    let changed = false;
    const mayManage = this.expectations.satisfied(ctx.now().getTime());
    if (mayManage && !rs.metadata.deletionTimestamp) {
      const r = await this.manageReplicas(ctx, pods, rs, owned);
      failure = r.failure;
      more = r.more;
      changed = r.changed;
    }
    if (changed) {
      // Count what this pass made: the status then says what the world holds now.
      const uid = rs.metadata.uid;
      owned = (await listPods(ctx, namespace)).filter(
        (p) =>
          isActive(p) &&
          (p.metadata.ownerReferences ?? []).some((r: KObject) => r.controller && r.uid === uid),
      );
    }

    const now = ctx.now();
    const status = replicaSetStatus(rs, owned, failure, now);
    if (!sameStatus(rs.status, status)) {
      try {
        await update(
          ctx,
          strategy("apps", "replicasets"),
          namespace,
          rs.metadata.name,
          (o) => {
            if (o.metadata.uid !== rs.metadata.uid) return o;
            o.status = status;
            return o;
          },
          { subresource: "status" },
        );
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
        return "gone";
      }
    }
    if (failure) throw failure.error;
    if (more || !mayManage) return soon(AGAIN_MS);
    return this.nextAvailability(rs, owned, now.getTime());
  }

  /** Keep an alarm for the moment the next ready pod has been ready for minReadySeconds. */
  private nextAvailability(rs: KObject, pods: KObject[], now: number): Next {
    const minReady = rs.spec?.minReadySeconds ?? 0;
    if (!minReady) return "resync";
    let earliest: number | undefined;
    for (const p of pods) {
      const at = availableAt(p, minReady);
      if (at === undefined || at < now) continue;
      earliest = earliest === undefined ? at : Math.min(earliest, at);
    }
    // Availability needs strictly more than minReadySeconds, on second-granular timestamps.
    return earliest === undefined ? "resync" : soon(earliest - now + 1000);
  }

  /** manageReplicas: one bounded step toward spec.replicas. */
  private async manageReplicas(ctx: Ctx, pods: Strategy, rs: KObject, owned: KObject[]) {
    const want: number = rs.spec?.replicas ?? 1;
    const diff = owned.length - want;
    const out: {
      more: boolean;
      changed: boolean;
      failure?: { reason: string; message: string; error: unknown };
    } = { more: Math.abs(diff) > BURST_REPLICAS, changed: false };
    if (diff < 0) {
      const n = Math.min(-diff, BURST_REPLICAS);
      this.expectations.expectCreations(n, ctx.now().getTime());
      const r = await slowStartBatch(n, SLOW_START_INITIAL_BATCH, async () => {
        try {
          await this.createPod(ctx, pods, rs);
        } finally {
          this.expectations.creationObserved();
        }
      });
      // Pods never attempted are not expected any more (the loop observed those it tried).
      for (let i = r.successes; i < n; i++) this.expectations.creationObserved();
      out.changed = r.successes > 0;
      if (r.error !== undefined) {
        const message = `Error creating: ${messageOf(r.error)}`;
        await recordEvent(ctx, involved(rs), "Warning", "FailedCreate", message, COMPONENT);
        out.failure = { reason: "FailedCreate", message, error: r.error };
      }
    } else if (diff > 0) {
      const victims = podsToDelete(owned, Math.min(diff, BURST_REPLICAS));
      this.expectations.expectDeletions(
        victims.map((p) => p.metadata.name),
        ctx.now().getTime(),
      );
      const results = await Promise.allSettled(
        victims.map(async (p) => {
          try {
            await this.deletePod(ctx, pods, rs, p);
          } finally {
            this.expectations.deletionObserved(p.metadata.name);
          }
        }),
      );
      out.changed = true;
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) {
        const message = `Error deleting: ${messageOf(failed.reason)}`;
        out.failure = { reason: "FailedDelete", message, error: failed.reason };
      }
    }
    return out;
  }

  private async createPod(ctx: Ctx, pods: Strategy, rs: KObject) {
    const pod = podFromTemplate(rs.spec?.template ?? {}, rs);
    try {
      const { object } = await create(ctx, pods, rs.metadata.namespace, pod);
      await recordEvent(
        ctx,
        involved(rs),
        "Normal",
        "SuccessfulCreate",
        `Created pod: ${object.metadata.name}`,
        COMPONENT,
      );
    } catch (err) {
      // A namespace being deleted refuses every create: nothing to retry (NamespaceTerminatingCause).
      if (err instanceof ApiError && err.code === 403 && /being terminated/.test(err.message))
        return;
      throw err;
    }
  }

  private async deletePod(ctx: Ctx, pods: Strategy, rs: KObject, pod: KObject) {
    try {
      await remove(ctx, pods, rs.metadata.namespace, pod.metadata.name, {
        preconditions: { uid: pod.metadata.uid },
      });
    } catch (err) {
      if (err instanceof ApiError && (err.code === 404 || err.code === 409)) return;
      await recordEvent(
        ctx,
        involved(rs),
        "Warning",
        "FailedDelete",
        `Error deleting: ${messageOf(err)}`,
        COMPONENT,
      );
      throw err;
    }
    await recordEvent(
      ctx,
      involved(rs),
      "Normal",
      "SuccessfulDelete",
      `Deleted pod: ${pod.metadata.name}`,
      COMPONENT,
    );
  }
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
