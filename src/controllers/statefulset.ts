// The StatefulSet controller (Kubernetes' pkg/controller/statefulset): pods <name>-<ordinal>
// with a stable hostname (and subdomain = serviceName) and their own PersistentVolumeClaims
// <claim>-<name>-<ordinal>, which outlive the pods. OrderedReady creates in ordinal order, each
// pod waiting for the one before to be Running and Ready, and removes from the highest;
// Parallel does it all at once. RollingUpdate replaces pods from the highest ordinal down to
// the partition, one at a time. Templates are kept as ControllerRevisions "<name>-<hash>"
// (history.ts): status.currentRevision and updateRevision name them, a pod's
// controller-revision-hash label says which it was made from, and a pod below the partition is
// recreated from the current revision's template.
import { ApiError } from "../k8s/errors.ts";
import { type Ctx, create, get, remove } from "../resources/rest.ts";
import { getObject, type Key, type KObject, listObjects, withRv } from "../store/objects.ts";
import {
  currentRevision,
  deleteRevisions,
  listRevisions,
  REVISION_HASH,
  templateOf,
} from "./history.ts";
import {
  controllerRefTo,
  deletePod,
  event,
  ignoreGone,
  isConflict,
  ownedBy,
  SerialReconciler,
  strategy,
  writeStatus,
} from "./job.ts";
import { isPodAvailable, isPodReady } from "./pod-state.ts";
import { type Next, soon } from "./reconciler.ts";

export const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";
export const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";
const COMPONENT = "statefulset-controller";

const ordinalOf = (set: KObject, pod: KObject): number | undefined => {
  const m = /^(.*)-(\d+)$/.exec(pod.metadata.name);
  return m && m[1] === set.metadata.name ? Number(m[2]) : undefined;
};

const revisionOf = (pod: KObject): string | undefined => pod.metadata.labels?.[REVISION_HASH];
const terminating = (pod: KObject) => !!pod.metadata.deletionTimestamp;
const finished = (pod: KObject) =>
  pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded";

/** isRunningAndReady. */
const runningAndReady = (pod: KObject) => pod.status?.phase === "Running" && isPodReady(pod);

/** getPersistentVolumeClaimName. */
export const claimName = (set: KObject, claim: string, ordinal: number) =>
  `${claim}-${set.metadata.name}-${ordinal}`;

/** One step toward the desired pods; `wait` means a pod must settle first. */
type Step = "acted" | "wait" | "idle";

export class StatefulSetController extends SerialReconciler {
  protected async sync(ctx: Ctx, key: Key, now: Date): Promise<Next> {
    const found = await getObject(ctx.db, key);
    if (!found) return "gone";
    const set = found.object;
    if (set.metadata.deletionTimestamp) return "resync";
    try {
      return await this.syncSet(ctx, set, now);
    } catch (err) {
      if (isConflict(err)) return soon(100);
      throw err;
    }
  }

  /** getStatefulSetRevisions: the update revision (the spec's template) and the current one. */
  private async revisions(ctx: Ctx, set: KObject) {
    const template = set.spec?.template ?? {};
    const history = await listRevisions(ctx, set);
    const made = await currentRevision(ctx, set, history, template, set.status?.collisionCount);
    const update: string = made.revision.metadata.name;
    const currentName: string = set.status?.currentRevision ?? update;
    const current = history.find((r) => r.metadata.name === currentName);
    // A current revision that is gone (or never was) is the update revision.
    const currentTemplate = current ? templateOf(current) : template;
    return {
      update,
      current: current ? currentName : update,
      collisionCount: made.collisionCount,
      history,
      templateOf: (rev: string) => (rev === update ? template : currentTemplate),
    };
  }

  /** truncateHistory: beyond revisionHistoryLimit, the oldest revisions nothing uses go. */
  private async truncateHistory(
    ctx: Ctx,
    set: KObject,
    pods: KObject[],
    rev: { update: string; current: string; history: KObject[] },
  ) {
    const live = new Set([rev.update, rev.current, ...pods.map(revisionOf)]);
    const old = rev.history.filter((r) => !live.has(r.metadata.name));
    const excess = old.length - (set.spec?.revisionHistoryLimit ?? 10);
    if (excess > 0) await deleteRevisions(ctx, old.slice(0, excess));
  }

  private async syncSet(ctx: Ctx, set: KObject, now: Date): Promise<Next> {
    const spec = set.spec ?? {};
    const replicas: number = spec.replicas ?? 1;
    const start: number = spec.ordinals?.start ?? 0;
    const end = start + replicas;
    const monotonic = spec.podManagementPolicy !== "Parallel";
    const minReady: number = spec.minReadySeconds ?? 0;
    const rev = await this.revisions(ctx, set);
    const pods = await ownedBy(ctx, "pods", set.metadata.namespace, set.metadata.uid);
    const slots = new Map<number, KObject>();
    const condemned: KObject[] = [];
    for (const p of pods) {
      const ord = ordinalOf(set, p);
      if (ord !== undefined && ord >= start && ord < end && !slots.has(ord)) slots.set(ord, p);
      else condemned.push(p);
    }
    condemned.sort((a, b) => (ordinalOf(set, b) ?? -1) - (ordinalOf(set, a) ?? -1));
    const healthy = (p: KObject) =>
      runningAndReady(p) && !terminating(p) && isPodAvailable(p, minReady, now.getTime());
    const ordered = [
      ...[...slots.keys()].sort((a, b) => a - b).map((o) => slots.get(o) as KObject),
    ];
    const firstUnhealthy = [...ordered, ...condemned].find((p) => !healthy(p));

    let step = await this.scale(ctx, set, {
      slots,
      condemned,
      start,
      end,
      monotonic,
      rev,
      healthy,
      firstUnhealthy,
    });
    if (step === "idle" && spec.updateStrategy?.type !== "OnDelete")
      step = await this.rollingUpdate(ctx, set, { slots, start, end, rev, healthy });
    if (step === "idle") await this.dropScaledClaims(ctx, set, end);
    await this.truncateHistory(ctx, set, pods, rev);
    await this.updateStatus(ctx, set, pods, rev, now);
    if (step === "acted") return soon(200);
    // Waiting on a pod: its changes poke this object; availability after minReadySeconds does not.
    return minReady ? soon(Math.min(minReady * 1000, 60_000)) : "resync";
  }

  /** Create missing and recreate finished pods in order, then remove the condemned from the top. */
  private async scale(
    ctx: Ctx,
    set: KObject,
    o: {
      slots: Map<number, KObject>;
      condemned: KObject[];
      start: number;
      end: number;
      monotonic: boolean;
      rev: Awaited<ReturnType<StatefulSetController["revisions"]>>;
      healthy: (p: KObject) => boolean;
      firstUnhealthy: KObject | undefined;
    },
  ): Promise<Step> {
    let acted = false;
    const partition = this.partition(set);
    for (let ord = o.start; ord < o.end; ord++) {
      const pod = o.slots.get(ord);
      if (pod && finished(pod) && !terminating(pod)) {
        await this.deleteOne(ctx, set, pod);
        if (o.monotonic) return "acted";
        acted = true;
        continue;
      }
      if (!pod) {
        const revision = ord < o.start + partition ? o.rev.current : o.rev.update;
        const made = await this.createOne(ctx, set, ord, revision, o.rev.templateOf(revision));
        if (!made) return "wait";
        if (o.monotonic) return "acted";
        acted = true;
        continue;
      }
      if (o.monotonic && !o.healthy(pod)) return acted ? "acted" : "wait";
    }
    for (const pod of o.condemned) {
      if (terminating(pod)) {
        if (o.monotonic) return acted ? "acted" : "wait";
        continue;
      }
      // Only the first unhealthy pod may go while others are unhealthy (OrderedReady).
      if (o.monotonic && !o.healthy(pod) && pod !== o.firstUnhealthy)
        return acted ? "acted" : "wait";
      await this.deleteOne(ctx, set, pod);
      if (o.monotonic) return "acted";
      acted = true;
    }
    return acted ? "acted" : "idle";
  }

  private partition(set: KObject): number {
    const us = set.spec?.updateStrategy ?? {};
    return us.type === "RollingUpdate" ? (us.rollingUpdate?.partition ?? 0) : 0;
  }

  /** Replace the highest-ordinal pod of an older revision, down to the partition, one at a time. */
  private async rollingUpdate(
    ctx: Ctx,
    set: KObject,
    o: {
      slots: Map<number, KObject>;
      start: number;
      end: number;
      rev: { update: string };
      healthy: (p: KObject) => boolean;
    },
  ): Promise<Step> {
    const floor = o.start + this.partition(set);
    for (let ord = o.end - 1; ord >= floor; ord--) {
      const pod = o.slots.get(ord);
      if (!pod) return "wait";
      if (revisionOf(pod) !== o.rev.update && !terminating(pod)) {
        await this.deleteOne(ctx, set, pod);
        return "acted";
      }
      if (!o.healthy(pod)) return "wait";
    }
    return "idle";
  }

  private async createOne(
    ctx: Ctx,
    set: KObject,
    ordinal: number,
    revision: string,
    template: KObject,
  ): Promise<boolean> {
    const name = `${set.metadata.name}-${ordinal}`;
    if (!(await this.ensureClaims(ctx, set, ordinal))) return false;
    try {
      await create(
        ctx,
        strategy("", "pods"),
        set.metadata.namespace,
        this.podFor(set, ordinal, revision, template),
      );
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      await event(
        ctx,
        set,
        "Warning",
        "FailedCreate",
        `create Pod ${name} in StatefulSet ${set.metadata.name} failed error: ${err.message}`,
        COMPONENT,
      );
      // A pod of that name that is not ours, or a namespace going away: nothing to do now.
      if (err.code === 409 || err.code === 403) return false;
      throw err;
    }
    await event(
      ctx,
      set,
      "Normal",
      "SuccessfulCreate",
      `create Pod ${name} in StatefulSet ${set.metadata.name} successful`,
      COMPONENT,
    );
    return true;
  }

  private async deleteOne(ctx: Ctx, set: KObject, pod: KObject) {
    await deletePod(ctx, pod);
    await event(
      ctx,
      set,
      "Normal",
      "SuccessfulDelete",
      `delete Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} successful`,
      COMPONENT,
    );
  }

  /** createPersistentVolumeClaims: true once every claim of the ordinal exists (and stays). */
  private async ensureClaims(ctx: Ctx, set: KObject, ordinal: number): Promise<boolean> {
    const pvcs = strategy("", "persistentvolumeclaims");
    const ns = set.metadata.namespace;
    const retention = set.spec?.persistentVolumeClaimRetentionPolicy ?? {};
    for (const claim of set.spec?.volumeClaimTemplates ?? []) {
      const name = claimName(set, claim.metadata?.name ?? "", ordinal);
      try {
        const { object } = await get(ctx, pvcs, ns, name);
        if (object.metadata.deletionTimestamp) return false;
        continue;
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
      const labels = { ...claim.metadata?.labels, ...set.spec?.selector?.matchLabels };
      const body: KObject = {
        metadata: {
          name,
          labels,
          ...(claim.metadata?.annotations && { annotations: claim.metadata.annotations }),
          // whenDeleted: Delete — the claim goes with the StatefulSet (garbage collection).
          ...(retention.whenDeleted === "Delete" && {
            ownerReferences: [{ ...controllerRefTo(set), controller: false }],
          }),
        },
        spec: structuredClone(claim.spec ?? {}),
      };
      try {
        await create(ctx, pvcs, ns, body);
        await event(
          ctx,
          set,
          "Normal",
          "SuccessfulCreate",
          `create Claim ${name} Pod ${set.metadata.name}-${ordinal} in StatefulSet ${set.metadata.name} success`,
          COMPONENT,
        );
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 409)) throw err;
      }
    }
    return true;
  }

  /** whenScaled: Delete — claims of ordinals scaled away go once their pod has. */
  private async dropScaledClaims(ctx: Ctx, set: KObject, end: number) {
    if (set.spec?.persistentVolumeClaimRetentionPolicy?.whenScaled !== "Delete") return;
    const templates: string[] = (set.spec?.volumeClaimTemplates ?? []).map(
      (c: KObject) => c.metadata?.name ?? "",
    );
    if (!templates.length) return;
    const { rows } = await listObjects(ctx.db, {
      resource: "persistentvolumeclaims",
      namespace: set.metadata.namespace,
    });
    for (const row of rows) {
      for (const t of templates) {
        const m = new RegExp(`^${reEscape(t)}-${reEscape(set.metadata.name)}-(\\d+)$`).exec(
          row.name,
        );
        if (!m || Number(m[1]) < end) continue;
        const pvc = withRv(row.body, row.rv);
        if (pvc.metadata.deletionTimestamp) continue;
        await ignoreGone(
          remove(ctx, strategy("", "persistentvolumeclaims"), set.metadata.namespace, row.name, {
            preconditions: { uid: pvc.metadata.uid },
          }),
        );
      }
    }
  }

  /** newStatefulSetPod with its identity (name, hostname, subdomain) and storage. */
  private podFor(set: KObject, ordinal: number, revision: string, template: KObject): KObject {
    const t = structuredClone(template);
    const meta = t.metadata ?? {};
    const spec: KObject = t.spec ?? {};
    const name = `${set.metadata.name}-${ordinal}`;
    const claims: KObject[] = set.spec?.volumeClaimTemplates ?? [];
    const claimed = new Set(claims.map((c) => c.metadata?.name));
    spec.volumes = [
      ...(spec.volumes ?? []).filter((v: KObject) => !claimed.has(v.name)),
      ...claims.map((c) => ({
        name: c.metadata?.name,
        persistentVolumeClaim: { claimName: claimName(set, c.metadata?.name ?? "", ordinal) },
      })),
    ];
    if (!spec.volumes.length) delete spec.volumes;
    spec.hostname = name;
    if (set.spec?.serviceName) spec.subdomain = set.spec.serviceName;
    return {
      metadata: {
        name,
        labels: {
          ...meta.labels,
          [POD_NAME_LABEL]: name,
          [POD_INDEX_LABEL]: String(ordinal),
          [REVISION_HASH]: revision,
        },
        ...(meta.annotations && { annotations: meta.annotations }),
        ...(meta.finalizers && { finalizers: meta.finalizers }),
        ownerReferences: [controllerRefTo(set)],
      },
      spec,
    };
  }

  private async updateStatus(
    ctx: Ctx,
    set: KObject,
    pods: KObject[],
    rev: { update: string; current: string; collisionCount: number },
    now: Date,
  ) {
    const minReady: number = set.spec?.minReadySeconds ?? 0;
    let replicas = 0;
    let ready = 0;
    let available = 0;
    let current = 0;
    let updated = 0;
    for (const p of pods) {
      if (p.status?.phase) replicas++;
      if (runningAndReady(p)) {
        ready++;
        if (isPodAvailable(p, minReady, now.getTime())) available++;
      }
      if (p.status?.phase && !terminating(p)) {
        if (revisionOf(p) === rev.current) current++;
        if (revisionOf(p) === rev.update) updated++;
      }
    }
    let currentRevision = rev.current;
    // completeRollingUpdate: every desired pod exists, runs the update revision and is ready.
    const desired = set.spec?.replicas ?? 1;
    if (
      set.spec?.updateStrategy?.type === "RollingUpdate" &&
      updated === desired &&
      ready === desired &&
      replicas === desired
    ) {
      currentRevision = rev.update;
      current = updated;
    }
    const status: KObject = {
      ...set.status,
      observedGeneration: set.metadata.generation,
      replicas,
      availableReplicas: available,
      currentRevision,
      updateRevision: rev.update,
      collisionCount: rev.collisionCount,
    };
    const optional: [string, number][] = [
      ["readyReplicas", ready],
      ["currentReplicas", current],
      ["updatedReplicas", updated],
    ];
    for (const [k, v] of optional) {
      if (v) status[k] = v;
      else delete status[k];
    }
    if (JSON.stringify(status) !== JSON.stringify(set.status ?? {}))
      await writeStatus(ctx, strategy("apps", "statefulsets"), set, status);
  }
}

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
