// The scheduler (kube-scheduler's default profile, one singleton Durable Object): each round takes
// a batch of unbound pods, filters the nodes each could run on (readiness and cordon, taints,
// nodeSelector and node affinity, host ports, requests against allocatable, inter-pod
// (anti-)affinity), scores the feasible ones (least allocated, balance, spreading an owner's pods,
// preferred node affinity, PreferNoSchedule taints) and binds the whole batch in one D1 batch.
// A pod no node fits gets PodScheduled=False with each node's reason, worded as kube-scheduler
// words it, and a FailedScheduling event; it waits (kube-scheduler's unschedulable queue) until
// a change could make it fit: a node added or changed, a bound pod gone or finished, and for
// pods with required pod affinity any newly bound pod; at the latest after five minutes. The
// cluster view is cached in memory and refreshed by revision on every round.
import { type Selector, selectorFromLabelSelector } from "../k8s/labels.ts";
import {
  matchesNodeSelector,
  matchesRequiredNodeAffinity,
  type NodeSelectorTerm,
  type Taint,
  type Toleration,
  termMatches,
  tolerates,
} from "../k8s/node-match.ts";
import { controllerRef } from "../k8s/owner-refs.ts";
import { quantityFromJSON } from "../k8s/quantity.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Committed, type Ctx, selectable, timestamp } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import {
  type BatchCreate,
  type BatchUpdate,
  batchKey,
  bodies,
  changedSince,
  commitMany,
  type PodState,
  podStates,
  unboundVersions,
  type Version,
  versions,
} from "../store/binding.ts";
import { compactedRevision } from "../store/compaction.ts";
import { currentRevision, type Key, type KObject, listObjects, withRv } from "../store/objects.ts";
import { targetsFor } from "./pokes.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";

export const SCHEDULER_NAME = "default-scheduler";
/** Pods one round considers. */
const BATCH = 1000;
/** The longest an unschedulable pod waits before it is tried again anyway (kube-scheduler's). */
const PARKED_MS = 5 * 60_000;
/** kube-scheduler's non-zero defaults, used for scoring pods that request nothing. */
const DEFAULT_MILLI_CPU = 100;
const DEFAULT_MEMORY = 200 * 1024 * 1024;

const list = (v: unknown): KObject[] =>
  Array.isArray(v) ? v.filter((x) => x && typeof x === "object") : [];

// ---------------------------------------------------------------------------
// Pods as the scheduler sees them

type Resources = Map<string, number>;

/** cpu in millicores, everything else in whole units (bytes, pods, devices). */
function amount(name: string, v: unknown): number {
  try {
    const q = quantityFromJSON(v);
    return Number(name === "cpu" ? q.milliValue() : q.value());
  } catch {
    return 0;
  }
}

function addList(into: Resources, rl: unknown) {
  if (!rl || typeof rl !== "object") return;
  for (const [k, v] of Object.entries(rl)) into.set(k, (into.get(k) ?? 0) + amount(k, v));
}

const addAll = (into: Resources, from: Resources) => {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
};
const maxAll = (into: Resources, from: Resources) => {
  for (const [k, v] of from) into.set(k, Math.max(into.get(k) ?? 0, v));
};

/** computePodResourceRequest: containers (+ sidecars), the peak of init containers, overhead. */
function podRequests(spec: KObject): Resources {
  const total: Resources = new Map();
  for (const c of list(spec.containers)) addList(total, c.resources?.requests);
  const sidecars: Resources = new Map();
  const peak: Resources = new Map();
  for (const c of list(spec.initContainers)) {
    const r: Resources = new Map();
    addList(r, c.resources?.requests);
    if (c.restartPolicy === "Always") {
      addAll(sidecars, r);
      maxAll(peak, sidecars);
    } else {
      const during = new Map(sidecars);
      addAll(during, r);
      maxAll(peak, during);
    }
  }
  addAll(total, sidecars);
  maxAll(total, peak);
  addList(total, spec.overhead);
  for (const [k, v] of total) if (v === 0) total.delete(k);
  return total;
}

/** Requests for scoring: a container asking for nothing still counts 100m and 200Mi. */
function nonZero(spec: KObject): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const c of list(spec.containers)) {
    const r = c.resources?.requests ?? {};
    cpu += r.cpu !== undefined ? amount("cpu", r.cpu) : DEFAULT_MILLI_CPU;
    memory += r.memory !== undefined ? amount("memory", r.memory) : DEFAULT_MEMORY;
  }
  return { cpu, memory };
}

interface HostPort {
  protocol: string;
  ip: string;
  port: number;
}

function hostPorts(spec: KObject): HostPort[] {
  const out: HostPort[] = [];
  for (const c of [...list(spec.initContainers), ...list(spec.containers)])
    for (const p of list(c.ports))
      if (typeof p.hostPort === "number" && p.hostPort > 0)
        out.push({ protocol: p.protocol || "TCP", ip: p.hostIP || "0.0.0.0", port: p.hostPort });
  return out;
}

const portsClash = (a: HostPort, b: HostPort) =>
  a.port === b.port &&
  a.protocol === b.protocol &&
  (a.ip === b.ip || a.ip === "0.0.0.0" || b.ip === "0.0.0.0");

/** A required pod (anti-)affinity term, parsed once. */
interface Term {
  id: string;
  selector: Selector;
  /** Namespaces the term looks in; undefined with no namespaceSelector means all. */
  namespaces: Set<string>;
  namespaceSelector?: Selector;
  allNamespaces: boolean;
  topologyKey: string;
}

function parseTerms(pod: KObject, terms: unknown): Term[] {
  const ns: string = pod.metadata?.namespace ?? "";
  return list(terms).map((t) => {
    let selector: Selector;
    try {
      selector = selectorFromLabelSelector(t.labelSelector);
    } catch {
      selector = selectorFromLabelSelector(null);
    }
    const names: string[] = Array.isArray(t.namespaces) ? t.namespaces : [];
    const nsSel = t.namespaceSelector;
    let namespaceSelector: Selector | undefined;
    let allNamespaces = false;
    if (nsSel && typeof nsSel === "object") {
      const empty = !Object.keys(nsSel.matchLabels ?? {}).length && !nsSel.matchExpressions?.length;
      if (empty) allNamespaces = true;
      else
        try {
          namespaceSelector = selectorFromLabelSelector(nsSel);
        } catch {}
    }
    const namespaces = new Set(names.length || nsSel ? names : [ns]);
    return {
      id: JSON.stringify([t.labelSelector ?? null, [...namespaces], nsSel ?? null, t.topologyKey]),
      selector,
      namespaces,
      namespaceSelector,
      allNamespaces,
      topologyKey: String(t.topologyKey ?? ""),
    };
  });
}

interface PodInfo {
  key: string;
  namespace: string;
  name: string;
  uid: string;
  rv: number;
  node: string;
  labels: Record<string, string>;
  owner?: string;
  requests: Resources;
  cpu: number;
  memory: number;
  ports: HostPort[];
  antiAffinity: Term[];
  /** Succeeded or Failed: holds no resources. */
  done: boolean;
}

function podInfo(o: KObject, rv: number): PodInfo {
  const spec: KObject = o.spec ?? {};
  const nz = nonZero(spec);
  const phase = o.status?.phase;
  return {
    key: `${o.metadata.namespace}/${o.metadata.name}`,
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    uid: o.metadata.uid,
    rv,
    node: spec.nodeName ?? "",
    labels: o.metadata.labels ?? {},
    owner: controllerRef(o)?.uid,
    requests: podRequests(spec),
    cpu: nz.cpu,
    memory: nz.memory,
    ports: hostPorts(spec),
    antiAffinity: parseTerms(
      o,
      spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
    ),
    done: phase === "Succeeded" || phase === "Failed",
  };
}

/** The pod being placed: its info plus what only the incoming pod's checks need. */
interface Incoming extends PodInfo {
  /** What the cache keeps once it is bound (without the object). */
  info: PodInfo;
  object: KObject;
  tolerations: Toleration[];
  affinity: Term[];
  nodeConstraints: boolean;
  preferred: { weight: number; term: NodeSelectorTerm }[];
}

function incoming(o: KObject, rv: number): Incoming {
  const spec: KObject = o.spec ?? {};
  const aff = spec.affinity ?? {};
  const info = podInfo(o, rv);
  return {
    ...info,
    info,
    object: o,
    tolerations: list(spec.tolerations) as Toleration[],
    affinity: parseTerms(o, aff.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution),
    nodeConstraints:
      !!(spec.nodeSelector && Object.keys(spec.nodeSelector).length) ||
      !!aff.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
    preferred: list(aff.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution).map((p) => ({
      weight: typeof p.weight === "number" ? p.weight : 0,
      term: (p.preference ?? {}) as NodeSelectorTerm,
    })),
  };
}

// ---------------------------------------------------------------------------
// Nodes as the scheduler sees them

interface NodeBase {
  name: string;
  rv: number;
  object: KObject;
  labels: Record<string, string>;
  /** spec.taints plus what the node's condition implies (not-ready, unreachable). */
  taints: Taint[];
  unschedulable: boolean;
  allocatable: Resources;
  maxPods: number;
}

interface NodeState extends NodeBase {
  used: Resources;
  cpu: number;
  memory: number;
  pods: PodInfo[];
  ports: HostPort[];
  owners: Map<string, number>;
}

const NOT_READY = "node.kubernetes.io/not-ready";
const UNREACHABLE = "node.kubernetes.io/unreachable";
const UNSCHEDULABLE: Taint = { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" };

function nodeBase(o: KObject, rv: number): NodeBase {
  const taints: Taint[] = list(o.spec?.taints) as Taint[];
  // The node lifecycle controller taints a node whose Ready condition is not True; until it
  // has, the condition itself keeps pods off (TaintNodesByCondition).
  const ready = list(o.status?.conditions).find((c) => c.type === "Ready")?.status;
  if (ready !== "True") {
    const key = ready === "Unknown" ? UNREACHABLE : NOT_READY;
    if (!taints.some((t) => t.key === key && t.effect === "NoSchedule"))
      taints.push({ key, effect: "NoSchedule" });
  }
  const allocatable: Resources = new Map();
  addList(allocatable, o.status?.allocatable ?? o.status?.capacity);
  return {
    name: o.metadata.name,
    rv,
    object: o,
    labels: o.metadata.labels ?? {},
    taints,
    unschedulable: o.spec?.unschedulable === true,
    allocatable,
    maxPods: allocatable.get("pods") ?? 0,
  };
}

// ---------------------------------------------------------------------------
// Filtering and scoring over one snapshot

const R_UNSCHEDULABLE = "node(s) were unschedulable";
const R_SELECTOR = "node(s) didn't match Pod's node affinity/selector";
const R_PORTS = "node(s) didn't have free ports for the requested pod ports";
const R_AFFINITY = "node(s) didn't match pod affinity rules";
const R_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
const R_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules";

/** FitError.Error: "0/3 nodes are available: 1 …, 2 …." with the reasons sorted. */
export function fitMessage(nodes: number, reasons: Map<string, number>): string {
  if (nodes === 0) return "no nodes available to schedule pods";
  const parts = [...reasons].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${nodes} nodes are available: ${parts.join(", ")}.`;
}

/** numFeasibleNodesToFind: all below 100 nodes, else an adaptive share (at least 100). */
function feasibleToFind(n: number): number {
  if (n < 100) return n;
  const pct = Math.max(5, 50 - Math.floor(n / 125));
  return Math.max(100, Math.floor((n * pct) / 100));
}

class Snapshot {
  readonly nodes: NodeState[];
  private readonly byName = new Map<string, NodeState>();
  private readonly pods: PodInfo[] = [];
  private readonly withAnti: PodInfo[] = [];
  private readonly domains = new Map<string, Map<string, number>>();
  private readonly nsLabels: Map<string, Record<string, string>>;

  constructor(
    bases: NodeBase[],
    pods: Iterable<PodInfo>,
    nsLabels: Map<string, Record<string, string>>,
  ) {
    this.nsLabels = nsLabels;
    this.nodes = bases.map((b) => ({
      ...b,
      used: new Map(),
      cpu: 0,
      memory: 0,
      pods: [],
      ports: [],
      owners: new Map(),
    }));
    for (const n of this.nodes) this.byName.set(n.name, n);
    for (const p of pods) if (!p.done) this.add(p, p.node);
  }

  /** Count a pod on a node (bound, or just chosen in this round). */
  add(p: PodInfo, nodeName: string) {
    const n = this.byName.get(nodeName);
    if (!n) return;
    this.version++;
    const info = "info" in p ? (p as Incoming).info : p;
    const placed = info.node === nodeName ? info : { ...info, node: nodeName };
    addAll(n.used, p.requests);
    n.cpu += p.cpu;
    n.memory += p.memory;
    n.pods.push(placed);
    n.ports.push(...p.ports);
    if (p.owner) n.owners.set(p.owner, (n.owners.get(p.owner) ?? 0) + 1);
    this.pods.push(placed);
    if (p.antiAffinity.length) this.withAnti.push(placed);
    for (const [id, counts] of this.domains) {
      const term = this.termById.get(id);
      const value = term && n.labels[term.topologyKey];
      if (term && value !== undefined && this.matches(term, placed))
        counts.set(value, (counts.get(value) ?? 0) + 1);
    }
  }

  private readonly termById = new Map<string, Term>();

  private matches(t: Term, p: { namespace: string; labels: Record<string, string> }): boolean {
    if (!t.allNamespaces && !t.namespaces.has(p.namespace)) {
      if (!t.namespaceSelector?.matches(this.nsLabels.get(p.namespace) ?? {})) return false;
    }
    return t.selector.matches(p.labels);
  }

  /** Topology values (of the term's key) whose nodes run a pod the term matches, with counts. */
  private domainsOf(t: Term): Map<string, number> {
    let counts = this.domains.get(t.id);
    if (counts) return counts;
    counts = new Map();
    for (const p of this.pods) {
      const value = this.byName.get(p.node)?.labels[t.topologyKey];
      if (value !== undefined && this.matches(t, p))
        counts.set(value, (counts.get(value) ?? 0) + 1);
    }
    this.domains.set(t.id, counts);
    this.termById.set(t.id, t);
    return counts;
  }

  /** The filter plugins in kube-scheduler's order; the reasons a node fails, or none. */
  private filter(p: Incoming, n: NodeState, forbidden: Set<string>): string[] {
    if (n.unschedulable && !tolerates(p.tolerations, UNSCHEDULABLE)) return [R_UNSCHEDULABLE];
    for (const t of n.taints) {
      if (t.effect !== "NoSchedule" && t.effect !== "NoExecute") continue;
      if (!tolerates(p.tolerations, t))
        return [`node(s) had untolerated taint {${t.key}: ${t.value ?? ""}}`];
    }
    if (
      p.nodeConstraints &&
      !(matchesNodeSelector(p.object, n.object) && matchesRequiredNodeAffinity(p.object, n.object))
    )
      return [R_SELECTOR];
    if (p.ports.length && p.ports.some((a) => n.ports.some((b) => portsClash(a, b))))
      return [R_PORTS];
    const fit: string[] = [];
    if (n.pods.length + 1 > n.maxPods) fit.push("Too many pods");
    for (const [name, want] of p.requests) {
      if (name === "pods") continue;
      if ((n.used.get(name) ?? 0) + want > (n.allocatable.get(name) ?? 0))
        fit.push(`Insufficient ${name}`);
    }
    if (fit.length) return fit;
    if (p.affinity.length && !this.affinityHolds(p, n)) return [R_AFFINITY];
    for (const t of p.antiAffinity) {
      const value = n.labels[t.topologyKey];
      if (value !== undefined && (this.domainsOf(t).get(value) ?? 0) > 0) return [R_ANTI_AFFINITY];
    }
    for (const [k, v] of Object.entries(n.labels))
      if (forbidden.has(`${k}\u0000${v}`)) return [R_EXISTING_ANTI];
    return [];
  }

  private affinityHolds(p: Incoming, n: NodeState): boolean {
    let everyExists = true;
    let anyMatch = false;
    for (const t of p.affinity) {
      const value = n.labels[t.topologyKey];
      if (value === undefined) return false;
      const counts = this.domainsOf(t);
      if (counts.size) anyMatch = true;
      if (!((counts.get(value) ?? 0) > 0)) everyExists = false;
    }
    if (everyExists) return true;
    // The first pod of a group with affinity to itself may go anywhere that has the topology.
    return !anyMatch && p.affinity.every((t) => this.matches(t, p));
  }

  /** Topology pairs where an existing pod's required anti-affinity rejects this pod. */
  private rejectedBy(p: PodInfo): Set<string> {
    const out = new Set<string>();
    for (const e of this.withAnti) {
      const node = this.byName.get(e.node);
      if (!node) continue;
      for (const t of e.antiAffinity) {
        const value = node.labels[t.topologyKey];
        if (value !== undefined && this.matches(t, p)) out.add(`${t.topologyKey}\u0000${value}`);
      }
    }
    return out;
  }

  private nextStart = 0;
  /** Counts pods added: a failure judged at one version holds for an alike pod at the same. */
  private version = 0;
  /** The last failure of each kind of pod (failureKey), with the version it was judged at. */
  private readonly failures = new Map<string, { version: number; message: string }>();

  /** Choose a node for the pod, or say why none fits. */
  place(p: Incoming): { node: NodeState } | { message: string } {
    // A round of 1,000 pods of one ReplicaSet that fit nowhere would filter every node for
    // each; while nothing has been placed meanwhile, the first one's verdict is theirs too.
    const kind = failureKey(p);
    const failed = this.failures.get(kind);
    if (failed?.version === this.version) return { message: failed.message };
    const total = this.nodes.length;
    const want = feasibleToFind(total);
    const reasons = new Map<string, number>();
    const feasible: NodeState[] = [];
    const forbidden = this.rejectedBy(p);
    let seen = 0;
    for (; seen < total && feasible.length < want; seen++) {
      const n = this.nodes[(this.nextStart + seen) % total];
      const why = this.filter(p, n, forbidden);
      if (!why.length) feasible.push(n);
      else for (const r of why) reasons.set(r, (reasons.get(r) ?? 0) + 1);
    }
    if (total) this.nextStart = (this.nextStart + seen) % total;
    if (!feasible.length) {
      const message = fitMessage(total, reasons);
      this.failures.set(kind, { version: this.version, message });
      return { message };
    }
    return { node: this.best(p, feasible) };
  }

  /** Score the feasible nodes; the highest wins, ties broken at random. */
  private best(p: Incoming, nodes: NodeState[]): NodeState {
    let maxOwned = 0;
    let maxPreferred = 0;
    let maxSoftTaints = 0;
    const extra = nodes.map((n) => {
      const owned = p.owner ? (n.owners.get(p.owner) ?? 0) : 0;
      let preferred = 0;
      for (const pref of p.preferred)
        if (termMatches(pref.term, n.object)) preferred += pref.weight;
      let softTaints = 0;
      for (const t of n.taints)
        if (t.effect === "PreferNoSchedule" && !tolerates(p.tolerations, t)) softTaints++;
      maxOwned = Math.max(maxOwned, owned);
      maxPreferred = Math.max(maxPreferred, preferred);
      maxSoftTaints = Math.max(maxSoftTaints, softTaints);
      return { owned, preferred, softTaints };
    });
    let best: NodeState[] = [];
    let top = Number.NEGATIVE_INFINITY;
    nodes.forEach((n, i) => {
      const { owned, preferred, softTaints } = extra[i];
      const cpuFrac = fraction(n.cpu + p.cpu, n.allocatable.get("cpu"));
      const memFrac = fraction(n.memory + p.memory, n.allocatable.get("memory"));
      const leastAllocated = ((1 - cpuFrac + (1 - memFrac)) / 2) * 100;
      const balanced = (1 - Math.abs(cpuFrac - memFrac) / 2) * 100;
      const spread = maxOwned ? ((maxOwned - owned) * 100) / maxOwned : 100;
      const affinity = maxPreferred ? (preferred * 100) / maxPreferred : 0;
      const taints = maxSoftTaints ? ((maxSoftTaints - softTaints) * 100) / maxSoftTaints : 100;
      const score = leastAllocated + balanced + 2 * spread + 2 * affinity + 3 * taints;
      if (score > top + 1e-9) {
        top = score;
        best = [n];
      } else if (Math.abs(score - top) <= 1e-9) best.push(n);
    });
    return best[Math.floor(Math.random() * best.length)];
  }
}

/** Everything about a pod the filters read: pods alike in these get the same verdicts. */
function failureKey(p: Incoming): string {
  const spec = p.object.spec ?? {};
  return JSON.stringify([
    p.namespace,
    p.labels,
    spec.tolerations,
    spec.nodeSelector,
    spec.affinity,
    p.ports,
    [...p.requests],
  ]);
}

const fraction = (used: number, capacity: number | undefined) =>
  capacity ? Math.min(1, used / capacity) : 1;

// ---------------------------------------------------------------------------
// Writes

function setScheduledCondition(
  o: KObject,
  status: "True" | "False",
  stamp: string,
  reason?: string,
  message?: string,
) {
  o.status ??= {};
  const conditions = list(o.status.conditions).filter((c) => c.type !== "PodScheduled");
  const old = list(o.status.conditions).find((c) => c.type === "PodScheduled");
  const c: KObject = {
    type: "PodScheduled",
    status,
    lastProbeTime: null,
    lastTransitionTime: old?.status === status ? old.lastTransitionTime : stamp,
  };
  if (reason) c.reason = reason;
  if (message) c.message = message;
  o.status.conditions = [...conditions, c];
}

/** Whether the pod already says it is unschedulable for this reason. */
function alreadyUnschedulable(o: KObject, message: string): boolean {
  const c = list(o.status?.conditions).find((x) => x.type === "PodScheduled");
  return c?.status === "False" && c.reason === "Unschedulable" && c.message === message;
}

async function eventName(uid: string, name: string, reason: string, message: string) {
  // The naming recordEvent uses, so a later repeat through it finds this event.
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${uid}/${reason}/${message}`),
  );
  const hex = [...new Uint8Array(digest).slice(0, 8)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  return `${name}.${hex}`;
}

async function podEvent(
  pod: KObject,
  type: "Normal" | "Warning",
  reason: string,
  message: string,
  stamp: string,
): Promise<BatchCreate> {
  const m = pod.metadata;
  const name = await eventName(m.uid, m.name, reason, message);
  return {
    key: { resource: "events", namespace: m.namespace, name },
    object: {
      apiVersion: "v1",
      kind: "Event",
      metadata: {
        name,
        namespace: m.namespace,
        uid: crypto.randomUUID(),
        creationTimestamp: stamp,
      },
      involvedObject: {
        apiVersion: "v1",
        kind: "Pod",
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      source: { component: SCHEDULER_NAME },
      reportingComponent: SCHEDULER_NAME,
      reportingInstance: SCHEDULER_NAME,
    },
  };
}

/** Whether a changed node may fit a pod it did not before (a new taint or cordon cannot). */
function roomier(was: NodeBase, now: NodeBase): boolean {
  const taint = (t: Taint) => `${t.key}=${t.value ?? ""}:${t.effect}`;
  const taints = new Set(now.taints.map(taint));
  return (
    (was.unschedulable && !now.unschedulable) ||
    was.taints.some((t) => !taints.has(taint(t))) ||
    [...now.allocatable].some(([k, v]) => v > (was.allocatable.get(k) ?? 0)) ||
    !sameLabels(was.labels, now.labels)
  );
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** Only pods this scheduler should place now. */
function waiting(o: KObject): boolean {
  const spec = o.spec ?? {};
  if (spec.nodeName || o.metadata?.deletionTimestamp) return false;
  if ((spec.schedulerName || SCHEDULER_NAME) !== SCHEDULER_NAME) return false;
  if (list(spec.schedulingGates).length) return false;
  const phase = o.status?.phase;
  return phase !== "Succeeded" && phase !== "Failed";
}

/** Queue order: priority first, then the oldest. */
function queueOrder(a: Incoming, b: Incoming): number {
  const pa = a.object.spec?.priority ?? 0;
  const pb = b.object.spec?.priority ?? 0;
  if (pa !== pb) return pb - pa;
  const ta = a.object.metadata?.creationTimestamp ?? "";
  const tb = b.object.metadata?.creationTimestamp ?? "";
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

// ---------------------------------------------------------------------------
// The Durable Object

/** An unschedulable pod waiting for a change that could make it fit. */
interface Parked {
  rv: number;
  /** The cluster's `epoch` when it was judged. */
  epoch: number;
  /** For a pod with required pod affinity, `bindings` then: a newly bound pod may satisfy it. */
  bindings?: number;
  until: number;
}

export class Scheduler extends Reconciler {
  /** The cluster as of the last round, refreshed by revision. */
  private nodeCache = new Map<string, NodeBase>();
  /** The change-log revision the caches reflect; 0 until the first full read. */
  private cursor = 0;
  /** Pods no node is assigned to, by key, with their revisions. */
  private unbound = new Map<string, Version>();
  private podCache = new Map<string, PodInfo>();
  /** Unschedulable pods by key (kube-scheduler's unschedulable queue). */
  private parked = new Map<string, Parked>();
  /** Counts changes that can free room: nodes added or changed, bound pods gone or finished. */
  private epoch = 0;
  /** Counts bound pods appearing or relabelled (what pod affinity waits for). */
  private bindings = 0;

  protected async reconcile(ctx: Ctx, _key: Key): Promise<Next> {
    const pods = strategyFor("", "pods") as Strategy;
    await this.refresh(ctx);
    const now = ctx.now().getTime();
    const unbound = [...this.unbound.values()];
    const due: Version[] = [];
    const parked = new Map<string, Parked>();
    for (const v of unbound) {
      const key = `${v.namespace}/${v.name}`;
      const p = this.parked.get(key);
      if (
        p &&
        p.rv === v.rv &&
        p.epoch === this.epoch &&
        (p.bindings === undefined || p.bindings === this.bindings) &&
        now < p.until
      )
        parked.set(key, p);
      else if (due.length < BATCH) due.push(v);
    }
    // Pods bound or gone since are no longer waiting.
    this.parked = parked;
    const more = unbound.length - parked.size > due.length;
    // What a pod is judged against: bindings made later in this round may satisfy its affinity.
    const judged = { epoch: this.epoch, bindings: this.bindings, until: now + PARKED_MS };
    const park = (p: Incoming, rv: number) =>
      this.parked.set(p.key, {
        ...judged,
        rv,
        bindings: p.affinity.length ? judged.bindings : undefined,
      });
    const queue: Incoming[] = [];
    for (const r of await bodies(ctx.db, "pods", due)) {
      const p = incoming(withRv(r.body, r.rv), r.rv);
      // Gated or another scheduler's: look again once the pod changes.
      if (waiting(p.object)) queue.push(p);
      else park(p, p.rv);
    }
    queue.sort(queueOrder);
    if (!queue.length) return more ? soon(0) : "resync";

    const snapshot = new Snapshot(
      [...this.nodeCache.values()],
      this.podCache.values(),
      await this.namespaceLabels(ctx, queue),
    );
    const stamp = timestamp(ctx.now());
    const updates: BatchUpdate[] = [];
    const outcome = new Map<string, { node?: string; message?: string; pod: Incoming }>();
    for (const p of queue) {
      try {
        const placed = snapshot.place(p);
        const o = structuredClone(p.object);
        delete o.metadata.resourceVersion;
        if ("node" in placed) {
          snapshot.add(p, placed.node.name);
          o.spec.nodeName = placed.node.name;
          setScheduledCondition(o, "True", stamp);
          outcome.set(p.key, { node: placed.node.name, pod: p });
        } else {
          if (alreadyUnschedulable(p.object, placed.message)) {
            park(p, p.rv);
            continue;
          }
          setScheduledCondition(o, "False", stamp, "Unschedulable", placed.message);
          outcome.set(p.key, { message: placed.message, pod: p });
        }
        updates.push({
          key: { resource: "pods", namespace: p.namespace, name: p.name },
          expectRv: p.rv,
          object: o,
          prev: selectable(pods, p.object),
          nodeName: o.spec.nodeName || null,
        });
      } catch (err) {
        console.error(`scheduler: ${p.key}:`, err);
      }
    }

    if (!updates.length) return more ? soon(0) : "resync";

    const committed = await commitMany(ctx.db, updates);
    const done: Committed[] = [];
    const events: BatchCreate[] = [];
    for (const u of updates) {
      const rv = committed.get(batchKey(u.key));
      if (rv === undefined) continue;
      u.object.metadata.resourceVersion = String(rv);
      done.push({ rv, key: u.key, type: "MODIFIED", object: u.object });
      const o = outcome.get(`${u.key.namespace}/${u.key.name}`);
      if (!o) continue;
      if (o.node) {
        this.podCache.set(o.pod.key, { ...o.pod.info, rv, node: o.node });
        this.unbound.delete(o.pod.key);
        this.bindings++;
        events.push(
          await podEvent(
            u.object,
            "Normal",
            "Scheduled",
            `Successfully assigned ${u.key.namespace}/${u.key.name} to ${o.node}`,
            stamp,
          ),
        );
      } else if (o.message) {
        park(o.pod, rv);
        events.push(await podEvent(u.object, "Warning", "FailedScheduling", o.message, stamp));
      }
    }
    this.announce(ctx, done);
    if (events.length) {
      try {
        const made = await commitMany(ctx.db, [], events);
        const first = events.find((e) => made.has(batchKey(e.key)));
        if (first)
          ctx.onCommit({
            rv: made.get(batchKey(first.key)) ?? 0,
            key: first.key,
            type: "ADDED",
            object: first.object,
          });
      } catch (err) {
        // Events are best effort: the bindings stand.
        console.error("scheduler: events:", err);
      }
    }
    // Pods that changed under us are tried again at once; so are more waiting ones; else rest.
    if (more || done.length < updates.length) return soon(0);
    return "resync";
  }

  /** Watch events and controller pokes, one per distinct set of controllers concerned. */
  private announce(ctx: Ctx, done: Committed[]) {
    const seen = new Set<string>();
    for (const c of done) {
      const sig = targetsFor(c)
        .map((t) => t.name)
        .join("|");
      if (seen.has(sig)) continue;
      seen.add(sig);
      ctx.onCommit(c);
    }
  }

  /**
   * Bring the cached nodes, bound pods and unbound pod revisions up to date. The change log says
   * what was written since the last round, so a round reads only those objects; the first round,
   * or one whose place in the log was compacted away, reads everything.
   */
  private async refresh(ctx: Ctx) {
    // Read before anything else: what is written meanwhile is read again next round.
    const [head, compacted] = await Promise.all([
      currentRevision(ctx.db),
      this.cursor ? compactedRevision(ctx.db) : 0,
    ]);
    if (this.cursor && this.cursor >= compacted) await this.catchUp(ctx, head);
    else await this.reload(ctx);
    this.cursor = head;
  }

  private async reload(ctx: Ctx) {
    const [nodeVersions, podVersions, unbound] = await Promise.all([
      versions(ctx.db, "nodes"),
      versions(ctx.db, "pods"),
      unboundVersions(ctx.db),
    ]);
    this.unbound = new Map(unbound.map((v) => [`${v.namespace}/${v.name}`, v]));
    const nodes = new Map<string, NodeBase>();
    const staleNodes: { namespace: string; name: string }[] = [];
    for (const v of nodeVersions) {
      const had = this.nodeCache.get(v.name);
      if (had && had.rv === v.rv) nodes.set(v.name, had);
      else staleNodes.push(v);
    }
    const oldNodes = this.nodeCache;
    this.nodeCache = nodes;
    for (const r of await bodies(ctx.db, "nodes", staleNodes))
      this.nodeChanged(oldNodes.get(r.name), withRv(r.body, r.rv), r.rv);

    const pods = new Map<string, PodInfo>();
    const stalePods: { namespace: string; name: string }[] = [];
    for (const v of podVersions) {
      const key = `${v.namespace}/${v.name}`;
      const had = this.podCache.get(key);
      if (had && had.rv === v.rv) pods.set(key, had);
      else stalePods.push(v);
    }
    const oldPods = this.podCache;
    for (const key of oldPods.keys()) if (!pods.has(key)) this.epoch++;
    this.podCache = pods;
    for (const r of await bodies(ctx.db, "pods", stalePods)) {
      const info = podInfo(withRv(r.body, r.rv), r.rv);
      if (info.node) this.podChanged(oldPods.get(info.key), info);
    }
  }

  /** Apply what the change log holds after the cursor, up to `head`. */
  private async catchUp(ctx: Ctx, head: number) {
    const changed = await changedSince(ctx.db, ["nodes", "pods"], this.cursor, head);
    const nodeKeys: { namespace: string; name: string }[] = [];
    // Bound pods new to the cache are read whole; a bound pod's spec is fixed, so for one already
    // cached (most are: kubelets reporting status) its node, phase, labels and owner do.
    const podKeys: { namespace: string; name: string }[] = [];
    const cachedKeys: { namespace: string; name: string }[] = [];
    for (const c of changed) {
      if (c.resource === "nodes") {
        if (this.nodeCache.get(c.name)?.rv !== c.rv) nodeKeys.push(c);
        continue;
      }
      const had = this.podCache.get(`${c.namespace}/${c.name}`);
      if (had?.rv !== c.rv) (had ? cachedKeys : podKeys).push(c);
    }
    const [nodeRows, newStates, cachedStates] = await Promise.all([
      bodies(ctx.db, "nodes", nodeKeys),
      podStates(ctx.db, podKeys),
      podStates(ctx.db, cachedKeys),
    ]);
    // A pod deleted and made again under the same name (a StatefulSet's) is a new pod: the one
    // cached is gone, and what it held is free.
    const states: PodState[] = [];
    for (const st of cachedStates) {
      const key = `${st.namespace}/${st.name}`;
      if (this.podCache.get(key)?.uid === st.uid) states.push(st);
      else {
        if (this.podCache.delete(key)) this.epoch++;
        newStates.push(st);
      }
    }
    // A new pod still waiting needs only its revision: the round that tries it reads its body.
    // Reading it whole here too read each pending pod three times (created, tried, then marked
    // Unschedulable by the round itself).
    const found = new Set<string>();
    for (const st of newStates) {
      if (st.nodeName) continue;
      const key = `${st.namespace}/${st.name}`;
      found.add(key);
      this.unbound.set(key, { namespace: st.namespace, name: st.name, rv: st.rv, nodeName: null });
    }
    const podRows = await bodies(
      ctx.db,
      "pods",
      newStates.filter((st) => st.nodeName),
    );
    const foundNodes = new Set(nodeRows.map((r) => r.name));
    for (const k of nodeKeys) if (!foundNodes.has(k.name)) this.nodeCache.delete(k.name);
    for (const r of nodeRows)
      this.nodeChanged(this.nodeCache.get(r.name), withRv(r.body, r.rv), r.rv);

    for (const r of podRows) {
      const key = `${r.namespace}/${r.name}`;
      found.add(key);
      const info = podInfo(withRv(r.body, r.rv), r.rv);
      if (info.node) {
        this.unbound.delete(key);
        this.podChanged(this.podCache.get(key), info);
      } else
        this.unbound.set(key, { namespace: r.namespace, name: r.name, rv: r.rv, nodeName: null });
    }
    for (const st of states) {
      const key = `${st.namespace}/${st.name}`;
      const had = this.podCache.get(key);
      if (!had) continue;
      found.add(key);
      this.podChanged(had, {
        ...had,
        rv: st.rv,
        node: st.nodeName ?? "",
        labels: st.labels ? JSON.parse(st.labels) : {},
        owner: controllerRef({ metadata: { ownerReferences: JSON.parse(st.owners ?? "[]") } })?.uid,
        done: st.phase === "Succeeded" || st.phase === "Failed",
      });
    }
    for (const k of [...podKeys, ...cachedKeys]) {
      const key = `${k.namespace}/${k.name}`;
      if (found.has(key)) continue;
      this.unbound.delete(key);
      if (this.podCache.delete(key)) this.epoch++;
    }
  }

  private nodeChanged(had: NodeBase | undefined, o: KObject, rv: number) {
    const node = nodeBase(o, rv);
    this.nodeCache.set(node.name, node);
    if (!had || roomier(had, node)) this.epoch++;
  }

  /** A bound pod read anew: what it frees or brings for waiting pods. */
  private podChanged(had: PodInfo | undefined, info: PodInfo) {
    this.podCache.set(info.key, info);
    if (!had) this.bindings++;
    else if (had.node !== info.node || had.done !== info.done) this.epoch++;
    else if (!sameLabels(had.labels, info.labels)) {
      this.epoch++;
      this.bindings++;
    }
  }

  /** Namespace labels, read only when some term selects namespaces by label. */
  private async namespaceLabels(ctx: Ctx, queue: Incoming[]) {
    const out = new Map<string, Record<string, string>>();
    const uses = (terms: Term[]) => terms.some((t) => t.namespaceSelector);
    const needed =
      queue.some((p) => uses(p.affinity) || uses(p.antiAffinity)) ||
      [...this.podCache.values()].some((p) => uses(p.antiAffinity));
    if (!needed) return out;
    const { rows } = await listObjects(ctx.db, { resource: "namespaces" });
    for (const r of rows) out.set(r.name, withRv(r.body, r.rv).metadata?.labels ?? {});
    return out;
  }
}
