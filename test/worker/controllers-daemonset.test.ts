import { afterAll, afterEach, describe, expect, it } from "vitest";
import { call, eventually } from "./helpers.ts";
import {
  type HollowNodeOptions,
  heartbeat,
  leaseKeeper,
  registerNode,
  type SyncOptions,
  syncPods,
} from "./hollow.ts";

const DS = "/apis/apps/v1/namespaces/default/daemonsets";
const PODS = "/api/v1/namespaces/default/pods";
const REVS = "/apis/apps/v1/namespaces/default/controllerrevisions";
const merge = { "content-type": "application/merge-patch+json" };
const strategic = { "content-type": "application/strategic-merge-patch+json" };
const image = (tag: string) => ({
  spec: { template: { spec: { containers: [{ name: "agent", image: tag }] } } },
});
/** A DaemonSet's revisions as kubectl finds them: by its selector, oldest first. */
const revisionsOf = async (name: string): Promise<Obj[]> =>
  (await call("GET", `${REVS}?labelSelector=ds%3D${name}`)).body.items.sort(
    (a: Obj, b: Obj) => a.revision - b.revision,
  );

type Obj = any;

const daemonSet = (name: string, podSpec: Obj = {}, spec: Obj = {}) => ({
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  metadata: { name },
  spec: {
    selector: { matchLabels: { ds: name } },
    template: {
      metadata: { labels: { ds: name } },
      spec: { containers: [{ name: "agent", image: "agent:1" }], ...podSpec },
    },
    ...spec,
  },
});

/** Nodes of one test carry its group label, so the DaemonSets of other tests skip them. */
async function nodes(group: string, specs: Record<string, HollowNodeOptions>) {
  for (const [name, o] of Object.entries(specs)) {
    await registerNode(name, { ...o, labels: { group, ...o.labels } });
    alive.add(name);
  }
  return Object.keys(specs);
}

const podsOf = async (name: string): Promise<Obj[]> =>
  (await call("GET", `${PODS}?labelSelector=ds%3D${name}`)).body.items;
const live = (pods: Obj[]) => pods.filter((p) => !p.metadata.deletionTimestamp);
const placement = (pods: Obj[]) =>
  live(pods)
    .map((p) => p.spec.nodeName)
    .sort();
const getDs = async (name: string) => (await call("GET", `${DS}/${name}`)).body;

/** One kubelet round on every node: heartbeats, pods Running and Ready, deletions confirmed. */
async function kubelets(names: string[], o: SyncOptions = {}) {
  for (const n of names) {
    await heartbeat(n);
    await syncPods(n, o);
  }
}

// Hollow kubelets renew their Leases every second, so no node goes NotReady while a test waits.
const keeper = leaseKeeper();
const alive = keeper.alive;
afterAll(() => keeper.stop());
// Each test starts from an empty cluster: fewer nodes renewing Leases on a loaded machine.
afterEach(async () => {
  for (const ds of (await call("GET", DS)).body.items ?? [])
    await call("DELETE", `${DS}/${ds.metadata.name}`);
  for (const n of alive) await call("DELETE", `/api/v1/nodes/${n}`);
  alive.clear();
});

describe("DaemonSet", { timeout: 30_000 }, () => {
  it("runs one pod per node, bound to it, following nodes as they come and go", async () => {
    const names = await nodes("a", { "a-1": {}, "a-2": {} });
    await call("POST", DS, daemonSet("agent", { nodeSelector: { group: "a" } }));
    const pods = await eventually(async () => {
      const p = await podsOf("agent");
      return p.length === 2 && p;
    });
    expect(placement(pods)).toEqual(["a-1", "a-2"]);
    const pod = pods.find((p: Obj) => p.spec.nodeName === "a-1");
    expect(pod.metadata.ownerReferences[0]).toMatchObject({ kind: "DaemonSet", name: "agent" });
    expect(pod.metadata.labels["controller-revision-hash"]).toMatch(/^[a-z0-9]+$/);
    expect(pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual({
      nodeSelectorTerms: [
        { matchFields: [{ key: "metadata.name", operator: "In", values: ["a-1"] }] },
      ],
    });
    const tolerated = pod.spec.tolerations.map((t: Obj) => `${t.key}:${t.effect}`);
    for (const t of [
      "node.kubernetes.io/not-ready:NoExecute",
      "node.kubernetes.io/unreachable:NoExecute",
      "node.kubernetes.io/unschedulable:NoSchedule",
      "node.kubernetes.io/disk-pressure:NoSchedule",
    ])
      expect(tolerated).toContain(t);

    const ready = await eventually(async () => {
      await kubelets(names);
      const ds = await getDs("agent");
      return ds.status?.numberAvailable === 2 && ds;
    });
    expect(ready.status).toMatchObject({
      desiredNumberScheduled: 2,
      currentNumberScheduled: 2,
      numberReady: 2,
      updatedNumberScheduled: 2,
      numberMisscheduled: 0,
      observedGeneration: 1,
    });
    expect(ready.status.numberUnavailable).toBeUndefined();

    // A new node gets a pod; a deleted node's pod goes.
    names.push(...(await nodes("a", { "a-3": {} })));
    await eventually(async () => placement(await podsOf("agent")).join() === "a-1,a-2,a-3");
    alive.delete("a-2");
    await call("DELETE", "/api/v1/nodes/a-2");
    await eventually(async () => placement(await podsOf("agent")).join() === "a-1,a-3");
    await eventually(async () => (await getDs("agent")).status?.desiredNumberScheduled === 2);
  });

  it("honours affinity and taints, keeps pods on NoSchedule, leaves on NoExecute", async () => {
    const names = await nodes("b", {
      "b-plain": {},
      "b-tolerated": { taints: [{ key: "tolerated", value: "yes", effect: "NoExecute" }] },
      "b-tainted": { taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] },
      "b-excluded": { labels: { zone: "excluded" } },
      "b-cordoned": { taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }] },
    });
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: "group", operator: "In", values: ["b"] },
                { key: "zone", operator: "NotIn", values: ["excluded"] },
              ],
            },
          ],
        },
      },
    };
    await call(
      "POST",
      DS,
      daemonSet("picky", { affinity, tolerations: [{ key: "tolerated", operator: "Exists" }] }),
    );
    await eventually(async () => {
      await kubelets(names);
      const ds = await getDs("picky");
      return ds.status?.numberReady === 3;
    });
    expect(placement(await podsOf("picky"))).toEqual(["b-cordoned", "b-plain", "b-tolerated"]);

    // A new NoSchedule taint lets the running pod stay (misscheduled now); NoExecute evicts it.
    const taint = (effect: string) => ({ spec: { taints: [{ key: "gone", effect }] } });
    await call("PATCH", "/api/v1/nodes/b-plain", taint("NoSchedule"), merge);
    const misplaced = await eventually(async () => {
      const ds = await getDs("picky");
      return ds.status?.numberMisscheduled === 1 && ds;
    });
    expect(misplaced.status.desiredNumberScheduled).toBe(2);
    expect(placement(await podsOf("picky"))).toContain("b-plain");
    await call("PATCH", "/api/v1/nodes/b-plain", taint("NoExecute"), merge);
    await eventually(async () => {
      await kubelets(names);
      return placement(await podsOf("picky")).join() === "b-cordoned,b-tolerated";
    });
  });

  it("rolls a new template out node by node within maxUnavailable", async () => {
    const names = await nodes("c", { "c-1": {}, "c-2": {}, "c-3": {} });
    await call("POST", DS, daemonSet("roll", { nodeSelector: { group: "c" } }));
    const before = await eventually(async () => {
      await kubelets(names);
      const ds = await getDs("roll");
      return ds.status?.numberAvailable === 3 && ds;
    });
    const oldHash = (await podsOf("roll"))[0].metadata.labels["controller-revision-hash"];
    expect(before.status.updatedNumberScheduled).toBe(3);

    const image = {
      spec: { template: { spec: { containers: [{ name: "agent", image: "agent:2" }] } } },
    };
    const patched = await call("PATCH", `${DS}/roll`, image, {
      "content-type": "application/strategic-merge-patch+json",
    });
    expect(patched.status).toBe(200);
    let fewest = 3;
    const done = await eventually(async () => {
      await kubelets(names);
      const pods = await podsOf("roll");
      const serving = new Set(
        live(pods)
          .filter((p) =>
            (p.status?.conditions ?? []).some(
              (c: Obj) => c.type === "Ready" && c.status === "True",
            ),
          )
          .map((p) => p.spec.nodeName),
      );
      fewest = Math.min(fewest, serving.size);
      const ds = await getDs("roll");
      const fresh = live(pods).filter((p) => p.spec.containers[0].image === "agent:2");
      return (
        fresh.length === 3 &&
        pods.length === 3 &&
        ds.status?.updatedNumberScheduled === 3 &&
        ds.status?.numberAvailable === 3 &&
        ds
      );
    }, 20_000);
    expect(fewest).toBeGreaterThanOrEqual(2);
    expect(done.status.observedGeneration).toBe(2);
    const hashes = new Set(
      (await podsOf("roll")).map((p: Obj) => p.metadata.labels["controller-revision-hash"]),
    );
    expect([...hashes]).toHaveLength(1);
    expect(hashes.has(oldHash)).toBe(false);
  }, 30_000);

  it("surges a new pod beside the old one on at most maxSurge nodes", async () => {
    const surge = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    const bad = await call(
      "POST",
      DS,
      daemonSet("both", {}, { updateStrategy: { ...surge, rollingUpdate: { maxSurge: 1 } } }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain(
      "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero",
    );

    const names = await nodes("s", { "s-1": {}, "s-2": {}, "s-3": {} });
    await call(
      "POST",
      DS,
      daemonSet("surge", { nodeSelector: { group: "s" } }, { updateStrategy: surge }),
    );
    await eventually(async () => {
      await kubelets(names);
      return (await getDs("surge")).status?.numberAvailable === 3;
    });
    await call("PATCH", `${DS}/surge`, image("agent:2"), strategic);
    let mostDoubled = 0;
    let leastServed = 3;
    // A pod becomes Ready only after a sample has seen it, so no surge goes unobserved however
    // quickly the controller answers the kubelets.
    const seen = new Set<string>();
    await eventually(async () => {
      const pods = live(await podsOf("surge"));
      for (const p of pods) seen.add(p.metadata.uid);
      const perNode = new Map<string, Obj[]>();
      for (const p of pods)
        perNode.set(p.spec.nodeName, [...(perNode.get(p.spec.nodeName) ?? []), p]);
      mostDoubled = Math.max(mostDoubled, [...perNode.values()].filter((l) => l.length > 1).length);
      const serving = [...perNode.values()].filter((l) =>
        l.some((p) =>
          p.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True"),
        ),
      ).length;
      leastServed = Math.min(leastServed, serving);
      await kubelets(names, { ready: (p) => seen.has(p.metadata.uid) });
      const ds = await getDs("surge");
      return (
        pods.length === 3 &&
        pods.every((p) => p.spec.containers[0].image === "agent:2") &&
        ds.status?.updatedNumberScheduled === 3 &&
        ds.status?.numberAvailable === 3
      );
    }, 60_000);
    // The new pod ran beside the old one, on one node at a time, and no node went without.
    expect(mostDoubled).toBe(1);
    expect(leastServed).toBe(3);
  }, 90_000);

  it("keeps its template history in ControllerRevisions: undo and revisionHistoryLimit", async () => {
    const names = await nodes("h", { "h-1": {}, "h-2": {} });
    await call("POST", DS, daemonSet("hist", { nodeSelector: { group: "h" } }));
    const settled = (image: string) =>
      eventually(async () => {
        await kubelets(names);
        const pods = live(await podsOf("hist"));
        const ds = await getDs("hist");
        return (
          pods.length === 2 &&
          pods.every((p) => p.spec.containers[0].image === image) &&
          ds.status?.updatedNumberScheduled === 2 &&
          ds.status?.numberAvailable === 2 &&
          pods
        );
      }, 40_000);
    const v1 = await settled("agent:1");
    const hash1 = v1[0].metadata.labels["controller-revision-hash"];
    const [first] = await revisionsOf("hist");
    expect(first).toMatchObject({
      apiVersion: "apps/v1",
      kind: "ControllerRevision",
      metadata: {
        name: `hist-${hash1}`,
        labels: { ds: "hist", "controller-revision-hash": hash1 },
        ownerReferences: [expect.objectContaining({ kind: "DaemonSet", name: "hist" })],
      },
      revision: 1,
    });
    expect(first.data.spec.template).toMatchObject({
      $patch: "replace",
      metadata: { labels: { ds: "hist" } },
      spec: { containers: [expect.objectContaining({ image: "agent:1" })] },
    });

    await call("PATCH", `${DS}/hist`, image("agent:2"), strategic);
    const v2 = await settled("agent:2");
    const hash2 = v2[0].metadata.labels["controller-revision-hash"];
    expect(hash2).not.toBe(hash1);
    expect((await revisionsOf("hist")).map((r) => [r.metadata.name, r.revision])).toEqual([
      [`hist-${hash1}`, 1],
      [`hist-${hash2}`, 2],
    ]);

    // kubectl rollout undo: the previous revision's data, sent back as a strategic merge patch.
    const undo = await call("PATCH", `${DS}/hist`, first.data, strategic);
    expect(undo.status).toBe(200);
    const back = await settled("agent:1");
    expect(back[0].metadata.labels["controller-revision-hash"]).toBe(hash1);
    // The restored revision is renumbered newest, as Kubernetes does.
    await eventually(async () => {
      const revs = await revisionsOf("hist");
      return (
        JSON.stringify(revs.map((r) => [r.metadata.name, r.revision])) ===
        JSON.stringify([
          [`hist-${hash2}`, 2],
          [`hist-${hash1}`, 3],
        ])
      );
    });

    // No history kept: the revision no pod runs any more goes.
    await call("PATCH", `${DS}/hist`, { spec: { revisionHistoryLimit: 0 } }, merge);
    await eventually(async () => {
      const revs = await revisionsOf("hist");
      return revs.length === 1 && revs[0].metadata.name === `hist-${hash1}`;
    });
    const table = await call("GET", REVS, undefined, {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
    });
    expect(table.body.columnDefinitions.map((c: Obj) => c.name)).toEqual([
      "Name",
      "Controller",
      "Revision",
      "Age",
    ]);
    const row = table.body.rows.find((r: Obj) => r.cells[0] === `hist-${hash1}`);
    expect(row.cells.slice(0, 3)).toEqual([`hist-${hash1}`, "daemonset.apps/hist", 3]);
  }, 120_000);
});
