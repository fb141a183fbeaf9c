// The steps of one Deployment reconcile, after Kubernetes' pkg/controller/deployment (sync.go,
// rolling.go, recreate.go): find or create the new ReplicaSet, size the ReplicaSets one bounded
// step toward the template, clean up history.
//
// One deliberate difference: where Kubernetes sizes a rollout from the ReplicaSets' spec and
// status alone (so a lagging ReplicaSet controller can briefly let pods exceed maxSurge or
// availability drop under maxUnavailable), this counts the pods themselves too — an RS
// occupies max(spec, live pods) and offers min(spec, available pods) — so the bounds hold at
// every moment, not only once the ReplicaSets caught up.

import { ApiError } from "../k8s/errors.ts";
import { scaledValue } from "../k8s/intstr.ts";
import { controllerRef, newControllerRef } from "../k8s/owner-refs.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Ctx, create, get, remove, timestamp, update } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import type { KObject } from "../store/objects.ts";
import {
  active,
  byCreation,
  byRevision,
  desiredAnnotation,
  equalIgnoreHash,
  FAILED_RS_CREATE,
  FOUND_NEW_RS,
  findActiveOrLatest,
  findNewReplicaSet,
  getCondition,
  hasProgressDeadline,
  isRollingUpdate,
  isSaturated,
  maxRevision,
  maxSurge,
  maxUnavailable,
  NEW_RS_CREATED,
  newCondition,
  POD_TEMPLATE_HASH,
  PROGRESSING,
  proportion,
  REVISION,
  replicas,
  replicasAnnotationsNeedUpdate,
  setCondition,
  setDeploymentRevision,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
} from "./deployment-util.ts";
import { recordEvent } from "./events.ts";
import { isActive, isPodAvailable } from "./pod-state.ts";
import { involved } from "./replicaset-pods.ts";
import { computeHash } from "./template-hash.ts";

export const COMPONENT = "deployment-controller";

/** What one reconcile of a Deployment works with. */
export interface Pass {
  ctx: Ctx;
  /** The deployment as this pass wants it: status and revision annotation change as it goes. */
  d: KObject;
  /** The deployment as read (its status is what the store holds). */
  stored: KObject;
  /** The ReplicaSets this deployment controls. */
  rsList: KObject[];
  /** Pods by the uid of the ReplicaSet controlling them (those being deleted too). */
  podMap: Map<string, KObject[]>;
  now: number;
}

/** Stop this pass and look again after `ms` (a hash collision was recorded, say). */
export class Requeue extends Error {
  readonly ms: number;
  constructor(ms: number, message: string) {
    super(message);
    this.ms = ms;
  }
}

export const rsStrategy = (): Strategy => {
  const s = strategyFor("apps", "replicasets");
  if (!s) throw new Error("no strategy for replicasets");
  return s;
};

const podsOf = (p: Pass, rs: KObject) => p.podMap.get(rs.metadata.uid) ?? [];

/** How many pods an RS may run: its spec, or more while the extra ones still live. */
const occupied = (p: Pass, rs: KObject) =>
  Math.max(replicas(rs), podsOf(p, rs).filter(isActive).length);

/** How many available pods an RS keeps: the available ones it has, at most its spec. */
export const availableOf = (p: Pass, rs: KObject) =>
  Math.min(
    replicas(rs),
    podsOf(p, rs).filter(
      (pod) => isActive(pod) && isPodAvailable(pod, rs.spec?.minReadySeconds ?? 0, p.now),
    ).length,
  );

const sum = (list: KObject[], f: (rs: KObject) => number) => list.reduce((n, rs) => n + f(rs), 0);

const event = (p: Pass, type: "Normal" | "Warning", reason: string, message: string) =>
  recordEvent(p.ctx, involved(p.stored), type, reason, message, COMPONENT);

// ---------------------------------------------------------------------------
// The new ReplicaSet

/** NewRSNewReplicas: how big the new RS may be now. */
export function newRSNewReplicas(p: Pass, allRSs: KObject[], newRS: KObject): number {
  const d = p.d;
  if (!isRollingUpdate(d)) return replicas(d);
  const surge = scaledValue(d.spec?.strategy?.rollingUpdate?.maxSurge ?? 0, replicas(d), true);
  const current = sum(allRSs, (rs) => occupied(p, rs));
  const maxTotal = replicas(d) + surge;
  if (current >= maxTotal) return replicas(newRS);
  return replicas(newRS) + Math.min(maxTotal - current, replicas(d) - replicas(newRS));
}

/**
 * getNewReplicaSet: the RS whose template is the deployment's, its annotations and revision
 * brought up to date (a rollback raises an old RS's revision), or a new one when `create`.
 */
export async function getNewReplicaSet(
  p: Pass,
  oldRSs: KObject[],
  create: boolean,
): Promise<KObject | undefined> {
  const d = p.d;
  const existing = findNewReplicaSet(d, p.rsList);
  const newRevision = maxRevision(oldRSs) + 1;
  if (existing) {
    const copy = structuredClone(existing);
    const annotated = setNewReplicaSetAnnotations(d, copy, newRevision, true);
    const minReady = d.spec?.minReadySeconds ?? 0;
    if (annotated || (copy.spec?.minReadySeconds ?? 0) !== minReady) {
      const { object } = await update(
        p.ctx,
        rsStrategy(),
        existing.metadata.namespace,
        existing.metadata.name,
        (o) => {
          o.metadata.uid = existing.metadata.uid;
          setNewReplicaSetAnnotations(d, o, newRevision, true);
          if (minReady) o.spec.minReadySeconds = minReady;
          else delete o.spec.minReadySeconds;
          return o;
        },
      );
      Object.assign(existing, object);
    }
    setDeploymentRevision(d, existing.metadata.annotations?.[REVISION]);
    if (hasProgressDeadline(d) && !getCondition(d.status, PROGRESSING))
      setCondition(
        d.status,
        newCondition(
          PROGRESSING,
          "True",
          FOUND_NEW_RS,
          `Found new replica set "${existing.metadata.name}"`,
          timestamp(new Date(p.now)),
        ),
      );
    return existing;
  }
  if (!create) return undefined;
  return createNewReplicaSet(p, oldRSs, newRevision);
}

async function createNewReplicaSet(p: Pass, oldRSs: KObject[], newRevision: number) {
  const d = p.d;
  const template = structuredClone(d.spec.template);
  const hash = computeHash(template, d.status?.collisionCount);
  template.metadata ??= {};
  template.metadata.labels = { ...template.metadata.labels, [POD_TEMPLATE_HASH]: hash };
  const selector = structuredClone(d.spec.selector);
  selector.matchLabels = { ...selector.matchLabels, [POD_TEMPLATE_HASH]: hash };
  const spec: KObject = { replicas: 0, selector, template };
  if (d.spec.minReadySeconds) spec.minReadySeconds = d.spec.minReadySeconds;
  const rs: KObject = {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name: `${d.metadata.name}-${hash}`,
      namespace: d.metadata.namespace,
      labels: { ...template.metadata.labels },
      ownerReferences: [
        newControllerRef({
          apiVersion: d.apiVersion,
          kind: d.kind,
          metadata: { name: d.metadata.name, uid: d.metadata.uid },
        }),
      ],
    },
    spec,
  };
  rs.spec.replicas = newRSNewReplicas(p, [...oldRSs, rs], rs);
  setNewReplicaSetAnnotations(d, rs, newRevision, false);
  const now = timestamp(new Date(p.now));
  let made: KObject;
  let existed = false;
  try {
    made = (await create(p.ctx, rsStrategy(), d.metadata.namespace, rs)).object;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.code === 409 && err.reason === "AlreadyExists") {
      const found = (await get(p.ctx, rsStrategy(), d.metadata.namespace, rs.metadata.name)).object;
      if (
        controllerRef(found)?.uid !== d.metadata.uid ||
        !equalIgnoreHash(d.spec.template, found.spec?.template)
      ) {
        // A hash collision: another template (or owner) holds the name. Hash again, differently.
        d.status.collisionCount = (d.status.collisionCount ?? 0) + 1;
        throw new Requeue(100, `hash collision on replica set ${rs.metadata.name}`);
      }
      made = found;
      existed = true;
    } else if (err.code === 403 && /being terminated/.test(err.message)) {
      throw err;
    } else {
      const msg = `Failed to create new replica set "${rs.metadata.name}": ${err.message}`;
      if (hasProgressDeadline(d))
        setCondition(d.status, newCondition(PROGRESSING, "False", FAILED_RS_CREATE, msg, now));
      await event(p, "Warning", FAILED_RS_CREATE, msg);
      throw new Requeue(5000, msg);
    }
  }
  p.rsList.push(made);
  if (!existed && replicas(made) > 0)
    await event(
      p,
      "Normal",
      "ScalingReplicaSet",
      `Scaled up replica set ${made.metadata.name} to ${replicas(made)} from 0`,
    );
  setDeploymentRevision(d, String(newRevision));
  if (!existed && hasProgressDeadline(d))
    setCondition(
      d.status,
      newCondition(
        PROGRESSING,
        "True",
        NEW_RS_CREATED,
        `Created new replica set "${made.metadata.name}"`,
        now,
      ),
    );
  return made;
}

// ---------------------------------------------------------------------------
// Scaling

/** scaleReplicaSet: set the size and the replica annotations; an event when the size moved. */
async function scaleReplicaSet(p: Pass, rs: KObject, size: number, op: string): Promise<boolean> {
  const d = p.d;
  const max = replicas(d) + maxSurge(d);
  const resize = replicas(rs) !== size;
  if (!resize && !replicasAnnotationsNeedUpdate(rs, replicas(d), max)) return false;
  const from = replicas(rs);
  const { object } = await update(
    p.ctx,
    rsStrategy(),
    rs.metadata.namespace,
    rs.metadata.name,
    (o) => {
      o.metadata.uid = rs.metadata.uid; // a replaced RS of the same name conflicts
      o.spec.replicas = size;
      setReplicasAnnotations(o, replicas(d), max);
      return o;
    },
  );
  Object.assign(rs, object);
  if (resize)
    await event(
      p,
      "Normal",
      "ScalingReplicaSet",
      `Scaled ${op} replica set ${rs.metadata.name} to ${size} from ${from}`,
    );
  return resize;
}

/** scaleReplicaSetAndRecordEvent. */
export async function scaleTo(p: Pass, rs: KObject, size: number): Promise<boolean> {
  if (replicas(rs) === size) return false;
  return scaleReplicaSet(p, rs, size, replicas(rs) < size ? "up" : "down");
}

/** isScalingEvent: an active RS was sized for another replica count than the deployment's. */
export function isScalingEvent(d: KObject, newRS: KObject | undefined, oldRSs: KObject[]) {
  for (const rs of active([...oldRSs, newRS])) {
    const desired = desiredAnnotation(rs);
    if (desired !== undefined && desired !== replicas(d)) return true;
  }
  return false;
}

/**
 * scale: a replica-count change while paused or mid-rollout. One active RS takes it all; a
 * saturated new RS retires the old ones; otherwise the change is spread in proportion.
 */
export async function scale(p: Pass, newRS: KObject | undefined, oldRSs: KObject[]) {
  const d = p.d;
  const one = findActiveOrLatest(newRS, oldRSs);
  if (one) {
    if (replicas(one) !== replicas(d)) await scaleTo(p, one, replicas(d));
    return;
  }
  if (isSaturated(d, newRS)) {
    for (const rs of active(oldRSs)) await scaleTo(p, rs, 0);
    return;
  }
  if (!isRollingUpdate(d)) return;
  const all = active([...oldRSs, newRS]);
  const allowed = replicas(d) > 0 ? replicas(d) + maxSurge(d) : 0;
  const toAdd = allowed - sum(all, replicas);
  let op = "";
  if (toAdd > 0) {
    // ReplicaSetsBySizeNewer: bigger first, then newer.
    all.sort((a, b) => replicas(b) - replicas(a) || byCreation(b, a));
    op = "up";
  } else if (toAdd < 0) {
    // ReplicaSetsBySizeOlder: bigger first, then older.
    all.sort((a, b) => replicas(b) - replicas(a) || byCreation(a, b));
    op = "down";
  }
  let added = 0;
  const sizes = new Map<string, number>();
  for (const rs of all) {
    const share = toAdd !== 0 ? proportion(rs, d, toAdd, added) : 0;
    sizes.set(rs.metadata.name, replicas(rs) + share);
    added += share;
  }
  for (const [i, rs] of all.entries()) {
    let size = sizes.get(rs.metadata.name) ?? replicas(rs);
    // Leftovers go to the largest RS.
    if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added);
    await scaleReplicaSet(p, rs, size, op);
  }
}

// ---------------------------------------------------------------------------
// RollingUpdate

/** reconcileNewReplicaSet: grow the new RS as far as maxSurge allows. */
export async function reconcileNewReplicaSet(p: Pass, allRSs: KObject[], newRS: KObject) {
  const want = replicas(p.d);
  if (replicas(newRS) === want) return false;
  if (replicas(newRS) > want) return scaleTo(p, newRS, want);
  return scaleTo(p, newRS, newRSNewReplicas(p, allRSs, newRS));
}

/** reconcileOldReplicaSets: shrink old RSes as far as maxUnavailable allows, unhealthy first. */
export async function reconcileOldReplicaSets(
  p: Pass,
  allRSs: KObject[],
  oldRSs: KObject[],
  newRS: KObject,
): Promise<boolean> {
  const d = p.d;
  if (sum(oldRSs, replicas) === 0) return false;
  const minAvailable = replicas(d) - maxUnavailable(d);
  const newUnavailable = replicas(newRS) - availableOf(p, newRS);
  const maxScaledDown = sum(allRSs, replicas) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return false;
  // Unhealthy replicas first: they would otherwise block the rollout until it times out.
  let cleaned = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = replicas(rs) - availableOf(p, rs);
    if (replicas(rs) === 0 || unhealthy <= 0) continue;
    const n = Math.min(maxScaledDown - cleaned, unhealthy);
    await scaleTo(p, rs, replicas(rs) - n);
    cleaned += n;
  }
  // Then healthy ones, keeping minAvailable available.
  let scaledDown = 0;
  const available = sum(allRSs, (rs) => availableOf(p, rs));
  if (available > minAvailable) {
    const total = available - minAvailable;
    for (const rs of [...oldRSs].sort(byCreation)) {
      if (scaledDown >= total) break;
      if (replicas(rs) === 0) continue;
      const n = Math.min(replicas(rs), total - scaledDown);
      await scaleTo(p, rs, replicas(rs) - n);
      scaledDown += n;
    }
  }
  return cleaned + scaledDown > 0;
}

// ---------------------------------------------------------------------------
// Recreate

/** oldPodsRunning: any old RS still counts pods, or any pod not of the new RS still lives. */
export function oldPodsRunning(p: Pass, newRS: KObject | undefined, oldRSs: KObject[]) {
  if (sum(oldRSs, (rs) => rs.status?.replicas ?? 0) > 0) return true;
  for (const [uid, pods] of p.podMap) {
    if (newRS && uid === newRS.metadata.uid) continue;
    if (pods.some((pod) => pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed"))
      return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// History

/** cleanupDeployment: keep revisionHistoryLimit old RSes; delete older ones that are empty. */
export async function cleanupDeployment(p: Pass, oldRSs: KObject[]) {
  const limit = p.d.spec?.revisionHistoryLimit;
  if (typeof limit !== "number" || limit === 2147483647) return;
  const alive = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
  const diff = alive.length - limit;
  if (diff <= 0) return;
  const oldest = [...alive].sort(byRevision).slice(0, diff);
  for (const rs of oldest) {
    const busy =
      (rs.status?.replicas ?? 0) !== 0 ||
      replicas(rs) !== 0 ||
      (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0);
    if (busy) continue;
    try {
      await remove(p.ctx, rsStrategy(), rs.metadata.namespace, rs.metadata.name, {
        preconditions: { uid: rs.metadata.uid },
      });
    } catch (err) {
      if (!(err instanceof ApiError && (err.code === 404 || err.code === 409))) throw err;
    }
  }
}
