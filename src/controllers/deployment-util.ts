// Pure Deployment arithmetic and bookkeeping, after Kubernetes'
// pkg/controller/deployment/util/deployment_util.go: fenceposts (maxSurge/maxUnavailable),
// the pod-template-hash, revision and replica annotations, conditions, proportional scaling.
import { scaledValue } from "../k8s/intstr.ts";
import { semanticEqual } from "../resources/workload.ts";
import type { KObject } from "../store/objects.ts";

export const REVISION = "deployment.kubernetes.io/revision";
export const REVISION_HISTORY = "deployment.kubernetes.io/revision-history";
export const DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas";
export const MAX_REPLICAS = "deployment.kubernetes.io/max-replicas";
/** apps.DefaultDeploymentUniqueLabelKey: on every ReplicaSet's selector, template and pods. */
export const POD_TEMPLATE_HASH = "pod-template-hash";
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
const ROLLBACK_TO = "deprecated.deployment.rollback.to";

/** Deployment annotations never copied to its ReplicaSets (annotationsToSkip). */
const SKIP_COPY = new Set([
  LAST_APPLIED,
  REVISION,
  REVISION_HISTORY,
  DESIRED_REPLICAS,
  MAX_REPLICAS,
  ROLLBACK_TO,
]);

/** Limit of the revision-history annotation, as the controller's maxRevHistoryLengthInChars. */
const MAX_REV_HISTORY_CHARS = 2000;
const MAX_INT32 = 2147483647;

// Condition types and reasons (deployment_util.go).
export const AVAILABLE = "Available";
export const PROGRESSING = "Progressing";
export const REPLICA_FAILURE = "ReplicaFailure";
export const MIN_AVAILABLE = "MinimumReplicasAvailable";
export const MIN_UNAVAILABLE = "MinimumReplicasUnavailable";
export const NEW_RS_CREATED = "NewReplicaSetCreated";
export const FOUND_NEW_RS = "FoundNewReplicaSet";
export const RS_UPDATED = "ReplicaSetUpdated";
export const NEW_RS_AVAILABLE = "NewReplicaSetAvailable";
export const TIMED_OUT = "ProgressDeadlineExceeded";
export const PAUSED = "DeploymentPaused";
export const RESUMED = "DeploymentResumed";
export const FAILED_RS_CREATE = "ReplicaSetCreateError";

export const replicas = (o: KObject | undefined): number => o?.spec?.replicas ?? 0;
const statusCount = (o: KObject | undefined, f: string): number => o?.status?.[f] ?? 0;

// ---------------------------------------------------------------------------
// Fenceposts

export const isRollingUpdate = (d: KObject) =>
  (d.spec?.strategy?.type ?? "RollingUpdate") === "RollingUpdate";

/**
 * ResolveFenceposts: surge rounds up, unavailable rounds down; when both come out zero,
 * unavailable becomes 1 so a small deployment can still move.
 */
export function resolveFenceposts(
  maxSurge: unknown,
  maxUnavailable: unknown,
  desired: number,
): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge ?? 0, desired, true);
  let unavailable = scaledValue(maxUnavailable ?? 0, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

/** MaxSurge: how many pods above the desired count a rolling update may run. */
export function maxSurge(d: KObject): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  return resolveFenceposts(ru.maxSurge, ru.maxUnavailable, replicas(d)).surge;
}

/** MaxUnavailable: how many desired pods may be unavailable during a rolling update. */
export function maxUnavailable(d: KObject): number {
  const n = replicas(d);
  if (!isRollingUpdate(d) || n === 0) return 0;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  return Math.min(n, resolveFenceposts(ru.maxSurge, ru.maxUnavailable, n).unavailable);
}

function withoutHash(t: KObject | undefined): KObject {
  const c = structuredClone(t ?? {});
  if (c.metadata?.labels) {
    delete c.metadata.labels[POD_TEMPLATE_HASH];
    if (!Object.keys(c.metadata.labels).length) delete c.metadata.labels;
  }
  return c;
}

/** EqualIgnoreHash: the templates are semantically equal once pod-template-hash is ignored. */
export const equalIgnoreHash = (a: KObject | undefined, b: KObject | undefined): boolean =>
  semanticEqual(withoutHash(a), withoutHash(b));

// ---------------------------------------------------------------------------
// ReplicaSet lists

const created = (o: KObject) => Date.parse(o.metadata?.creationTimestamp ?? "") || 0;

/** controller.ReplicaSetsByCreationTimestamp: oldest first, ties by name. */
export const byCreation = (a: KObject, b: KObject): number =>
  created(a) - created(b) || (a.metadata.name < b.metadata.name ? -1 : 1);

/** The template-matching ReplicaSet, the oldest if several (FindNewReplicaSet). */
export function findNewReplicaSet(d: KObject, rsList: KObject[]): KObject | undefined {
  return [...rsList]
    .sort(byCreation)
    .find((rs) => equalIgnoreHash(rs.spec?.template, d.spec?.template));
}

/** FilterActiveReplicaSets: those with pods wanted. */
export const active = (list: (KObject | undefined)[]): KObject[] =>
  list.filter((rs): rs is KObject => !!rs && replicas(rs) > 0);

/** Revision: the revision annotation as a number (0 when absent, NaN when malformed). */
export function revisionOf(rs: KObject): number {
  const v = rs.metadata?.annotations?.[REVISION];
  if (v === undefined || v === "") return 0;
  return /^[0-9]+$/.test(v) ? Number(v) : Number.NaN;
}

export function maxRevision(list: KObject[]): number {
  let max = 0;
  for (const rs of list) {
    const r = revisionOf(rs);
    if (!Number.isNaN(r) && r > max) max = r;
  }
  return max;
}

/** ReplicaSetsByRevision: ascending revision, then creation. */
export const byRevision = (a: KObject, b: KObject): number =>
  (revisionOf(a) || 0) - (revisionOf(b) || 0) || byCreation(a, b);

/** FindActiveOrLatest: the one active RS, or the newest when none is active. */
export function findActiveOrLatest(
  newRS: KObject | undefined,
  oldRSs: KObject[],
): KObject | undefined {
  if (!newRS && !oldRSs.length) return undefined;
  const newestFirst = [...oldRSs].sort((a, b) => byCreation(b, a));
  const all = active([...newestFirst, newRS]);
  if (all.length === 0) return newRS ?? newestFirst[0];
  if (all.length === 1) return all[0];
  return undefined;
}

// ---------------------------------------------------------------------------
// Annotations

function annotations(o: KObject): Record<string, string> {
  o.metadata.annotations ??= {};
  return o.metadata.annotations;
}

export function replicasAnnotationsNeedUpdate(rs: KObject, desired: number, max: number) {
  const a = rs.metadata?.annotations ?? {};
  return a[DESIRED_REPLICAS] !== String(desired) || a[MAX_REPLICAS] !== String(max);
}

/** SetReplicasAnnotations: what the deployment wanted when it last sized this RS. */
export function setReplicasAnnotations(rs: KObject, desired: number, max: number): boolean {
  if (!replicasAnnotationsNeedUpdate(rs, desired, max)) return false;
  const a = annotations(rs);
  a[DESIRED_REPLICAS] = String(desired);
  a[MAX_REPLICAS] = String(max);
  return true;
}

/**
 * SetNewReplicaSetAnnotations: copy the deployment's annotations (change-cause among them), raise
 * the revision to `newRevision` when it is higher, remembering the former one in
 * revision-history (a rollback reuses an old RS), and stamp replica counts on a new RS.
 */
export function setNewReplicaSetAnnotations(
  d: KObject,
  rs: KObject,
  newRevision: number,
  exists: boolean,
): boolean {
  let changed = false;
  const a = annotations(rs);
  for (const [k, v] of Object.entries<string>(d.metadata?.annotations ?? {})) {
    if (SKIP_COPY.has(k) || a[k] === v) continue;
    a[k] = v;
    changed = true;
  }
  const had = Object.hasOwn(a, REVISION);
  const old = revisionOf(rs);
  if (Number.isNaN(old)) return changed;
  if (old < newRevision) {
    a[REVISION] = String(newRevision);
    changed = true;
    if (had) {
      const former = String(old);
      const history = a[REVISION_HISTORY] ? a[REVISION_HISTORY].split(",") : [];
      history.push(former);
      while (history.join(",").length > MAX_REV_HISTORY_CHARS && history.length > 1)
        history.shift();
      a[REVISION_HISTORY] = history.join(",");
    }
  }
  if (!exists && setReplicasAnnotations(rs, replicas(d), replicas(d) + maxSurge(d))) changed = true;
  return changed;
}

/** SetDeploymentRevision. */
export function setDeploymentRevision(d: KObject, revision: string | undefined): boolean {
  if (revision === undefined || d.metadata?.annotations?.[REVISION] === revision) return false;
  annotations(d)[REVISION] = revision;
  return true;
}

/** desired-replicas of an RS, if it carries a valid one. */
export function desiredAnnotation(rs: KObject): number | undefined {
  const v = rs.metadata?.annotations?.[DESIRED_REPLICAS];
  return typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}

function maxReplicasAnnotation(rs: KObject): number | undefined {
  const v = rs.metadata?.annotations?.[MAX_REPLICAS];
  return typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}

/** IsSaturated: the new RS holds all desired pods and all of them are available. */
export function isSaturated(d: KObject, rs: KObject | undefined): boolean {
  if (!rs) return false;
  const n = replicas(d);
  return (
    replicas(rs) === n && desiredAnnotation(rs) === n && statusCount(rs, "availableReplicas") === n
  );
}

// ---------------------------------------------------------------------------
// Proportional scaling (a scale during a rollout)

/** Go's math.Round for the halves used by integer.RoundToInt32. */
const roundHalfAway = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

function replicaSetFraction(rs: KObject, d: KObject): number {
  if (replicas(d) === 0) return -replicas(rs);
  const maxNow = replicas(d) + maxSurge(d);
  let before = maxReplicasAnnotation(rs);
  if (!before) {
    before = statusCount(d, "replicas");
    if (before === 0) return 0;
  }
  return roundHalfAway((replicas(rs) * maxNow) / before) - replicas(rs);
}

/** GetProportion: this RS's share of `toAdd`, never past what is left to add. */
export function proportion(rs: KObject, d: KObject, toAdd: number, added: number): number {
  if (replicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

// ---------------------------------------------------------------------------
// Conditions

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  lastUpdateTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export const newCondition = (
  type: string,
  status: Condition["status"],
  reason: string,
  message: string,
  now: string,
): Condition => ({
  type,
  status,
  lastUpdateTime: now,
  lastTransitionTime: now,
  reason,
  message,
});

export const getCondition = (status: KObject | undefined, type: string): Condition | undefined =>
  (status?.conditions ?? []).find((c: Condition) => c.type === type);

export function removeCondition(status: KObject, type: string): void {
  const rest = (status.conditions ?? []).filter((c: Condition) => c.type !== type);
  if (rest.length) status.conditions = rest;
  else delete status.conditions;
}

/** SetDeploymentCondition: no change for the same status and reason; keep the transition time. */
export function setCondition(status: KObject, c: Condition): void {
  const cur = getCondition(status, c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return;
  const next = { ...c };
  if (cur && cur.status === c.status) next.lastTransitionTime = cur.lastTransitionTime;
  status.conditions = [
    ...(status.conditions ?? []).filter((x: Condition) => x.type !== c.type),
    next,
  ];
}

export const hasProgressDeadline = (d: KObject): boolean => {
  const p = d.spec?.progressDeadlineSeconds;
  return typeof p === "number" && p !== MAX_INT32;
};

/** DeploymentComplete: every desired pod is updated and available, and the spec is observed. */
export function deploymentComplete(d: KObject, s: KObject | undefined): boolean {
  const n = replicas(d);
  return (
    (s?.updatedReplicas ?? 0) === n &&
    (s?.replicas ?? 0) === n &&
    (s?.availableReplicas ?? 0) === n &&
    (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0)
  );
}

/** DeploymentProgressing: more updated, fewer old, more ready or more available pods than before. */
export function deploymentProgressing(d: KObject, s: KObject): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

/** Milliseconds until the progress deadline passes (negative once passed), if one applies. */
export function msToDeadline(d: KObject, s: KObject, now: number): number | undefined {
  if (!hasProgressDeadline(d)) return undefined;
  const c = getCondition(s, PROGRESSING);
  if (!c || c.reason === NEW_RS_AVAILABLE || c.reason === TIMED_OUT) return undefined;
  const from = Date.parse(c.lastUpdateTime ?? "");
  if (Number.isNaN(from)) return undefined;
  return from + d.spec.progressDeadlineSeconds * 1000 - now;
}

/** DeploymentTimedOut. */
export function deploymentTimedOut(d: KObject, s: KObject, now: number): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, PROGRESSING);
  if (!c || c.reason === NEW_RS_AVAILABLE) return false;
  if (c.reason === TIMED_OUT) return true;
  const left = msToDeadline(d, s, now);
  return left !== undefined && left < 0;
}

/**
 * calculateStatus: counts summed over the ReplicaSets' own statuses, and the Available condition
 * (at least replicas - maxUnavailable available pods).
 */
export function calculateStatus(
  allRSs: KObject[],
  newRS: KObject | undefined,
  d: KObject,
  now: string,
): KObject {
  const sum = (f: string, list = allRSs) => list.reduce((n, rs) => n + statusCount(rs, f), 0);
  const available = sum("availableReplicas");
  const total = allRSs.reduce((n, rs) => n + replicas(rs), 0);
  const s: KObject = {};
  const put = (f: string, v: number) => {
    if (v) s[f] = v; // Go's omitempty
  };
  put("observedGeneration", d.metadata?.generation ?? 0);
  put("replicas", sum("replicas"));
  put("updatedReplicas", newRS ? sum("replicas", [newRS]) : 0);
  put("readyReplicas", sum("readyReplicas"));
  put("availableReplicas", available);
  put("unavailableReplicas", Math.max(0, total - available));
  if (d.status?.conditions?.length) s.conditions = structuredClone(d.status.conditions);
  if (typeof d.status?.collisionCount === "number") s.collisionCount = d.status.collisionCount;
  if (available >= replicas(d) - maxUnavailable(d))
    setCondition(
      s,
      newCondition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now),
    );
  else
    setCondition(
      s,
      newCondition(
        AVAILABLE,
        "False",
        MIN_UNAVAILABLE,
        "Deployment does not have minimum availability.",
        now,
      ),
    );
  return s;
}
