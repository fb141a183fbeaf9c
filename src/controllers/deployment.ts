// The Deployment controller (Kubernetes' pkg/controller/deployment), one Durable Object per
// Deployment: it owns ReplicaSets named <deployment>-<pod-template-hash>, rolls from old to new
// within maxSurge/maxUnavailable (or Recreate), keeps revisions and history, and reports the
// Available and Progressing conditions kubectl rollout status reads.
import { ApiError } from "../k8s/errors.ts";
import { SelectorError, selectorFromLabelSelector } from "../k8s/labels.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Ctx, timestamp, update } from "../resources/rest.ts";
import { semanticEqual } from "../resources/workload.ts";
import { getObject, type Key, type KObject, listObjects, withRv } from "../store/objects.ts";
import {
  COMPONENT,
  cleanupDeployment,
  getNewReplicaSet,
  isScalingEvent,
  oldPodsRunning,
  type Pass,
  Requeue,
  reconcileNewReplicaSet,
  reconcileOldReplicaSets,
  rsStrategy,
  scale,
  scaleTo,
} from "./deployment-rollout.ts";
import {
  calculateStatus,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  findNewReplicaSet,
  getCondition,
  hasProgressDeadline,
  msToDeadline,
  NEW_RS_AVAILABLE,
  newCondition,
  PAUSED,
  PROGRESSING,
  REPLICA_FAILURE,
  RESUMED,
  REVISION,
  RS_UPDATED,
  removeCondition,
  replicas,
  setCondition,
  TIMED_OUT,
} from "./deployment-util.ts";
import { recordEvent } from "./events.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";
import { listPods } from "./replicaset.ts";
import { claim } from "./replicaset-claim.ts";
import { involved } from "./replicaset-pods.ts";

/** How often a rollout in progress is looked at even when nothing pokes the deployment. */
const ROLLOUT_POLL_MS = 5000;

export class DeploymentController extends Reconciler {
  private running: Promise<unknown> = Promise.resolve();

  /** Reconciles of this Deployment run one at a time (an alarm and an RPC may overlap). */
  protected reconcile(ctx: Ctx, key: Key): Promise<Next> {
    const run = this.running.then(() => syncDeployment(ctx, key));
    this.running = run.catch(() => undefined);
    return run;
  }
}

/** syncDeployment: one reconcile of the deployment at `key`. */
export async function syncDeployment(ctx: Ctx, key: Key): Promise<Next> {
  const found = await getObject(ctx.db, key);
  if (!found) return "gone";
  const stored = found.object;
  const d = structuredClone(stored);
  d.status ??= {};
  const now = ctx.now().getTime();
  let selector: ReturnType<typeof selectorFromLabelSelector>;
  try {
    selector = selectorFromLabelSelector(d.spec?.selector);
  } catch (err) {
    if (!(err instanceof SelectorError)) throw err;
    await recordEvent(ctx, involved(stored), "Warning", "InvalidSelector", err.message, COMPONENT);
    return "resync";
  }
  const p: Pass = { ctx, d, stored, rsList: [], podMap: new Map(), now };
  if (selector.empty()) {
    await recordEvent(
      ctx,
      involved(stored),
      "Warning",
      "SelectingAll",
      "This deployment is selecting all pods. A non-empty selector is required.",
      COMPONENT,
    );
    if ((d.status.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
      d.status.observedGeneration = d.metadata.generation;
      await writeStatus(p, d.status);
    }
    return "resync";
  }

  const { rows } = await listObjects(ctx.db, {
    resource: "apps/replicasets",
    namespace: key.namespace,
  });
  const candidates = rows.map((r) => withRv(r.body, r.rv));
  p.rsList = await claim(ctx, rsStrategy(), d, selector, candidates, async () => {
    const fresh = await getObject(ctx.db, key);
    return (
      fresh?.object.metadata.uid === d.metadata.uid && !fresh?.object.metadata.deletionTimestamp
    );
  });
  const uids = new Set(p.rsList.map((rs) => rs.metadata.uid));
  for (const pod of await listPods(ctx, key.namespace)) {
    const ref = (pod.metadata.ownerReferences ?? []).find((r: KObject) => r.controller);
    if (!ref || !uids.has(ref.uid)) continue;
    p.podMap.set(ref.uid, [...(p.podMap.get(ref.uid) ?? []), pod]);
  }

  try {
    return await rollout(p);
  } catch (err) {
    if (!(err instanceof Requeue)) throw err;
    // Record what the pass learnt (a collision count, a failure condition), then come back.
    await writeStatus(p, { ...p.stored.status, ...pickRequeueStatus(p.d.status) });
    return soon(err.ms);
  }
}

const pickRequeueStatus = (s: KObject): KObject => {
  const out: KObject = {};
  if (s.collisionCount !== undefined) out.collisionCount = s.collisionCount;
  if (s.conditions !== undefined) out.conditions = s.conditions;
  return out;
};

async function rollout(p: Pass): Promise<Next> {
  const d = p.d;
  const split = () => {
    const newRS = findNewReplicaSet(d, p.rsList);
    return { newRS, oldRSs: p.rsList.filter((rs) => rs !== newRS) };
  };
  if (d.metadata.deletionTimestamp) {
    const { oldRSs } = split();
    const newRS = await getNewReplicaSet(p, oldRSs, false);
    return syncDeploymentStatus(p, [...oldRSs, newRS], newRS);
  }
  checkPausedConditions(d, timestamp(new Date(p.now)));
  const { oldRSs } = split();
  let newRS = await getNewReplicaSet(p, oldRSs, false);
  if (d.spec?.paused || isScalingEvent(d, newRS, oldRSs)) {
    await scale(p, newRS, oldRSs);
    if (d.spec?.paused) await cleanupDeployment(p, oldRSs);
    return syncDeploymentStatus(p, [...oldRSs, newRS], newRS);
  }
  if (d.spec?.strategy?.type === "Recreate") {
    // Never scale up before every old pod is gone.
    let scaledDown = false;
    for (const rs of oldRSs) if (await scaleTo(p, rs, 0)) scaledDown = true;
    if (scaledDown || oldPodsRunning(p, newRS, oldRSs))
      return syncRolloutStatus(p, [...oldRSs, newRS], newRS);
    newRS ??= await getNewReplicaSet(p, oldRSs, true);
    if (!newRS) throw new Error("new replica set missing after create");
    await scaleTo(p, newRS, replicas(d));
    if (deploymentComplete(d, d.status)) await cleanupDeployment(p, oldRSs);
    return syncRolloutStatus(p, [...oldRSs, newRS], newRS);
  }
  newRS ??= await getNewReplicaSet(p, oldRSs, true);
  if (!newRS) throw new Error("new replica set missing after create");
  const allRSs = [...oldRSs, newRS];
  if (await reconcileNewReplicaSet(p, allRSs, newRS)) return syncRolloutStatus(p, allRSs, newRS);
  const activeOld = oldRSs.filter((rs) => replicas(rs) > 0);
  if (await reconcileOldReplicaSets(p, allRSs, activeOld, newRS))
    return syncRolloutStatus(p, allRSs, newRS);
  if (deploymentComplete(d, d.status)) await cleanupDeployment(p, oldRSs);
  return syncRolloutStatus(p, allRSs, newRS);
}

/** checkPausedConditions: Progressing=Unknown while paused, so a pause never times out. */
function checkPausedConditions(d: KObject, at: string) {
  if (!hasProgressDeadline(d)) return;
  const c = getCondition(d.status, PROGRESSING);
  if (c?.reason === TIMED_OUT) return;
  const pausedNoted = c?.reason === PAUSED;
  if (d.spec?.paused && !pausedNoted)
    setCondition(
      d.status,
      newCondition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", at),
    );
  else if (!d.spec?.paused && pausedNoted)
    setCondition(
      d.status,
      newCondition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", at),
    );
}

const present = (list: (KObject | undefined)[]) => list.filter((x): x is KObject => !!x);

/** syncDeploymentStatus: counts and Available only (scaling, paused, being deleted). */
async function syncDeploymentStatus(
  p: Pass,
  all: (KObject | undefined)[],
  newRS: KObject | undefined,
): Promise<Next> {
  const status = calculateStatus(present(all), newRS, p.d, timestamp(new Date(p.now)));
  await writeStatus(p, status);
  return deploymentComplete(p.d, status) || p.d.spec?.paused ? "resync" : soon(ROLLOUT_POLL_MS);
}

/** syncRolloutStatus: counts, Available, and how the rollout progresses (or timed out). */
async function syncRolloutStatus(
  p: Pass,
  all: (KObject | undefined)[],
  newRS: KObject | undefined,
): Promise<Next> {
  const d = p.d;
  const allRSs = present(all);
  const at = timestamp(new Date(p.now));
  const s = calculateStatus(allRSs, newRS, d, at);
  if (!hasProgressDeadline(d)) removeCondition(s, PROGRESSING);
  const current = getCondition(d.status, PROGRESSING);
  const finished =
    (s.replicas ?? 0) === (s.updatedReplicas ?? 0) && current?.reason === NEW_RS_AVAILABLE;
  if (hasProgressDeadline(d) && !finished) {
    const rsName = newRS?.metadata.name;
    if (deploymentComplete(d, s)) {
      const msg = rsName
        ? `ReplicaSet "${rsName}" has successfully progressed.`
        : `Deployment "${d.metadata.name}" has successfully progressed.`;
      setCondition(s, newCondition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg, at));
    } else if (deploymentProgressing(d, s)) {
      const msg = rsName
        ? `ReplicaSet "${rsName}" is progressing.`
        : `Deployment "${d.metadata.name}" is progressing.`;
      const c = newCondition(PROGRESSING, "True", RS_UPDATED, msg, at);
      if (current?.status === "True") c.lastTransitionTime = current.lastTransitionTime;
      removeCondition(s, PROGRESSING);
      setCondition(s, c);
    } else if (deploymentTimedOut(d, s, p.now)) {
      const msg = rsName
        ? `ReplicaSet "${rsName}" has timed out progressing.`
        : `Deployment "${d.metadata.name}" has timed out progressing.`;
      setCondition(s, newCondition(PROGRESSING, "False", TIMED_OUT, msg, at));
    }
  }
  const failure = replicaFailure(allRSs, newRS);
  if (failure) setCondition(s, failure);
  else removeCondition(s, REPLICA_FAILURE);
  await writeStatus(p, s);
  if (deploymentComplete(d, s)) return "resync";
  const left = msToDeadline(d, s, p.now);
  if (left === undefined)
    return getCondition(s, PROGRESSING)?.reason === TIMED_OUT ? "resync" : soon(ROLLOUT_POLL_MS);
  // Look again when the deadline passes, or sooner (a second late, against clock skew).
  return soon(Math.min(ROLLOUT_POLL_MS, Math.max(1000, left + 1000)));
}

/** getReplicaFailures: the new RS's ReplicaFailure, else any old one's, as a Deployment condition. */
function replicaFailure(allRSs: KObject[], newRS: KObject | undefined) {
  const from = (rs: KObject | undefined) =>
    (rs?.status?.conditions ?? []).find((c: KObject) => c.type === REPLICA_FAILURE);
  const c = from(newRS) ?? allRSs.map(from).find(Boolean);
  if (!c) return undefined;
  return {
    type: REPLICA_FAILURE,
    status: c.status,
    lastUpdateTime: c.lastTransitionTime,
    lastTransitionTime: c.lastTransitionTime,
    reason: c.reason,
    message: c.message,
  };
}

/** Write the status (and the revision annotation) when they differ from what the store holds. */
async function writeStatus(p: Pass, status: KObject): Promise<void> {
  const revision = p.d.metadata.annotations?.[REVISION];
  const sameRevision = revision === p.stored.metadata.annotations?.[REVISION];
  if (sameRevision && semanticEqual(p.stored.status ?? {}, status)) return;
  const s = strategyFor("apps", "deployments");
  if (!s) throw new Error("no strategy for deployments");
  try {
    const { object } = await update(
      p.ctx,
      s,
      p.stored.metadata.namespace,
      p.stored.metadata.name,
      (o) => {
        if (o.metadata.uid !== p.stored.metadata.uid) return o;
        o.status = status;
        if (revision !== undefined)
          o.metadata.annotations = { ...o.metadata.annotations, [REVISION]: revision };
        return o;
      },
      { subresource: "status" },
    );
    p.stored = object;
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 404)) throw err;
  }
}
