// Node lifecycle (Kubernetes' node lifecycle controller with taint-based eviction and PodGC's
// orphan sweep), one instance per node named `nodes//<node>`. Its alarm sits at the Lease's
// expiry (renewTime + NODE_MONITOR_GRACE_SECONDS): a node that stopped renewing turns
// Ready=Unknown and gets the unreachable taints; pods that do not tolerate a NoExecute taint
// are evicted once their tolerationSeconds run out, so their controllers replace them on other
// nodes. A renewed Lease lifts it all again; a deleted node takes its pods with it.
import { ApiError } from "../k8s/errors.ts";
import { type Taint, type Toleration, toleratesTaint } from "../k8s/node-match.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Ctx, remove, timestamp, update } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import { getObject, type Key, type KObject, listObjects, withRv } from "../store/objects.ts";
import { recordEvent } from "./events.ts";
import { graceMsOf } from "./pokes.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";

export const NOT_READY = "node.kubernetes.io/not-ready";
export const UNREACHABLE = "node.kubernetes.io/unreachable";
const COMPONENT = "node-controller";
/** Conditions a silent kubelet can no longer vouch for. */
const KUBELET_CONDITIONS: Record<string, { reason: string; message: string }> = {
  MemoryPressure: {
    reason: "KubeletHasSufficientMemory",
    message: "kubelet has sufficient memory available",
  },
  DiskPressure: { reason: "KubeletHasNoDiskPressure", message: "kubelet has no disk pressure" },
  PIDPressure: {
    reason: "KubeletHasSufficientPID",
    message: "kubelet has sufficient PID available",
  },
};
const SILENT = "Kubelet stopped posting node status.";
const OURS = new Set(["NodeStatusUnknown", "NodeStatusNeverUpdated"]);

const list = (v: unknown): KObject[] =>
  Array.isArray(v) ? v.filter((x) => x && typeof x === "object") : [];

const readyOf = (node: KObject) => list(node.status?.conditions).find((c) => c.type === "Ready");

const ms = (t: unknown): number => {
  const n = typeof t === "string" ? Date.parse(t) : Number.NaN;
  return Number.isNaN(n) ? 0 : n;
};

const strategy = (plural: string) => strategyFor("", plural) as Strategy;

async function ignoreGone<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return undefined;
    throw err;
  }
}

/** The taints a node's Ready condition calls for (TaintNodesByCondition, NoExecute eviction). */
function conditionTaints(node: KObject, stamp: string): Taint[] {
  const ready = readyOf(node)?.status;
  if (ready === "True" || ready === undefined) return [];
  const key = ready === "Unknown" ? UNREACHABLE : NOT_READY;
  return [
    { key, effect: "NoSchedule" },
    { key, effect: "NoExecute", timeAdded: stamp },
  ];
}

/**
 * How long a toleration lets a pod stay; undefined is forever. The DefaultTolerationSeconds
 * admission gave every pod its not-ready/unreachable seconds, so the pod says it all.
 */
const toleranceMs = (t: Toleration): number | undefined =>
  typeof t.tolerationSeconds === "number" ? Math.max(0, t.tolerationSeconds) * 1000 : undefined;

export class NodeLifecycle extends Reconciler {
  /** When this instance first saw a NoExecute taint that carries no timeAdded. */
  private seen = new Map<string, number>();

  private get graceMs() {
    return graceMsOf(this.env);
  }

  protected async reconcile(ctx: Ctx, key: Key): Promise<Next> {
    const name = key.name;
    const [node, lease] = await Promise.all([
      getObject(ctx.db, { resource: "nodes", namespace: "", name }),
      getObject(ctx.db, {
        resource: "coordination.k8s.io/leases",
        namespace: "kube-node-lease",
        name,
      }),
    ]);
    if (!node) return this.nodeGone(ctx, name);
    const now = ctx.now().getTime();
    let o = node.object;
    const heard = Math.max(
      ms(lease?.object.spec?.renewTime),
      ms(readyOf(o)?.lastHeartbeatTime),
      ms(o.metadata.creationTimestamp),
    );
    const expiry = heard + this.graceMs;
    const alive = now < expiry;
    o = alive ? await this.recovered(ctx, o) : await this.silent(ctx, o);
    o = await this.syncTaints(ctx, o);
    const nextEviction = await this.evict(ctx, o, now);
    const waits = [nextEviction];
    if (alive) waits.push(expiry - now + 10);
    const next = Math.min(...waits.filter((w): w is number => w !== undefined));
    return Number.isFinite(next) ? soon(next) : "resync";
  }

  /** The kubelet went quiet: its conditions become Unknown (tryUpdateNodeHealth). */
  private async silent(ctx: Ctx, node: KObject): Promise<KObject> {
    const stamp = timestamp(ctx.now());
    const unknown = (c: KObject) => c.status === "Unknown";
    const ready = readyOf(node);
    const stale = list(node.status?.conditions).filter(
      (c) => (c.type === "Ready" || c.type in KUBELET_CONDITIONS) && !unknown(c),
    );
    if (ready && !stale.length) return node;
    const wasReady = ready?.status === "True";
    const res = await ignoreGone(
      update(
        ctx,
        strategy("nodes"),
        "",
        node.metadata.name,
        (n) => {
          n.status ??= {};
          const conditions = list(n.status.conditions);
          for (const c of conditions) {
            if ((c.type !== "Ready" && !(c.type in KUBELET_CONDITIONS)) || unknown(c)) continue;
            c.status = "Unknown";
            c.reason = "NodeStatusUnknown";
            c.message = SILENT;
            c.lastTransitionTime = stamp;
          }
          if (!conditions.some((c) => c.type === "Ready"))
            conditions.push({
              type: "Ready",
              status: "Unknown",
              reason: "NodeStatusNeverUpdated",
              message: "Kubelet never posted node status.",
              lastHeartbeatTime: n.metadata.creationTimestamp,
              lastTransitionTime: stamp,
            });
          n.status.conditions = conditions;
          return n;
        },
        { subresource: "status" },
      ),
    );
    if (!res) return node;
    if (wasReady) await this.markPodsNotReady(ctx, node.metadata.name);
    return res.object;
  }

  /** The Lease is fresh again: undo what silence did (the kubelet may not repost its status). */
  private async recovered(ctx: Ctx, node: KObject): Promise<KObject> {
    const ours = list(node.status?.conditions).filter(
      (c) => c.status === "Unknown" && OURS.has(c.reason),
    );
    if (!ours.length) return node;
    const stamp = timestamp(ctx.now());
    const res = await ignoreGone(
      update(
        ctx,
        strategy("nodes"),
        "",
        node.metadata.name,
        (n) => {
          for (const c of list(n.status?.conditions)) {
            if (c.status !== "Unknown" || !OURS.has(c.reason)) continue;
            const back = c.type === "Ready" ? undefined : KUBELET_CONDITIONS[c.type];
            c.status = back ? "False" : "True";
            c.reason = back?.reason ?? "KubeletReady";
            c.message = back?.message ?? "kubelet is posting ready status";
            c.lastHeartbeatTime = stamp;
            c.lastTransitionTime = stamp;
          }
          return n;
        },
        { subresource: "status" },
      ),
    );
    return res?.object ?? node;
  }

  /** Keep the not-ready/unreachable taints in step with the Ready condition. */
  private async syncTaints(ctx: Ctx, node: KObject): Promise<KObject> {
    const stamp = timestamp(ctx.now());
    const want = conditionTaints(node, stamp);
    const managed = (t: Taint) => t.key === NOT_READY || t.key === UNREACHABLE;
    const have = (list(node.spec?.taints) as Taint[]).filter(managed);
    const same =
      have.length === want.length &&
      want.every((w) => have.some((h) => h.key === w.key && h.effect === w.effect));
    if (same) return node;
    const res = await ignoreGone(
      update(ctx, strategy("nodes"), "", node.metadata.name, (n) => {
        const kept = (list(n.spec?.taints) as Taint[]).filter((t) => !managed(t));
        const taints = [...kept, ...want];
        n.spec ??= {};
        if (taints.length) n.spec.taints = taints;
        else delete n.spec.taints;
        return n;
      }),
    );
    return res?.object ?? node;
  }

  /** MarkPodsNotReady: a node nobody hears from runs no ready pods. */
  private async markPodsNotReady(ctx: Ctx, nodeName: string) {
    const stamp = timestamp(ctx.now());
    for (const pod of await this.podsOn(ctx, nodeName)) {
      const ready = list(pod.status?.conditions).find((c) => c.type === "Ready");
      if (ready?.status !== "True") continue;
      try {
        await ignoreGone(
          update(
            ctx,
            strategy("pods"),
            pod.metadata.namespace,
            pod.metadata.name,
            (p) => {
              for (const c of list(p.status?.conditions))
                if (c.type === "Ready" && c.status === "True") {
                  c.status = "False";
                  c.lastTransitionTime = stamp;
                }
              return p;
            },
            { subresource: "status" },
          ),
        );
      } catch (err) {
        console.error(`node lifecycle: mark ${pod.metadata.name} not ready:`, err);
      }
    }
  }

  private async podsOn(ctx: Ctx, nodeName: string): Promise<KObject[]> {
    const { rows } = await listObjects(ctx.db, { resource: "pods", nodeName });
    return rows.map((r) => withRv(r.body, r.rv));
  }

  /**
   * Taint-based eviction: pods that do not tolerate every NoExecute taint go now, the others
   * when their shortest tolerationSeconds has run since the taint came. Returns the ms until the
   * next one is due, if any.
   */
  private async evict(ctx: Ctx, node: KObject, now: number): Promise<number | undefined> {
    const taints = (list(node.spec?.taints) as Taint[]).filter((t) => t.effect === "NoExecute");
    const live = new Set(taints.map((t) => `${t.key}=${t.value ?? ""}`));
    for (const k of this.seen.keys()) if (!live.has(k)) this.seen.delete(k);
    if (!taints.length) return undefined;
    const since = Math.min(
      ...taints.map((t) => {
        const id = `${t.key}=${t.value ?? ""}`;
        if (t.timeAdded) return ms(t.timeAdded);
        if (!this.seen.has(id)) this.seen.set(id, now);
        return this.seen.get(id) as number;
      }),
    );
    let next: number | undefined;
    for (const pod of await this.podsOn(ctx, node.metadata.name)) {
      if (pod.metadata.deletionTimestamp) continue;
      const tolerations = list(pod.spec?.tolerations) as Toleration[];
      let due: number | undefined = now;
      let all = true;
      let tolerance: number | undefined;
      for (const taint of taints) {
        const matching = tolerations.filter((t) => toleratesTaint(t, taint));
        if (!matching.length) {
          all = false;
          break;
        }
        for (const t of matching) {
          const m = toleranceMs(t);
          if (m !== undefined) tolerance = Math.min(tolerance ?? m, m);
        }
      }
      if (all) due = tolerance === undefined ? undefined : since + tolerance;
      if (due === undefined) continue;
      if (due > now) {
        next = Math.min(next ?? due - now, due - now);
        continue;
      }
      try {
        await this.evictPod(ctx, pod);
      } catch (err) {
        console.error(`node lifecycle: evict ${pod.metadata.name}:`, err);
        next = Math.min(next ?? 1000, 1000);
      }
    }
    return next;
  }

  private async evictPod(ctx: Ctx, pod: KObject) {
    const s = strategy("pods");
    const { namespace, name } = pod.metadata;
    const stamp = timestamp(ctx.now());
    await ignoreGone(
      update(
        ctx,
        s,
        namespace,
        name,
        (p) => {
          p.status ??= {};
          const conditions = list(p.status.conditions).filter((c) => c.type !== "DisruptionTarget");
          conditions.push({
            type: "DisruptionTarget",
            status: "True",
            reason: "DeletionByTaintManager",
            message: "Taint manager: deleting due to NoExecute taint",
            lastTransitionTime: stamp,
          });
          p.status.conditions = conditions;
          return p;
        },
        { subresource: "status" },
      ),
    );
    await ignoreGone(remove(ctx, s, namespace, name, { preconditions: { uid: pod.metadata.uid } }));
    try {
      await recordEvent(
        ctx,
        { apiVersion: "v1", kind: "Pod", metadata: pod.metadata },
        "Normal",
        "TaintManagerEviction",
        `Marking for deletion Pod ${namespace}/${name}`,
        COMPONENT,
      );
    } catch (err) {
      console.warn("node lifecycle: event:", err);
    }
  }

  /** The node is gone: so are its pods (PodGC's orphan sweep), at once. */
  private async nodeGone(ctx: Ctx, nodeName: string): Promise<Next> {
    this.seen.clear();
    const pods = await this.podsOn(ctx, nodeName);
    let failed = false;
    for (const pod of pods) {
      try {
        await ignoreGone(
          remove(ctx, strategy("pods"), pod.metadata.namespace, pod.metadata.name, {
            gracePeriodSeconds: 0,
            preconditions: { uid: pod.metadata.uid },
          }),
        );
      } catch (err) {
        failed = true;
        console.error(`node lifecycle: delete ${pod.metadata.name} of gone node:`, err);
      }
    }
    return failed ? soon(1000) : "gone";
  }
}
