// The ReplicaSet controller: pods from the template, adoption and release, deletion order,
// expectations, slow start, status (minReadySeconds), events.
import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import {
  Expectations,
  podsToDelete,
  slowStartBatch,
} from "../../src/controllers/replicaset-pods.ts";
import { openDb } from "../../src/store/db.ts";
import { commit, getObject } from "../../src/store/objects.ts";
import { call, eventually } from "./helpers.ts";
import { leaseKeeper, registerNode, syncPods } from "./hollow.ts";

const merge = { "content-type": "application/merge-patch+json" };
const SUFFIX = /^[bcdfghjklmnpqrstvwxz2456789]{5}$/;

async function namespace(name: string) {
  const r = await call("POST", "/api/v1/namespaces", { metadata: { name } });
  expect(r.status).toBe(201);
  // Finished tests' workloads go, so they do not load the controllers later tests step.
  onTestFinished(async () => {
    await call("DELETE", `/api/v1/namespaces/${name}`);
  });
}

const rsPath = (ns: string, name = "") =>
  `/apis/apps/v1/namespaces/${ns}/replicasets${name ? `/${name}` : ""}`;

function replicaSet(name: string, replicas: number, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, tier: "web" }, annotations: { note: "from-template" } },
        spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
      },
      ...extra,
    },
  };
}

/** One reconcile of the ReplicaSet `name`, as its alarm would run it. */
async function step(ns: string, name: string) {
  const key = { resource: "apps/replicasets", namespace: ns, name };
  const stub = env.REPLICASET.getByName(`apps/replicasets/${ns}/${name}`);
  await stub.poke(key);
  return stub.reconcileNow();
}

async function pods(ns: string, all = false): Promise<any[]> {
  const r = await call("GET", `/api/v1/namespaces/${ns}/pods`);
  return (r.body.items ?? []).filter((p: any) => all || !p.metadata.deletionTimestamp);
}

const getRS = async (ns: string, name: string) => (await call("GET", rsPath(ns, name))).body;

/**
 * Put unbound pods on `nodes`: through the binding subresource when the API serves it, else by
 * writing spec.nodeName in the store as a binding would (the scheduler is written separately).
 */
async function bindPending(ns: string, nodes: string[]) {
  let i = 0;
  for (const pod of await pods(ns)) {
    if (pod.spec.nodeName) continue;
    await bind(ns, pod.metadata.name, nodes[i++ % nodes.length]);
  }
}

async function bind(ns: string, name: string, node: string) {
  const r = await call("POST", `/api/v1/namespaces/${ns}/pods/${name}/binding`, {
    apiVersion: "v1",
    kind: "Binding",
    metadata: { name },
    target: { apiVersion: "v1", kind: "Node", name: node },
  });
  if (r.status < 300 || r.status === 409) return;
  if (r.status !== 404 && r.status !== 405)
    throw new Error(`bind ${name}: ${JSON.stringify(r.body)}`);
  const db = openDb(env.DB);
  const key = { resource: "pods", namespace: ns, name };
  const cur = await getObject(db, key);
  if (!cur || cur.object.spec.nodeName) return;
  const o = structuredClone(cur.object);
  delete o.metadata.resourceVersion;
  o.spec.nodeName = node;
  try {
    await commit(db, { key, type: "MODIFIED", object: o, expectRv: cur.rv, nodeName: node });
  } catch {
    // Someone else bound or changed it first.
  }
}

async function events(ns: string, reason: string): Promise<string[]> {
  const r = await call("GET", `/api/v1/namespaces/${ns}/events`);
  return (r.body.items ?? []).filter((e: any) => e.reason === reason).map((e: any) => e.message);
}

const rvs = async (ns: string, name: string) => [
  (await getRS(ns, name)).metadata.resourceVersion,
  ...(await pods(ns, true)).map((p) => `${p.metadata.name}@${p.metadata.resourceVersion}`).sort(),
];

// One hollow node for the whole file: whoever binds (the scheduler or bind() below), pods land here.
const NODE = "rs-node";

describe("ReplicaSet controller", () => {
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    await registerNode(NODE);
    stop = leaseKeeper([NODE]).stop;
  });
  afterAll(() => stop?.());

  it("creates spec.replicas controlled pods from the template and reports their status", async () => {
    await namespace("rs-basic");
    const created = await call("POST", rsPath("rs-basic"), replicaSet("front", 3));
    expect(created.status).toBe(201);
    const rs = created.body;
    await step("rs-basic", "front");
    const made = await eventually(async () => {
      const list = await pods("rs-basic");
      return list.length === 3 && list;
    });
    for (const p of made) {
      expect(p.metadata.name.startsWith("front-")).toBe(true);
      expect(p.metadata.name.slice("front-".length)).toMatch(SUFFIX);
      expect(p.metadata.labels).toEqual({ app: "front", tier: "web" });
      expect(p.metadata.annotations).toEqual({ note: "from-template" });
      expect(p.metadata.ownerReferences).toEqual([
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "front",
          uid: rs.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
    const createdEvents = await events("rs-basic", "SuccessfulCreate");
    expect(createdEvents.sort()).toEqual(made.map((p) => `Created pod: ${p.metadata.name}`).sort());

    const pending = await getRS("rs-basic", "front");
    expect(pending.status).toMatchObject({
      replicas: 3,
      fullyLabeledReplicas: 3,
      observedGeneration: 1,
    });
    expect(pending.status.readyReplicas).toBeUndefined();

    await bindPending("rs-basic", [NODE]);
    await syncPods(NODE);
    await step("rs-basic", "front");
    const ready = await getRS("rs-basic", "front");
    expect(ready.status).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3 });

    // Converged: another reconcile writes nothing at all.
    const before = await rvs("rs-basic", "front");
    await step("rs-basic", "front");
    await step("rs-basic", "front");
    expect(await rvs("rs-basic", "front")).toEqual(before);
  });

  it("never creates twice when reconciles overlap", async () => {
    await namespace("rs-race");
    await call("POST", rsPath("rs-race"), replicaSet("burst", 7));
    await Promise.all([
      step("rs-race", "burst"),
      step("rs-race", "burst"),
      step("rs-race", "burst"),
    ]);
    await step("rs-race", "burst");
    expect((await pods("rs-race")).length).toBe(7);
    expect((await getRS("rs-race", "burst")).status.replicas).toBe(7);
  });

  it("adopts matching orphans and releases pods that stop matching", async () => {
    await namespace("rs-claim");
    const orphan = await call("POST", "/api/v1/namespaces/rs-claim/pods", {
      metadata: { name: "orphan", labels: { app: "claim" } },
      spec: { containers: [{ name: "c", image: "busybox" }] },
    });
    expect(orphan.status).toBe(201);
    const rs = (await call("POST", rsPath("rs-claim"), replicaSet("claim", 2))).body;
    await step("rs-claim", "claim");
    const list = await pods("rs-claim");
    expect(list.length).toBe(2);
    const adopted = list.find((p) => p.metadata.name === "orphan");
    expect(adopted.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "ReplicaSet", uid: rs.metadata.uid, controller: true }),
    ]);

    // A pod relabelled out of the selector is let go, and replaced.
    const leaving = list.find((p) => p.metadata.name !== "orphan");
    await call(
      "PATCH",
      `/api/v1/namespaces/rs-claim/pods/${leaving.metadata.name}`,
      { metadata: { labels: { app: "elsewhere" } } },
      merge,
    );
    await step("rs-claim", "claim");
    const after = await pods("rs-claim");
    const released = after.find((p) => p.metadata.name === leaving.metadata.name);
    expect(released.metadata.ownerReferences).toBeUndefined();
    const owned = after.filter((p) =>
      p.metadata.ownerReferences?.some((r: any) => r.uid === rs.metadata.uid),
    );
    expect(owned.length).toBe(2);
    expect((await getRS("rs-claim", "claim")).status.replicas).toBe(2);
  });

  it("scales down unscheduled pods first, then not-ready ones, and replaces deleted pods", async () => {
    await namespace("rs-down");
    // A node selector no node matches keeps a scheduler away: this test binds pods itself.
    const shrink = replicaSet("shrink", 4);
    Object.assign(shrink.spec.template.spec, { nodeSelector: { "example.com/nowhere": "true" } });
    await call("POST", rsPath("rs-down"), shrink);
    await step("rs-down", "shrink");
    const [unbound, notReady, ...rest] = (await pods("rs-down")).map((p) => p.metadata.name);
    for (const name of [notReady, ...rest]) await bind("rs-down", name, NODE);
    await syncPods(NODE, { ready: (p) => p.metadata.name !== notReady });
    await step("rs-down", "shrink");
    expect((await getRS("rs-down", "shrink")).status).toMatchObject({
      replicas: 4,
      readyReplicas: 2,
    });

    await call("PATCH", rsPath("rs-down", "shrink"), { spec: { replicas: 2 } }, merge);
    await step("rs-down", "shrink");
    const live = (await pods("rs-down")).map((p) => p.metadata.name).sort();
    expect(live).toEqual([...rest].sort());
    const all = await pods("rs-down", true);
    // The unbound pod went at once; the bound one terminates gracefully and is not counted.
    expect(all.find((p) => p.metadata.name === unbound)).toBeUndefined();
    expect(all.find((p) => p.metadata.name === notReady)?.metadata.deletionTimestamp).toBeTruthy();
    const rs = await getRS("rs-down", "shrink");
    expect(rs.status).toMatchObject({ replicas: 2, readyReplicas: 2, observedGeneration: 2 });
    expect((await events("rs-down", "SuccessfulDelete")).sort()).toEqual(
      [`Deleted pod: ${unbound}`, `Deleted pod: ${notReady}`].sort(),
    );

    // A running pod deleted by a user is replaced while it terminates.
    await call("DELETE", `/api/v1/namespaces/rs-down/pods/${rest[0]}`);
    await step("rs-down", "shrink");
    const now = await pods("rs-down");
    expect(now.length).toBe(2);
    expect(now.map((p) => p.metadata.name)).not.toContain(rest[0]);
    expect((await getRS("rs-down", "shrink")).status.replicas).toBe(2);
  });

  it("counts pods available only after minReadySeconds and keeps an alarm until then", async () => {
    await namespace("rs-minready");
    await call("POST", rsPath("rs-minready"), replicaSet("slow", 2, { minReadySeconds: 2 }));
    await step("rs-minready", "slow");
    await bindPending("rs-minready", [NODE]);
    await syncPods(NODE);
    const next = await step("rs-minready", "slow");
    const rs = await getRS("rs-minready", "slow");
    expect(rs.status.readyReplicas).toBe(2);
    expect(rs.status.availableReplicas ?? 0).toBe(0);
    expect(next).toEqual({ after: expect.any(Number) });
    expect((next as { after: number }).after).toBeLessThanOrEqual(3000);
    await eventually(async () => {
      return (await getRS("rs-minready", "slow")).status.availableReplicas === 2;
    }, 10_000);
  }, 20_000);
});

describe("ReplicaSet helpers", () => {
  it("slow start creates in batches of 1, 2, 4 … and stops after a failing batch", async () => {
    let calls = 0;
    const ok = await slowStartBatch(10, 1, async () => {
      calls++;
    });
    expect(ok).toEqual({ successes: 10 });
    expect(calls).toBe(10);

    calls = 0;
    const failing = await slowStartBatch(10, 1, async () => {
      calls++;
      if (calls === 3) throw new Error("quota");
    });
    // Batch 1 (one call) succeeded, batch 2 (two calls) had a failure: nothing more was tried.
    expect(calls).toBe(3);
    expect(failing.successes).toBe(2);
    expect((failing.error as Error).message).toBe("quota");
  });

  it("expectations hold back a second sizing until the first one's writes are seen", () => {
    const e = new Expectations();
    expect(e.satisfied()).toBe(true);
    e.expectCreations(2, 1000);
    expect(e.satisfied(1000)).toBe(false);
    e.creationObserved();
    e.creationObserved();
    expect(e.satisfied(1000)).toBe(true);
    e.expectDeletions(["a"], 1000);
    expect(e.satisfied(2000)).toBe(false);
    // Too old to trust: go ahead anyway.
    expect(e.satisfied(1000 + 6 * 60_000)).toBe(true);
  });

  it("ranks pods to delete: unscheduled, pending, not ready, then the newest", () => {
    const pod = (
      name: string,
      o: { node?: string; phase?: string; ready?: boolean; created: string },
    ) => ({
      metadata: { name, creationTimestamp: o.created },
      spec: { nodeName: o.node },
      status: {
        phase: o.phase ?? "Running",
        conditions: [
          {
            type: "Ready",
            status: o.ready ? "True" : "False",
            lastTransitionTime: "2026-01-01T00:00:00Z",
          },
        ],
      },
    });
    const list = [
      pod("old-ready", { node: "n", ready: true, created: "2026-01-01T00:00:00Z" }),
      pod("new-ready", { node: "n", ready: true, created: "2026-01-01T00:05:00Z" }),
      pod("not-ready", { node: "n", created: "2026-01-01T00:00:00Z" }),
      pod("pending", { node: "n", phase: "Pending", created: "2026-01-01T00:00:00Z" }),
      pod("unscheduled", { phase: "Pending", created: "2026-01-01T00:00:00Z" }),
    ];
    expect(podsToDelete(list, 4).map((p) => p.metadata.name)).toEqual([
      "unscheduled",
      "pending",
      "not-ready",
      "new-ready",
    ]);
  });
});
