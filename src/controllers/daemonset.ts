// The DaemonSet controller (Kubernetes' pkg/controller/daemon): one pod on every node the pod
// template fits (nodeSelector, required node affinity, NoSchedule/NoExecute taints), created
// bound to its node: spec.nodeName set and a required node affinity on metadata.name, as the
// controller has written it since 1.12. Nodes coming and going poke a sweep of every DaemonSet
// (pokes.ts). RollingUpdate replaces pods of an older template, at most maxUnavailable nodes
// at a time; OnDelete waits for someone to delete them. Templates are kept as
// ControllerRevisions (history.ts), whose hash labels the pods; revisionHistoryLimit prunes them.
import { scaledValue } from "../k8s/intstr.ts";
import {
  matchesNodeSelector,
  matchesRequiredNodeAffinity,
  type Toleration,
  untoleratedTaint,
} from "../k8s/node-match.ts";
import { TEMPLATE_GENERATION } from "../resources/daemonset.ts";
import { type Ctx, create } from "../resources/rest.ts";
import { intOrPercentValue } from "../resources/workload.ts";
import { getObject, type Key, type KObject, listObjects, withRv } from "../store/objects.ts";
import { currentRevision, deleteRevisions, listRevisions, REVISION_HASH } from "./history.ts";
import {
  controllerRefTo,
  deleteOwnedPod,
  deletePod,
  event,
  isConflict,
  ownedBy,
  SerialReconciler,
  slowStart,
  strategy,
  writeStatus,
} from "./job.ts";
import { isPodAvailable, isPodReady } from "./pod-state.ts";
import { type Next, soon } from "./reconciler.ts";

/** The older label with the template generation (extensions.DaemonSetTemplateGenerationKey). */
const TEMPLATE_GENERATION_LABEL = "pod-template-generation";
const COMPONENT = "daemonset-controller";
const BURST = 250;

/** What AddOrUpdateDaemonPodTolerations adds: daemons survive node trouble and cordons. */
function daemonTolerations(hostNetwork: boolean): Toleration[] {
  const t = (key: string, effect: string): Toleration => ({
    key: `node.kubernetes.io/${key}`,
    operator: "Exists",
    effect,
  });
  const out = [
    t("not-ready", "NoExecute"),
    t("unreachable", "NoExecute"),
    t("disk-pressure", "NoSchedule"),
    t("memory-pressure", "NoSchedule"),
    t("pid-pressure", "NoSchedule"),
    t("unschedulable", "NoSchedule"),
  ];
  if (hostNetwork) out.push(t("network-unavailable", "NoSchedule"));
  return out;
}

function withDaemonTolerations(spec: KObject): Toleration[] {
  const list: Toleration[] = [...(spec.tolerations ?? [])];
  for (const add of daemonTolerations(spec.hostNetwork === true)) {
    const same = (t: Toleration) =>
      t.key === add.key && t.effect === add.effect && (t.operator ?? "Equal") === add.operator;
    if (!list.some(same)) list.push(add);
  }
  return list;
}

/** ReplaceDaemonSetPodNodeNameNodeAffinity: the pod may only ever run on `node`. */
function pinnedAffinity(affinity: KObject | undefined, node: string): KObject {
  const terms = [{ matchFields: [{ key: "metadata.name", operator: "In", values: [node] }] }];
  const a = structuredClone(affinity ?? {});
  a.nodeAffinity ??= {};
  a.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms: terms };
  return a;
}

/** NodeShouldRunDaemonPod: should a daemon pod start here, and may a running one stay? */
export function shouldRun(ds: KObject, node: KObject): { run: boolean; stay: boolean } {
  const spec = ds.spec?.template?.spec ?? {};
  if (spec.nodeName && spec.nodeName !== node.metadata.name) return { run: false, stay: false };
  const pod = { spec: { ...spec, tolerations: withDaemonTolerations(spec) } };
  if (!matchesNodeSelector(pod, node) || !matchesRequiredNodeAffinity(pod, node))
    return { run: false, stay: false };
  if (untoleratedTaint(pod, node, ["NoSchedule", "NoExecute"]))
    return { run: false, stay: !untoleratedTaint(pod, node, ["NoExecute"]) };
  return { run: true, stay: true };
}

const generationOf = (ds: KObject) => ds.metadata.annotations?.[TEMPLATE_GENERATION] ?? "1";

/** IsPodUpdated: made from the current template (by hash, or by template generation). */
const isUpdated = (ds: KObject, hash: string, pod: KObject) =>
  pod.metadata.labels?.[REVISION_HASH] === hash ||
  pod.metadata.labels?.[TEMPLATE_GENERATION_LABEL] === generationOf(ds);

/** podByCreationTimestampAndPhase: running before pending, then oldest first. */
const oldestFirst = (a: KObject, b: KObject) => {
  const running = (p: KObject) => (p.status?.phase === "Running" ? 0 : 1);
  return (
    running(a) - running(b) ||
    (Date.parse(a.metadata.creationTimestamp) || 0) -
      (Date.parse(b.metadata.creationTimestamp) || 0)
  );
};

/** findUpdatedPodsOnNode: the node's one new and one old pod; not ok when either is doubled. */
function updatedOnNode(ds: KObject, hash: string, pods: KObject[] = []) {
  let fresh: KObject | undefined;
  let old: KObject | undefined;
  for (const p of pods) {
    if (p.metadata.deletionTimestamp) continue;
    if (isUpdated(ds, hash, p)) {
      if (fresh) return { ok: false };
      fresh = p;
    } else {
      if (old) return { ok: false };
      old = p;
    }
  }
  return { fresh, old, ok: true };
}

/** util.AllowsSurge. */
const allowsSurge = (ds: KObject) =>
  ds.spec?.updateStrategy?.type === "RollingUpdate" &&
  intOrPercentValue(ds.spec.updateStrategy.rollingUpdate?.maxSurge) > 0;

/**
 * podsShouldBeOnNode's pruning of a node's running pods: all but the oldest; with surge, the
 * oldest new pod may run beside the oldest old one until it is available (or the old one fails).
 */
function excessPods(ds: KObject, hash: string, running: KObject[], now: Date): KObject[] {
  const sorted = [...running].sort(oldestFirst);
  if (!allowsSurge(ds)) return sorted.slice(1);
  let oldestNew: KObject | undefined;
  let oldestOld: KObject | undefined;
  const out: KObject[] = [];
  for (const p of sorted) {
    if (p.metadata.labels?.[REVISION_HASH] === hash) {
      if (!oldestNew) oldestNew = p;
      else out.push(p);
    } else if (!oldestOld) oldestOld = p;
    else out.push(p);
  }
  if (
    oldestNew &&
    oldestOld &&
    (!isPodReady(oldestOld) ||
      isPodAvailable(oldestNew, ds.spec?.minReadySeconds ?? 0, now.getTime()))
  )
    out.push(oldestOld);
  return out;
}

/** The node a daemon pod belongs to: its binding, else the node its affinity pins. */
function nodeOf(pod: KObject): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      ?.nodeSelectorTerms ?? [];
  for (const t of terms)
    for (const f of t.matchFields ?? [])
      if (f.key === "metadata.name" && f.operator === "In" && f.values?.length === 1)
        return f.values[0];
  return undefined;
}

export class DaemonSetController extends SerialReconciler {
  protected async sync(ctx: Ctx, key: Key, now: Date): Promise<Next> {
    const found = await getObject(ctx.db, key);
    if (!found) return "gone";
    const ds = found.object;
    // Being deleted: the garbage collector removes the pods.
    if (ds.metadata.deletionTimestamp) return "resync";
    try {
      return await this.syncDaemonSet(ctx, ds, now);
    } catch (err) {
      if (isConflict(err)) return soon(100);
      throw err;
    }
  }

  private async syncDaemonSet(ctx: Ctx, ds: KObject, now: Date): Promise<Next> {
    const { rows } = await listObjects(ctx.db, { resource: "nodes" });
    const nodes = rows.map((r) => withRv(r.body, r.rv));
    const pods = await ownedBy(ctx, "pods", ds.metadata.namespace, ds.metadata.uid);
    // constructHistory: the revision of the current template, numbered newest.
    const history = await listRevisions(ctx, ds);
    const { revision, collisionCount } = await currentRevision(
      ctx,
      ds,
      history,
      ds.spec?.template ?? {},
      ds.status?.collisionCount,
    );
    const hash: string = revision.metadata.labels?.[REVISION_HASH];
    const byNode = new Map<string, KObject[]>();
    for (const p of pods) {
      // Finished pods already deleted are only waiting to disappear.
      if (p.metadata.deletionTimestamp && ["Succeeded", "Failed"].includes(p.status?.phase))
        continue;
      const n = nodeOf(p) ?? "";
      byNode.set(n, [...(byNode.get(n) ?? []), p]);
    }
    const fit = new Map(nodes.map((n) => [n.metadata.name as string, shouldRun(ds, n)]));

    // manage: a pod where one should run, none where none may stay, one per node.
    const create: string[] = [];
    const remove: KObject[] = [];
    const gone: KObject[] = [];
    for (const node of nodes) {
      const name: string = node.metadata.name;
      const { run, stay } = fit.get(name) ?? { run: false, stay: false };
      const daemonPods = byNode.get(name) ?? [];
      if (run && daemonPods.length === 0) create.push(name);
      else if (stay) {
        const running: KObject[] = [];
        for (const p of daemonPods) {
          if (p.metadata.deletionTimestamp) continue;
          if (p.status?.phase === "Failed") {
            await event(
              ctx,
              ds,
              "Warning",
              "FailedDaemonPod",
              `Found failed daemon pod ${p.metadata.namespace}/${p.metadata.name} on node ${name}, will try to kill it`,
              COMPONENT,
            );
            remove.push(p);
          } else running.push(p);
        }
        if (run && running.length === 0) create.push(name);
        if (running.length > 1) remove.push(...excessPods(ds, hash, running, now));
      } else remove.push(...daemonPods.filter((p) => !p.metadata.deletionTimestamp));
    }
    // Pods of nodes that no longer exist: no kubelet will confirm them, so they go at once.
    for (const [name, list] of byNode) if (!fit.has(name)) gone.push(...list);

    let changed = false;
    for (const p of gone) {
      await deletePod(ctx, p, 0);
      changed = true;
    }
    changed = (await this.syncNodes(ctx, ds, remove, create.slice(0, BURST), hash)) || changed;
    if (!changed && ds.spec?.updateStrategy?.type === "RollingUpdate")
      changed = await this.rollingUpdate(ctx, ds, nodes, fit, byNode, hash, now);
    await this.cleanupHistory(ctx, ds, history, revision, pods);
    await this.updateStatus(ctx, ds, nodes, fit, byNode, hash, collisionCount, now);
    if (changed) return soon(500);
    // Pods becoming available after minReadySeconds need a look then.
    return ds.spec?.minReadySeconds
      ? soon(Math.min(ds.spec.minReadySeconds * 1000, 60_000))
      : "resync";
  }

  /** Delete, then create (slow start); true when anything was asked for. */
  private async syncNodes(
    ctx: Ctx,
    ds: KObject,
    remove: KObject[],
    createOn: string[],
    hash: string,
  ): Promise<boolean> {
    for (const p of remove) await deleteOwnedPod(ctx, ds, p, COMPONENT);
    const { made, error } = await slowStart(createOn.length, async (i) => {
      const { object } = await create(
        ctx,
        strategy("", "pods"),
        ds.metadata.namespace,
        this.podFor(ds, createOn[i], hash),
      );
      await event(
        ctx,
        ds,
        "Normal",
        "SuccessfulCreate",
        `Created pod: ${object.metadata.name}`,
        COMPONENT,
      );
    });
    if (error) {
      const msg = error instanceof Error ? error.message : String(error);
      await event(ctx, ds, "Warning", "FailedCreate", `Error creating: ${msg}`, COMPONENT);
      if (!made) throw error;
    }
    return remove.length + createOn.length > 0;
  }

  private podFor(ds: KObject, node: string, hash: string): KObject {
    const t = structuredClone(ds.spec?.template ?? {});
    const spec = t.spec ?? {};
    const meta = t.metadata ?? {};
    return {
      metadata: {
        generateName: `${ds.metadata.name}-`.slice(0, 58),
        labels: {
          ...meta.labels,
          [REVISION_HASH]: hash,
          [TEMPLATE_GENERATION_LABEL]: generationOf(ds),
        },
        ...(meta.annotations && { annotations: meta.annotations }),
        ...(meta.finalizers && { finalizers: meta.finalizers }),
        ownerReferences: [controllerRefTo(ds)],
      },
      spec: {
        ...spec,
        nodeName: node,
        affinity: pinnedAffinity(spec.affinity, node),
        tolerations: withDaemonTolerations(spec),
      },
    };
  }

  /**
   * rollingUpdate. Without surge: replace old pods while at most maxUnavailable nodes lack an
   * available one. With maxSurge: start the new pod beside the old one on up to maxSurge nodes
   * at a time, and delete the old pod once the new one is available.
   */
  private async rollingUpdate(
    ctx: Ctx,
    ds: KObject,
    nodes: KObject[],
    fit: Map<string, { run: boolean; stay: boolean }>,
    byNode: Map<string, KObject[]>,
    hash: string,
    now: Date,
  ): Promise<boolean> {
    const desired = nodes.filter((n) => fit.get(n.metadata.name)?.run);
    const ru = ds.spec?.updateStrategy?.rollingUpdate ?? {};
    const maxSurge = scaledValue(ru.maxSurge ?? 0, desired.length, true);
    if (maxSurge > 0) return this.surge(ctx, ds, desired, byNode, hash, maxSurge, now);
    // updatedDesiredNodeCounts: neither surge nor unavailability would never progress.
    const maxUnavailable = scaledValue(ru.maxUnavailable ?? 1, desired.length, true) || 1;
    const available = (p: KObject) =>
      isPodAvailable(p, ds.spec?.minReadySeconds ?? 0, now.getTime());
    let unavailable = 0;
    const replace: KObject[] = [];
    const candidates: KObject[] = [];
    for (const node of desired) {
      const { fresh, old, ok } = updatedOnNode(ds, hash, byNode.get(node.metadata.name));
      if (!ok || (!fresh && !old) || (fresh && old)) unavailable++;
      else if (fresh) {
        if (!available(fresh)) unavailable++;
      } else if (old) {
        if (!available(old)) replace.push(old);
        else if (unavailable < maxUnavailable) candidates.push(old);
      }
    }
    const room = Math.min(Math.max(0, maxUnavailable - unavailable), candidates.length);
    const doomed = [...replace, ...candidates.slice(0, room)];
    return this.syncNodes(ctx, ds, doomed, [], hash);
  }

  /** The surge half of rollingUpdate. */
  private async surge(
    ctx: Ctx,
    ds: KObject,
    desired: KObject[],
    byNode: Map<string, KObject[]>,
    hash: string,
    maxSurge: number,
    now: Date,
  ): Promise<boolean> {
    const available = (p: KObject) =>
      isPodAvailable(p, ds.spec?.minReadySeconds ?? 0, now.getTime());
    const doomed: KObject[] = [];
    // Nodes whose old pod is unavailable anyway get their new pod regardless of the budget.
    const allowed: string[] = [];
    const candidates: string[] = [];
    let surging = 0;
    for (const node of desired) {
      const name: string = node.metadata.name;
      const { fresh, old, ok } = updatedOnNode(ds, hash, byNode.get(name));
      if (!ok) {
        // The manage loop sorts this node out; meanwhile it counts as surging.
        surging++;
        continue;
      }
      if (!old) continue;
      if (!fresh) (available(old) ? candidates : allowed).push(name);
      else if (!available(fresh)) surging++;
      else doomed.push(old);
    }
    const room = Math.min(Math.max(0, maxSurge - surging), candidates.length);
    return this.syncNodes(ctx, ds, doomed, [...allowed, ...candidates.slice(0, room)], hash);
  }

  /** cleanupHistory: beyond revisionHistoryLimit, the oldest revisions no pod runs go. */
  private async cleanupHistory(
    ctx: Ctx,
    ds: KObject,
    history: KObject[],
    current: KObject,
    pods: KObject[],
  ) {
    const old = history.filter((r) => r.metadata.uid !== current.metadata.uid);
    let excess = old.length - (ds.spec?.revisionHistoryLimit ?? 10);
    if (excess <= 0) return;
    const live = new Set(pods.map((p) => p.metadata.labels?.[REVISION_HASH]));
    const doomed: KObject[] = [];
    for (const r of old) {
      if (excess <= 0) break;
      if (live.has(r.metadata.labels?.[REVISION_HASH])) continue;
      doomed.push(r);
      excess--;
    }
    await deleteRevisions(ctx, doomed);
  }

  private async updateStatus(
    ctx: Ctx,
    ds: KObject,
    nodes: KObject[],
    fit: Map<string, { run: boolean; stay: boolean }>,
    byNode: Map<string, KObject[]>,
    hash: string,
    collisionCount: number,
    now: Date,
  ) {
    let desired = 0;
    let current = 0;
    let misscheduled = 0;
    let ready = 0;
    let available = 0;
    let updated = 0;
    for (const node of nodes) {
      const daemonPods = [...(byNode.get(node.metadata.name) ?? [])].sort(oldestFirst);
      const scheduled = daemonPods.length > 0;
      if (!fit.get(node.metadata.name)?.run) {
        if (scheduled) misscheduled++;
        continue;
      }
      desired++;
      if (!scheduled) continue;
      current++;
      const pod = daemonPods[0];
      if (isPodReady(pod)) {
        ready++;
        if (isPodAvailable(pod, ds.spec?.minReadySeconds ?? 0, now.getTime())) available++;
      }
      if (isUpdated(ds, hash, pod)) updated++;
    }
    const status: KObject = {
      ...ds.status,
      currentNumberScheduled: current,
      numberMisscheduled: misscheduled,
      desiredNumberScheduled: desired,
      numberReady: ready,
      observedGeneration: ds.metadata.generation,
    };
    if (collisionCount) status.collisionCount = collisionCount;
    // omitempty counters, as on the wire.
    const optional: [string, number][] = [
      ["updatedNumberScheduled", updated],
      ["numberAvailable", available],
      ["numberUnavailable", desired - available],
    ];
    for (const [k, v] of optional) {
      if (v) status[k] = v;
      else delete status[k];
    }
    if (JSON.stringify(status) !== JSON.stringify(ds.status ?? {}))
      await writeStatus(ctx, strategy("apps", "daemonsets"), ds, status);
  }
}
