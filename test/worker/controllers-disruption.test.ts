// The disruption controller keeps every PodDisruptionBudget's status current as pods come, go and
// change readiness (minAvailable and maxUnavailable, as numbers and percentages), and the
// eviction subresource follows it: refused while no disruption is allowed, allowed once a pod is
// ready again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, eventually } from "./helpers.ts";
import { leaseKeeper, registerNode, syncPods } from "./hollow.ts";

const NS = "default";
const RS = `/apis/apps/v1/namespaces/${NS}/replicasets`;
const PODS = `/api/v1/namespaces/${NS}/pods`;
const PDB = `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`;

type Obj = any;

// One hollow node runs every pod of this file.
const NODE = "d-1";
const keeper = leaseKeeper();
beforeAll(async () => {
  await registerNode(NODE);
  keeper.alive.add(NODE);
});
afterAll(() => keeper.stop());

async function replicaSet(app: string, replicas: number) {
  const res = await call("POST", RS, {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name: app },
    spec: {
      replicas,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app } },
        spec: { containers: [{ name: "c", image: `${app}:1` }] },
      },
    },
  });
  expect(res.status).toBe(201);
}

async function budget(name: string, app: string, spec: Obj) {
  const res = await call("POST", PDB, {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name },
    spec: { selector: { matchLabels: { app } }, ...spec },
  });
  expect(res.status).toBe(201);
}

const status = async (name: string) => (await call("GET", `${PDB}/${name}`)).body.status ?? {};
const numbers = (s: Obj) => ({
  currentHealthy: s.currentHealthy,
  desiredHealthy: s.desiredHealthy,
  disruptionsAllowed: s.disruptionsAllowed,
  expectedPods: s.expectedPods,
});
const podsOf = async (app: string): Promise<Obj[]> =>
  (await call("GET", `${PODS}?labelSelector=app%3D${app}`)).body.items.filter(
    (p: Obj) => !p.metadata.deletionTimestamp,
  );

/** Status numbers once the controller has caught up to `want`. */
async function statusReaches(name: string, want: Obj, sync?: () => Promise<unknown>) {
  return eventually(async () => {
    await sync?.();
    const s = await status(name);
    return JSON.stringify(numbers(s)) === JSON.stringify(want) && s;
  }, 15_000).catch(async (err) => {
    throw new Error(`${name}: ${JSON.stringify(numbers(await status(name)))}: ${err}`);
  });
}

describe("PodDisruptionBudget status", { timeout: 40_000 }, () => {
  it("counts minAvailable and maxUnavailable, as numbers and percentages", async () => {
    await replicaSet("web", 4);
    // One pod held unready: it must not count as healthy.
    let unready = "";
    const kubelet = () =>
      syncPods(NODE, { ready: (p) => p.metadata.name !== unready || unready === "" });
    await eventually(async () => {
      await kubelet();
      const pods = await podsOf("web");
      return pods.length === 4 && pods.every((p) => p.status?.phase === "Running");
    });

    await budget("min-int", "web", { minAvailable: 3 });
    await budget("min-pct", "web", { minAvailable: "50%" });
    await budget("max-int", "web", { maxUnavailable: 1 });
    await budget("max-pct", "web", { maxUnavailable: "30%" });
    const s = await statusReaches("min-int", {
      currentHealthy: 4,
      desiredHealthy: 3,
      disruptionsAllowed: 1,
      expectedPods: 4,
    });
    expect(s.observedGeneration).toBe(1);
    expect(s.conditions).toEqual([
      expect.objectContaining({
        type: "DisruptionAllowed",
        status: "True",
        reason: "SufficientPods",
        observedGeneration: 1,
      }),
    ]);
    // 50% of the ReplicaSet's 4 replicas, rounded up.
    await statusReaches("min-pct", {
      currentHealthy: 4,
      desiredHealthy: 2,
      disruptionsAllowed: 2,
      expectedPods: 4,
    });
    await statusReaches("max-int", {
      currentHealthy: 4,
      desiredHealthy: 3,
      disruptionsAllowed: 1,
      expectedPods: 4,
    });
    // 30% of 4 is 1.2, rounded up to 2 that may be unavailable.
    await statusReaches("max-pct", {
      currentHealthy: 4,
      desiredHealthy: 2,
      disruptionsAllowed: 2,
      expectedPods: 4,
    });

    // A pod turns unready: every budget sees one healthy pod fewer.
    unready = (await podsOf("web"))[0].metadata.name;
    const after = await statusReaches(
      "min-int",
      { currentHealthy: 3, desiredHealthy: 3, disruptionsAllowed: 0, expectedPods: 4 },
      kubelet,
    );
    expect(after.conditions[0]).toMatchObject({
      type: "DisruptionAllowed",
      status: "False",
      reason: "InsufficientPods",
    });
    await statusReaches("max-pct", {
      currentHealthy: 3,
      desiredHealthy: 2,
      disruptionsAllowed: 1,
      expectedPods: 4,
    });

    // A spec change bumps the generation; the controller observes it.
    await call(
      "PATCH",
      `${PDB}/min-int`,
      { spec: { minAvailable: 2 } },
      { "content-type": "application/merge-patch+json" },
    );
    const changed = await statusReaches("min-int", {
      currentHealthy: 3,
      desiredHealthy: 2,
      disruptionsAllowed: 1,
      expectedPods: 4,
    });
    expect(changed.observedGeneration).toBe(2);

    // Scaling the ReplicaSet changes what percentages are of.
    await call(
      "PATCH",
      `${RS}/web`,
      { spec: { replicas: 6 } },
      { "content-type": "application/merge-patch+json" },
    );
    await statusReaches(
      "min-pct",
      { currentHealthy: 5, desiredHealthy: 3, disruptionsAllowed: 2, expectedPods: 6 },
      kubelet,
    );
  });

  it("refuses an eviction while no disruption is allowed, allows it once a pod is ready", async () => {
    await replicaSet("db", 3);
    let held = "";
    const kubelet = () => syncPods(NODE, { ready: (p) => p.metadata.name !== held });
    await eventually(async () => {
      await kubelet();
      const pods = await podsOf("db");
      return pods.length === 3 && pods.every((p) => p.status?.phase === "Running");
    });
    const pods = await podsOf("db");
    held = pods[0].metadata.name;
    await budget("db", "db", { minAvailable: 2 });
    await statusReaches(
      "db",
      { currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0, expectedPods: 3 },
      kubelet,
    );

    const evict = (name: string) =>
      call("POST", `${PODS}/${name}/eviction`, {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name, namespace: NS },
      });
    const refused = await evict(pods[1].metadata.name);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ kind: "Status", reason: "TooManyRequests" });
    expect(
      (await call("GET", `${PODS}/${pods[1].metadata.name}`)).body.metadata,
    ).not.toHaveProperty("deletionTimestamp");

    // The held pod turns ready: one healthy pod to spare.
    held = "";
    await statusReaches(
      "db",
      { currentHealthy: 3, desiredHealthy: 2, disruptionsAllowed: 1, expectedPods: 3 },
      kubelet,
    );
    const allowed = await evict(pods[1].metadata.name);
    expect(allowed.status).toBe(201);
    expect(
      (await call("GET", `${PODS}/${pods[1].metadata.name}`)).body.metadata.deletionTimestamp,
    ).toBeTruthy();
  });
});
