// Pod bookkeeping shared by the ReplicaSet and Deployment controllers, after Kubernetes'
// pkg/controller/controller_utils.go (FilterActivePods, ActivePods ordering, slowStartBatch,
// ControllerExpectations, GetPodFromTemplate) and pkg/api/v1/pod (IsPodReady, IsPodAvailable).
import { newControllerRef } from "../k8s/owner-refs.ts";
import type { KObject } from "../store/objects.ts";
import type { Involved } from "./events.ts";
import { isPodReady, readyCondition } from "./pod-state.ts";

/** The object an Event is about. */
export const involved = (o: KObject): Involved => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  metadata: {
    name: o.metadata.name,
    namespace: o.metadata.namespace,
    uid: o.metadata.uid,
    resourceVersion: o.metadata.resourceVersion,
  },
});

/** The first batch of a slow start (controller.SlowStartInitialBatchSize). */
export const SLOW_START_INITIAL_BATCH = 1;

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };
const phaseRank = (p: KObject) => PHASE_RANK[p.status?.phase ?? "Pending"] ?? 0;
const time = (s: string | undefined) => (s ? Date.parse(s) || 0 : 0);
const restarts = (p: KObject) =>
  (p.status?.containerStatuses ?? []).reduce(
    (n: number, c: KObject) => Math.max(n, c.restartCount ?? 0),
    0,
  );

/** controller.kubernetes.io/pod-deletion-cost: pods that cost less to lose go first. */
const deletionCost = (p: KObject): number => {
  const v = Number(p.metadata?.annotations?.["controller.kubernetes.io/pod-deletion-cost"]);
  return Number.isInteger(v) ? v : 0;
};

/**
 * ActivePodsWithRanks.Less: the pods to delete first sort first — unscheduled, then pending,
 * not ready, cheapest to delete, crowded onto one node (rank), ready for the shortest time, restarted most, newest.
 */
export function deletionOrder(ranks: Map<string, number> = new Map()) {
  const rank = (p: KObject) => ranks.get(p.metadata.name) ?? 0;
  return (a: KObject, b: KObject): number => {
    const na = !!a.spec?.nodeName;
    const nb = !!b.spec?.nodeName;
    if (na !== nb) return na ? 1 : -1;
    if (phaseRank(a) !== phaseRank(b)) return phaseRank(a) - phaseRank(b);
    if (isPodReady(a) !== isPodReady(b)) return isPodReady(a) ? 1 : -1;
    if (deletionCost(a) !== deletionCost(b)) return deletionCost(a) - deletionCost(b);
    if (rank(a) !== rank(b)) return rank(b) - rank(a);
    if (isPodReady(a) && isPodReady(b)) {
      const ra = time(readyCondition(a)?.lastTransitionTime);
      const rb = time(readyCondition(b)?.lastTransitionTime);
      if (ra !== rb) return rb - ra;
    }
    if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
    const ca = time(a.metadata?.creationTimestamp);
    const cb = time(b.metadata?.creationTimestamp);
    if (ca !== cb) return cb - ca;
    return a.metadata.name < b.metadata.name ? 1 : -1;
  };
}

/** getPodsToDelete: the `n` pods that hurt least to lose, ranked by how crowded their node is. */
export function podsToDelete(pods: KObject[], n: number): KObject[] {
  if (n >= pods.length) return [...pods];
  const perNode = new Map<string, number>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    if (node) perNode.set(node, (perNode.get(node) ?? 0) + 1);
  }
  const ranks = new Map(
    pods.map((p) => [p.metadata.name, p.spec?.nodeName ? (perNode.get(p.spec.nodeName) ?? 0) : 0]),
  );
  return [...pods].sort(deletionOrder(ranks)).slice(0, n);
}

/**
 * slowStartBatch: call `fn` `count` times in batches of 1, 2, 4 … (from `initial`), stopping after
 * the first batch with a failure, so a template that cannot work costs one call, not hundreds.
 * Returns how many calls succeeded and the first error.
 */
export async function slowStartBatch(
  count: number,
  initial: number,
  fn: () => Promise<void>,
): Promise<{ successes: number; error?: unknown }> {
  let remaining = count;
  let successes = 0;
  for (
    let batch = Math.min(remaining, initial);
    batch > 0;
    batch = Math.min(2 * batch, remaining)
  ) {
    const results = await settleAll(batch, fn);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    successes += results.length - results.filter((r) => r.status === "rejected").length;
    if (failed) return { successes, error: failed.reason };
    remaining -= batch;
  }
  return { successes };
}

/**
 * Run `fn` `n` times, at most IN_FLIGHT at once. Every write waits its turn at the one D1
 * writer: a batch of 64 creates issued together would queue ahead of every user request, while a
 * few at a time take as long in total and leave room between them.
 */
async function settleAll(n: number, fn: () => Promise<void>) {
  const results: PromiseSettledResult<void>[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, IN_FLIGHT) }, async () => {
      while (started < n) {
        started++;
        try {
          results.push({ status: "fulfilled", value: await fn() });
        } catch (reason) {
          results.push({ status: "rejected", reason });
        }
      }
    }),
  );
  return results;
}

const IN_FLIGHT = 8;

/** How long expectations are trusted before a reconcile goes ahead anyway (ExpectationsTimeout). */
const EXPECTATIONS_TTL_MS = 5 * 60_000;

/**
 * ControllerExpectations for one controller instance: creations and deletions asked for and not
 * yet seen. While any are outstanding, a reconcile (a repeated alarm, an RPC that raced the alarm)
 * must not size the set again, or it would create twice. The store is read-your-writes, so a write
 * that returned is "seen"; what stays outstanding is what is still in flight.
 */
export class Expectations {
  private adds = 0;
  private dels = new Set<string>();
  private at = 0;

  expectCreations(n: number, now = Date.now()): void {
    this.adds += n;
    this.at = now;
  }

  creationObserved(): void {
    if (this.adds > 0) this.adds--;
  }

  expectDeletions(names: string[], now = Date.now()): void {
    for (const n of names) this.dels.add(n);
    this.at = now;
  }

  deletionObserved(name: string): void {
    this.dels.delete(name);
  }

  /** SatisfiedExpectations: nothing outstanding, or the record is too old to trust. */
  satisfied(now = Date.now()): boolean {
    return (this.adds <= 0 && this.dels.size === 0) || now - this.at > EXPECTATIONS_TTL_MS;
  }

  clear(): void {
    this.adds = 0;
    this.dels.clear();
  }
}

/** controller.getPodsPrefix: "<owner>-" for generateName. */
export const podsPrefix = (owner: string): string => `${owner}-`;

/** GetPodFromTemplate: a pod of the template, controlled by `owner`. */
export function podFromTemplate(template: KObject, owner: KObject): KObject {
  const labels = { ...(template.metadata?.labels ?? {}) };
  if (!Object.keys(labels).length) throw new Error("unable to create pods, no labels");
  const meta: KObject = {
    generateName: podsPrefix(owner.metadata.name),
    labels,
    ownerReferences: [
      newControllerRef({
        apiVersion: owner.apiVersion,
        kind: owner.kind,
        metadata: { name: owner.metadata.name, uid: owner.metadata.uid },
      }),
    ],
  };
  if (template.metadata?.annotations) meta.annotations = { ...template.metadata.annotations };
  if (template.metadata?.finalizers?.length) meta.finalizers = [...template.metadata.finalizers];
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: meta,
    spec: structuredClone(template.spec ?? {}),
  };
}
