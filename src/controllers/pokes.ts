// After a write, wake whoever must react: the watch hub always, controllers when the change is
// theirs. A lost poke only delays work: every controller re-checks on its own alarm, and the
// resync sweep pokes every controlled object periodically.

import type { Env } from "../env.ts";
import { controllerRef } from "../k8s/owner-refs.ts";
import type { Committed } from "../resources/rest.ts";
import type { Key, KObject } from "../store/objects.ts";
import { isPodReady, readyCondition } from "./pod-state.ts";

/** Controller bindings that take `poke(key)`. */
export type ControllerBinding =
  | "REPLICASET"
  | "DEPLOYMENT"
  | "STATEFULSET"
  | "DAEMONSET"
  | "JOB"
  | "CRONJOB"
  | "SCHEDULER"
  | "NODE_LIFECYCLE"
  | "ENDPOINTS"
  | "DISRUPTION"
  | "GARBAGE_COLLECTOR"
  | "NAMESPACE_LIFECYCLE";

export interface Target {
  binding: ControllerBinding;
  /** The Durable Object's name: one instance per controlled object (or a singleton name). */
  name: string;
  key: Key;
}

/** Which controller owns objects of a resource, per DESIGN.md: one DO per object. */
export const OWNER_BINDING: Record<string, ControllerBinding> = {
  "apps/replicasets": "REPLICASET",
  "apps/deployments": "DEPLOYMENT",
  "apps/statefulsets": "STATEFULSET",
  "apps/daemonsets": "DAEMONSET",
  "batch/jobs": "JOB",
  "batch/cronjobs": "CRONJOB",
};

const KIND_RESOURCE: Record<string, string> = {
  "apps/ReplicaSet": "apps/replicasets",
  "apps/Deployment": "apps/deployments",
  "apps/StatefulSet": "apps/statefulsets",
  "apps/DaemonSet": "apps/daemonsets",
  "batch/Job": "batch/jobs",
  "batch/CronJob": "batch/cronjobs",
};

export const PDB_RESOURCE = "policy/poddisruptionbudgets";

export const objectName = (k: Key) => `${k.resource}/${k.namespace}/${k.name}`;

const endpointsOf = (namespace: string): Target => ({
  binding: "ENDPOINTS",
  name: `endpoints/${namespace}`,
  key: { resource: "endpoints", namespace, name: namespace },
});

/** One disruption controller per namespace keeps every budget there current. */
const disruptionOf = (namespace: string): Target => ({
  binding: "DISRUPTION",
  name: `poddisruptionbudgets/${namespace}`,
  key: { resource: PDB_RESOURCE, namespace, name: namespace },
});

const nodeLifecycleOf = (node: string): Target => ({
  binding: "NODE_LIFECYCLE",
  name: `nodes//${node}`,
  key: { resource: "nodes", namespace: "", name: node },
});

/** The controller instance an object of these resources is reconciled by. */
export const targetOf = (key: Key): Target | undefined => {
  if (key.resource === "nodes") return nodeLifecycleOf(key.name);
  if (key.resource === "services") return endpointsOf(key.namespace);
  if (key.resource === PDB_RESOURCE) return disruptionOf(key.namespace);
  const binding = OWNER_BINDING[key.resource];
  return binding ? { binding, name: objectName(key), key } : undefined;
};

/** Resources the resync sweep walks: everything targetOf maps. */
export const SWEPT = [...Object.keys(OWNER_BINDING), "nodes", "services", PDB_RESOURCE];

export const SCHEDULER: Target = {
  binding: "SCHEDULER",
  name: "scheduler",
  key: { resource: "scheduler", namespace: "", name: "scheduler" },
};

/**
 * The controllers a committed write concerns. `graceMs` is the node monitor grace period: a
 * node's lifecycle controller already waits on an alarm at its Lease's expiry, so a renewal that
 * comes well within the grace tells it nothing new (1,000 nodes renewing every 10 s would
 * otherwise wake 100 Durable Objects a second).
 */
export function targetsFor(c: Committed, graceMs = DEFAULT_GRACE_MS): Target[] {
  const out: Target[] = [];
  const own = targetOf(c.key);
  if (own && (c.key.resource !== "nodes" || lifecycleInputsChanged(c, graceMs))) out.push(own);
  const ref = controllerRef(c.object);
  if (ref) {
    const group = ref.apiVersion.includes("/") ? ref.apiVersion.split("/")[0] : "";
    const resource = KIND_RESOURCE[`${group}/${ref.kind}`];
    const owner = resource && targetOf({ resource, namespace: c.key.namespace, name: ref.name });
    if (owner) out.push(owner);
  }
  switch (c.key.resource) {
    case "pods":
      if (!c.object.spec?.nodeName || c.type === "DELETED") out.push(SCHEDULER);
      out.push(endpointsOf(c.key.namespace));
      if (budgetInputsChanged(c)) out.push(disruptionOf(c.key.namespace));
      break;
    case "nodes":
      out.push(SCHEDULER);
      break;
    case "endpoints":
      // Hand-written Endpoints are mirrored into slices; the controllers' own are not.
      if (mirrored(c.object)) out.push(endpointsOf(c.key.namespace));
      break;
    case "coordination.k8s.io/leases":
      if (c.key.namespace === "kube-node-lease" && !routineRenewal(c, graceMs))
        out.push(nodeLifecycleOf(c.key.name));
      break;
  }
  return out;
}

const DEFAULT_GRACE_MS = 40_000;

export const graceMsOf = (env: Env) =>
  Number(env.NODE_MONITOR_GRACE_SECONDS ?? DEFAULT_GRACE_MS / 1000) * 1000;

/**
 * A Lease renewed less than half a grace period after its last renewal: the node was live and
 * stays live. Anything else (a new or deleted Lease, a renewal after a long silence, a change of
 * holder) may flip the node's state, so its controller must look now.
 */
function routineRenewal(c: Committed, graceMs: number): boolean {
  if (c.type !== "MODIFIED" || !c.old) return false;
  const renewed = (l: KObject) => Date.parse(l.spec?.renewTime ?? "");
  const gap = renewed(c.object) - renewed(c.old);
  return (
    c.object.spec?.holderIdentity === c.old.spec?.holderIdentity && gap >= 0 && gap < graceMs / 2
  );
}

/**
 * Whether a node write concerns its lifecycle controller: its conditions or taints changed, or a
 * heartbeat came after a long silence. A cordon (1,000 of them when a fleet is uncordoned) or a
 * relabel does not, and waking one Durable Object per node for it stalled the API locally.
 */
function lifecycleInputsChanged(c: Committed, graceMs: number): boolean {
  if (c.type !== "MODIFIED" || !c.old) return true;
  const conditions = (n: KObject): KObject[] =>
    Array.isArray(n.status?.conditions) ? n.status.conditions : [];
  const inputs = (n: KObject) =>
    JSON.stringify([
      n.spec?.taints,
      n.metadata?.deletionTimestamp,
      conditions(n).map((x) => [x.type, x.status, x.reason]),
    ]);
  if (inputs(c.object) !== inputs(c.old)) return true;
  const heartbeat = (n: KObject) => Date.parse(readyCondition(n)?.lastHeartbeatTime ?? "");
  const gap = heartbeat(c.object) - heartbeat(c.old);
  return gap >= graceMs / 2;
}

const GARBAGE_COLLECTOR: Target = {
  binding: "GARBAGE_COLLECTOR",
  name: "gc",
  key: { resource: "gc", namespace: "", name: "gc" },
};
export const NAMESPACE_LIFECYCLE: Target = {
  binding: "NAMESPACE_LIFECYCLE",
  name: "namespaces",
  key: { resource: "namespaces", namespace: "", name: "namespaces" },
};

/** Whether a node write can change which DaemonSet pods belong on it (not a heartbeat). */
function nodePlacementChanged(c: Committed): boolean {
  if (c.type !== "MODIFIED" || !c.old) return true;
  const placement = (n: KObject) =>
    JSON.stringify([n.metadata?.labels, n.spec?.taints, n.spec?.unschedulable]);
  return placement(c.object) !== placement(c.old);
}

/** Endpoints the mirroring controller may act on: not the endpoints controller's, not skipped. */
const mirrored = (ep: KObject) =>
  ep.metadata?.labels?.["endpoints.kubernetes.io/managed-by"] !== "endpoint-controller" &&
  ep.metadata?.labels?.["endpointslice.kubernetes.io/skip-mirror"] !== "true";

/** Whether a pod write can change a budget's numbers (not a mere status heartbeat). */
function budgetInputsChanged(c: Committed): boolean {
  if (c.type !== "MODIFIED" || !c.old) return true;
  const inputs = (p: KObject) =>
    JSON.stringify([
      p.metadata?.labels,
      p.metadata?.deletionTimestamp,
      p.metadata?.ownerReferences,
      isPodReady(p),
    ]);
  return inputs(c.object) !== inputs(c.old);
}

const hasFinalizer = (c: Committed, f: string) => (c.object.metadata?.finalizers ?? []).includes(f);

async function quietly(what: string, p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    console.warn(`poke ${what} failed`, err);
  }
}

// One call in flight per callee per isolate: writes arriving meanwhile ask for one more round,
// so a burst of 1,000 pod writes in one namespace costs its endpoints controller two calls, not
// 1,000, and the last write is still covered. The watch hub is woken the same way.
const inflight = new Map<string, { done: Promise<void>; again: boolean }>();

function coalesced(id: string, call: () => Promise<void>): Promise<void> {
  const running = inflight.get(id);
  if (running) {
    running.again = true;
    return running.done;
  }
  const entry = { done: Promise.resolve(), again: false };
  entry.done = (async () => {
    do {
      entry.again = false;
      await call();
    } while (entry.again);
  })().finally(() => inflight.delete(id));
  inflight.set(id, entry);
  return entry.done;
}

/** A poke to make: its callee's id (what coalesces) and the call itself. */
type PokeCall = [id: string, call: () => Promise<void>];

const pokeCall = (env: Env, t: Target): PokeCall => [
  `${t.binding}/${t.name}`,
  () => quietly(t.name, env[t.binding].getByName(t.name).poke(t.key)),
];

/** Wake the target, coalesced with other requests' pokes of it. */
export const poke = (env: Env, t: Target): Promise<void> => coalesced(...pokeCall(env, t));

/** The pokes a committed write calls for, by callee; none for the controller `self` writing it. */
export function pokeCallsFor(env: Env, c: Committed, self?: Key): PokeCall[] {
  // The test switch: controllers must converge on their periodic alarms alone.
  if (env.DROP_POKES === "1") return [];
  const own = self && objectName(self);
  const out = targetsFor(c, graceMsOf(env))
    .filter((t) => objectName(t.key) !== own)
    .map((t) => pokeCall(env, t));
  const deleting = !!c.object.metadata?.deletionTimestamp;
  if (
    c.type === "DELETED" ||
    (deleting && (hasFinalizer(c, "foregroundDeletion") || hasFinalizer(c, "orphan")))
  )
    out.push(pokeCall(env, GARBAGE_COLLECTOR));
  // A namespace made or being deleted; a default ServiceAccount to put back.
  if (
    (c.key.resource === "namespaces" &&
      (c.type === "ADDED" || (deleting && c.type !== "DELETED"))) ||
    (c.key.resource === "serviceaccounts" && c.key.name === "default" && c.type === "DELETED")
  )
    out.push(pokeCall(env, NAMESPACE_LIFECYCLE));
  if (c.key.resource === "nodes" && nodePlacementChanged(c))
    // Uncordoning 1,000 nodes asks for one sweep of the DaemonSets, not 1,000.
    out.push([
      "RESYNC/apps/daemonsets",
      () => quietly("resync", env.RESYNC.getByName("resync").sweep("apps/daemonsets")),
    ]);
  return out;
}

/** An API request's pokes for a write: each coalesced with other requests' pokes of it. */
export const pokesFor = (env: Env, c: Committed): Promise<void>[] =>
  pokeCallsFor(env, c).map(([id, call]) => coalesced(id, call));

const hubCall = (env: Env) => () => quietly("watch hub", env.WATCH_HUB.getByName("hub").poke());

/** Wake the watch hub; `direct` (from a Durable Object) skips the coalescing: see context.ts. */
export const pokeHub = (env: Env, direct = false): Promise<void> =>
  direct ? hubCall(env)() : coalesced("WATCH_HUB/hub", hubCall(env));
