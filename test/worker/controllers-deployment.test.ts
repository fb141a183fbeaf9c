// The Deployment controller, stepped deterministically (controller reconcile, bind, hollow kubelet
// sync) and observed through the API after every step, as kubectl would see it.
import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import {
  resolveFenceposts,
  setNewReplicaSetAnnotations,
} from "../../src/controllers/deployment-util.ts";
import { computeHash } from "../../src/controllers/template-hash.ts";
import { openDb } from "../../src/store/db.ts";
import { commit, getObject } from "../../src/store/objects.ts";
import { call, eventually } from "./helpers.ts";
import { leaseKeeper, registerNode, syncPods } from "./hollow.ts";

const merge = { "content-type": "application/merge-patch+json" };
const jsonPatch = { "content-type": "application/json-patch+json" };
const NODES = ["deploy-node-a", "deploy-node-b"];
const HASH = /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/;

async function namespace(name: string) {
  expect((await call("POST", "/api/v1/namespaces", { metadata: { name } })).status).toBe(201);
  // Finished tests' workloads go, so they do not load the controllers later tests step.
  onTestFinished(async () => {
    await call("DELETE", `/api/v1/namespaces/${name}`);
  });
}

const dPath = (ns: string, name = "") =>
  `/apis/apps/v1/namespaces/${ns}/deployments${name ? `/${name}` : ""}`;

function deployment(
  name: string,
  replicas: number,
  image: string,
  spec: Record<string, unknown> = {},
) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "web", image }] },
      },
      ...spec,
    },
  };
}

const getD = async (ns: string, name: string) => (await call("GET", dPath(ns, name))).body;

async function replicaSets(ns: string): Promise<any[]> {
  return (await call("GET", `/apis/apps/v1/namespaces/${ns}/replicasets`)).body.items ?? [];
}

async function pods(ns: string, all = false): Promise<any[]> {
  const r = await call("GET", `/api/v1/namespaces/${ns}/pods`);
  return (r.body.items ?? []).filter((p: any) => all || !p.metadata.deletionTimestamp);
}

const isReady = (p: any) =>
  p.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True");

async function reconcile(
  binding: "DEPLOYMENT" | "REPLICASET",
  resource: string,
  ns: string,
  name: string,
) {
  const key = { resource, namespace: ns, name };
  const stub = env[binding].getByName(`${resource}/${ns}/${name}`);
  await stub.poke(key);
  return stub.reconcileNow();
}

/** Unbound pods go to the hollow nodes: the binding subresource, or the store as a binding would. */
async function bindPending(ns: string) {
  let i = 0;
  for (const pod of await pods(ns)) {
    if (pod.spec.nodeName) continue;
    const name = pod.metadata.name;
    const node = NODES[i++ % NODES.length];
    const r = await call("POST", `/api/v1/namespaces/${ns}/pods/${name}/binding`, {
      apiVersion: "v1",
      kind: "Binding",
      metadata: { name },
      target: { apiVersion: "v1", kind: "Node", name: node },
    });
    if (r.status < 300 || r.status === 409) continue;
    if (r.status !== 404 && r.status !== 405)
      throw new Error(`bind ${name}: ${JSON.stringify(r.body)}`);
    const db = openDb(env.DB);
    const key = { resource: "pods", namespace: ns, name };
    const cur = await getObject(db, key);
    if (!cur || cur.object.spec.nodeName) continue;
    const o = structuredClone(cur.object);
    delete o.metadata.resourceVersion;
    o.spec.nodeName = node;
    await commit(db, { key, type: "MODIFIED", object: o, expectRv: cur.rv, nodeName: node }).catch(
      () => undefined,
    );
  }
}

/**
 * One round of the world, with `check` run after every single step: the deployment controller,
 * each ReplicaSet controller, binding, and each hollow kubelet.
 */
async function round(
  ns: string,
  name: string,
  check: () => Promise<void> = async () => {},
  ready?: (p: any) => boolean,
) {
  await reconcile("DEPLOYMENT", "apps/deployments", ns, name);
  await check();
  for (const rs of await replicaSets(ns)) {
    await reconcile("REPLICASET", "apps/replicasets", ns, rs.metadata.name);
    await check();
  }
  await bindPending(ns);
  await check();
  // The nodes are shared: `ready` speaks for this namespace's pods only.
  const only = ready && ((p: any) => p.metadata.namespace !== ns || ready(p));
  for (const node of NODES) {
    await syncPods(node, { ready: only });
    await check();
  }
}

/** kubectl rollout status's verdict (DeploymentStatusViewer). */
function rolloutStatus(d: any): { done: boolean; message: string } {
  const s = d.status ?? {};
  const name = d.metadata.name;
  if ((d.metadata.generation ?? 0) > (s.observedGeneration ?? 0))
    return { done: false, message: "Waiting for deployment spec update to be observed..." };
  const progressing = s.conditions?.find((c: any) => c.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded")
    return { done: false, message: `deployment "${name}" exceeded its progress deadline` };
  const want = d.spec.replicas ?? 1;
  if ((s.updatedReplicas ?? 0) < want)
    return {
      done: false,
      message: `${s.updatedReplicas ?? 0} out of ${want} new replicas have been updated`,
    };
  if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0))
    return {
      done: false,
      message: `${s.replicas - s.updatedReplicas} old replicas are pending termination`,
    };
  if ((s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0))
    return {
      done: false,
      message: `${s.availableReplicas ?? 0} of ${s.updatedReplicas} updated replicas are available`,
    };
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

/** Step the world until `kubectl rollout status` would say it rolled out. */
async function rollOut(ns: string, name: string, check?: () => Promise<void>, maxRounds = 40) {
  for (let i = 0; i < maxRounds; i++) {
    const d = await getD(ns, name);
    if (rolloutStatus(d).done) return d;
    await round(ns, name, check);
  }
  throw new Error(`${name} did not roll out: ${rolloutStatus(await getD(ns, name)).message}`);
}

async function events(ns: string, reason: string): Promise<string[]> {
  const r = await call("GET", `/api/v1/namespaces/${ns}/events`);
  return (r.body.items ?? [])
    .filter((e: any) => e.reason === reason)
    .sort(
      (a: any, b: any) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion),
    )
    .map((e: any) => e.message);
}

const condition = (d: any, type: string) => d.status?.conditions?.find((c: any) => c.type === type);
const imageOf = (o: any) =>
  o.spec.template?.spec?.containers?.[0]?.image ?? o.spec.containers[0].image;
const setImage = (ns: string, name: string, image: string) =>
  call(
    "PATCH",
    dPath(ns, name),
    [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: image }],
    jsonPatch,
  );

/** What kubectl rollout undo does: find the previous revision's RS and patch its template back. */
async function undo(ns: string, name: string) {
  const d = await getD(ns, name);
  const owned = (await replicaSets(ns)).filter((rs) =>
    rs.metadata.ownerReferences?.some((r: any) => r.controller && r.uid === d.metadata.uid),
  );
  const revisions = owned
    .map((rs) => Number(rs.metadata.annotations["deployment.kubernetes.io/revision"]))
    .sort((a, b) => b - a);
  const previous = revisions[1];
  const rs = owned.find(
    (x) => Number(x.metadata.annotations["deployment.kubernetes.io/revision"]) === previous,
  );
  const template = structuredClone(rs.spec.template);
  delete template.metadata.labels["pod-template-hash"];
  const skip = new Set([
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
  ]);
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries<string>(d.metadata.annotations ?? {}))
    if (skip.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries<string>(rs.metadata.annotations ?? {}))
    if (!skip.has(k)) annotations[k] = v;
  const r = await call(
    "PATCH",
    dPath(ns, name),
    [
      { op: "replace", path: "/spec/template", value: template },
      { op: "replace", path: "/metadata/annotations", value: annotations },
    ],
    jsonPatch,
  );
  expect(r.status).toBe(200);
  return rs;
}

const revision = (o: any) => o.metadata.annotations?.["deployment.kubernetes.io/revision"];

describe("Deployment controller", () => {
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    for (const n of NODES) await registerNode(n);
    stop = leaseKeeper(NODES).stop;
  });
  afterAll(() => stop?.());

  it("creates <name>-<pod-template-hash>, rolls out, reports status, and is idempotent", async () => {
    const ns = "dep-basic";
    await namespace(ns);
    expect((await call("POST", dPath(ns), deployment("web", 3, "nginx:1.0"))).status).toBe(201);
    await reconcile("DEPLOYMENT", "apps/deployments", ns, "web");
    const [rs] = await replicaSets(ns);
    const hash = rs.metadata.labels["pod-template-hash"];
    expect(hash).toMatch(HASH);
    expect(rs.metadata.name).toBe(`web-${hash}`);
    expect(rs.spec.selector.matchLabels).toEqual({ app: "web", "pod-template-hash": hash });
    expect(rs.spec.template.metadata.labels).toEqual({ app: "web", "pod-template-hash": hash });
    expect(rs.spec.replicas).toBe(3);
    expect(rs.metadata.annotations).toMatchObject({
      "deployment.kubernetes.io/revision": "1",
      "deployment.kubernetes.io/desired-replicas": "3",
      "deployment.kubernetes.io/max-replicas": "4",
    });
    expect(rs.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: "Deployment",
        name: "web",
        controller: true,
        blockOwnerDeletion: true,
      }),
    ]);
    const fresh = await getD(ns, "web");
    expect(revision(fresh)).toBe("1");
    expect(condition(fresh, "Progressing")).toMatchObject({
      status: "True",
      reason: "NewReplicaSetCreated",
      message: `Created new replica set "web-${hash}"`,
    });
    expect(await events(ns, "ScalingReplicaSet")).toEqual([
      `Scaled up replica set web-${hash} to 3 from 0`,
    ]);

    const done = await rollOut(ns, "web");
    expect(done.status).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    });
    expect(done.status.unavailableReplicas).toBeUndefined();
    expect(condition(done, "Available")).toMatchObject({
      status: "True",
      reason: "MinimumReplicasAvailable",
    });
    expect(condition(done, "Progressing")).toMatchObject({
      status: "True",
      reason: "NewReplicaSetAvailable",
      message: `ReplicaSet "web-${hash}" has successfully progressed.`,
    });
    for (const p of await pods(ns)) expect(p.metadata.labels["pod-template-hash"]).toBe(hash);

    // Converged: reconciling again, twice, writes nothing anywhere.
    await round(ns, "web");
    const snapshot = async () => [
      (await getD(ns, "web")).metadata.resourceVersion,
      ...(await replicaSets(ns)).map((x) => x.metadata.resourceVersion),
      ...(await pods(ns, true)).map((p) => p.metadata.resourceVersion).sort(),
    ];
    const before = await snapshot();
    for (let i = 0; i < 2; i++) {
      await reconcile("DEPLOYMENT", "apps/deployments", ns, "web");
      await reconcile("REPLICASET", "apps/replicasets", ns, rs.metadata.name);
    }
    expect(await snapshot()).toEqual(before);

    // kubectl scale: the one active ReplicaSet follows.
    await call("PATCH", `${dPath(ns, "web")}/scale`, { spec: { replicas: 5 } }, merge);
    const scaled = await rollOut(ns, "web");
    expect(scaled.status).toMatchObject({ replicas: 5, availableReplicas: 5 });
    expect((await events(ns, "ScalingReplicaSet")).at(-1)).toBe(
      `Scaled up replica set web-${hash} to 5 from 3`,
    );
  }, 30_000);

  it("rolls 10 replicas from v1 to v2 within maxSurge 3 and maxUnavailable 2", async () => {
    const ns = "dep-rolling";
    await namespace(ns);
    const spec = {
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } },
    };
    await call("POST", dPath(ns), deployment("app", 10, "app:v1", spec));
    await rollOut(ns, "app");
    expect((await pods(ns)).filter(isReady).length).toBe(10);

    let maxPods = 0;
    let minAvailable = Number.POSITIVE_INFINITY;
    let observations = 0;
    const check = async () => {
      const live = await pods(ns);
      const available = live.filter(isReady).length;
      maxPods = Math.max(maxPods, live.length);
      minAvailable = Math.min(minAvailable, available);
      observations++;
      expect(live.length).toBeLessThanOrEqual(13);
      expect(available).toBeGreaterThanOrEqual(8);
    };
    expect((await setImage(ns, "app", "app:v2")).status).toBe(200);
    const done = await rollOut(ns, "app", check);
    expect(observations).toBeGreaterThan(10);
    // The surge was used (the bound was exercised, not trivially met).
    expect(maxPods).toBe(13);
    expect(minAvailable).toBeGreaterThanOrEqual(8);
    expect(done.status).toMatchObject({ replicas: 10, updatedReplicas: 10, availableReplicas: 10 });
    const live = await pods(ns);
    expect(live.length).toBe(10);
    for (const p of live) expect(imageOf(p)).toBe("app:v2");
    const sets = await replicaSets(ns);
    expect(sets.length).toBe(2);
    const old = sets.find((x) => imageOf(x) === "app:v1");
    expect(old.spec.replicas).toBe(0);
    expect(revision(old)).toBe("1");
    expect(revision(sets.find((x) => imageOf(x) === "app:v2"))).toBe("2");
    expect(revision(done)).toBe("2");
  }, 60_000);

  it("rollout undo patches the previous template back and reuses its ReplicaSet", async () => {
    const ns = "dep-undo";
    await namespace(ns);
    await call("POST", dPath(ns), deployment("api", 2, "api:v1"));
    await rollOut(ns, "api");
    await call(
      "PATCH",
      dPath(ns, "api"),
      {
        metadata: { annotations: { "kubernetes.io/change-cause": "upgrade to v2" } },
        spec: { template: { spec: { containers: [{ name: "web", image: "api:v2" }] } } },
      },
      { "content-type": "application/strategic-merge-patch+json" },
    );
    await rollOut(ns, "api");
    const [v1, v2] = ["api:v1", "api:v2"].map(async (img) =>
      (await replicaSets(ns)).find((x) => imageOf(x) === img),
    );
    const rsV1 = await v1;
    const rsV2 = await v2;
    expect(revision(rsV2)).toBe("2");
    // rollout history reads the change-cause copied onto the ReplicaSet.
    expect(rsV2.metadata.annotations["kubernetes.io/change-cause"]).toBe("upgrade to v2");

    const target = await undo(ns, "api");
    expect(target.metadata.name).toBe(rsV1.metadata.name);
    const done = await rollOut(ns, "api");
    const sets = await replicaSets(ns);
    expect(sets.map((x) => x.metadata.name).sort()).toEqual(
      [rsV1.metadata.name, rsV2.metadata.name].sort(),
    );
    const back = sets.find((x) => x.metadata.name === rsV1.metadata.name);
    expect(back.spec.replicas).toBe(2);
    expect(back.metadata.annotations).toMatchObject({
      "deployment.kubernetes.io/revision": "3",
      "deployment.kubernetes.io/revision-history": "1",
    });
    expect(sets.find((x) => x.metadata.name === rsV2.metadata.name).spec.replicas).toBe(0);
    expect(revision(done)).toBe("3");
    expect(imageOf(done)).toBe("api:v1");
    for (const p of await pods(ns)) expect(imageOf(p)).toBe("api:v1");
  }, 60_000);

  it("Recreate scales the old ReplicaSet to zero before the new one gets pods", async () => {
    const ns = "dep-recreate";
    await namespace(ns);
    await call("POST", dPath(ns), deployment("db", 3, "db:v1", { strategy: { type: "Recreate" } }));
    const first = await rollOut(ns, "db");
    expect(condition(first, "Available")).toMatchObject({ status: "True" });
    await setImage(ns, "db", "db:v2");
    const check = async () => {
      const all = await pods(ns, true);
      const fresh = all.filter((p) => imageOf(p) === "db:v2");
      const old = all.filter((p) => imageOf(p) === "db:v1");
      // Old pods, even terminating ones, are gone before any new pod exists.
      if (fresh.length) expect(old.length).toBe(0);
    };
    await rollOut(ns, "db", check);
    const live = await pods(ns);
    expect(live.length).toBe(3);
    for (const p of live) expect(imageOf(p)).toBe("db:v2");
    const scaling = await events(ns, "ScalingReplicaSet");
    const down = scaling.findIndex((m) => /^Scaled down replica set db-\w+ to 0 from 3$/.test(m));
    const up = scaling.findLastIndex((m) => /^Scaled up replica set db-\w+ to 3 from 0$/.test(m));
    expect(down).toBeGreaterThan(0);
    expect(up).toBeGreaterThan(down);
  }, 60_000);

  it("pause stops a rollout and resume completes it; restart makes a new revision", async () => {
    const ns = "dep-pause";
    await namespace(ns);
    await call("POST", dPath(ns), deployment("svc", 2, "svc:v1"));
    await rollOut(ns, "svc");
    await call("PATCH", dPath(ns, "svc"), { spec: { paused: true } }, merge);
    await setImage(ns, "svc", "svc:v2");
    for (let i = 0; i < 3; i++) await round(ns, "svc");
    const paused = await getD(ns, "svc");
    expect(paused.status.observedGeneration).toBe(paused.metadata.generation);
    expect(condition(paused, "Progressing")).toMatchObject({
      status: "Unknown",
      reason: "DeploymentPaused",
      message: "Deployment is paused",
    });
    expect((await replicaSets(ns)).length).toBe(1);
    for (const p of await pods(ns)) expect(imageOf(p)).toBe("svc:v1");

    await call("PATCH", dPath(ns, "svc"), { spec: { paused: null } }, merge);
    const resumed = await rollOut(ns, "svc");
    expect(condition(resumed, "Progressing")).toMatchObject({ reason: "NewReplicaSetAvailable" });
    for (const p of await pods(ns)) expect(imageOf(p)).toBe("svc:v2");
    expect(revision(resumed)).toBe("2");

    // kubectl rollout restart: a template annotation, so a new ReplicaSet and revision.
    await call(
      "PATCH",
      dPath(ns, "svc"),
      {
        spec: {
          template: {
            metadata: {
              annotations: { "kubectl.kubernetes.io/restartedAt": "2026-11-01T00:00:00Z" },
            },
          },
        },
      },
      merge,
    );
    const restarted = await rollOut(ns, "svc");
    expect(revision(restarted)).toBe("3");
    expect((await replicaSets(ns)).length).toBe(3);
  }, 60_000);

  it("keeps revisionHistoryLimit old ReplicaSets", async () => {
    const ns = "dep-history";
    await namespace(ns);
    await call("POST", dPath(ns), deployment("h", 1, "h:v1", { revisionHistoryLimit: 1 }));
    await rollOut(ns, "h");
    for (const v of ["h:v2", "h:v3"]) {
      await setImage(ns, "h", v);
      await rollOut(ns, "h");
    }
    await round(ns, "h");
    const sets = await replicaSets(ns);
    expect(sets.map(imageOf).sort()).toEqual(["h:v2", "h:v3"]);
  }, 60_000);

  it("reports ProgressDeadlineExceeded when pods never become ready", async () => {
    const ns = "dep-deadline";
    await namespace(ns);
    await call(
      "POST",
      dPath(ns),
      deployment("stuck", 2, "stuck:v1", { progressDeadlineSeconds: 2 }),
    );
    for (let i = 0; i < 2; i++) await round(ns, "stuck", undefined, () => false);
    // From here on the controller's own alarm notices the deadline.
    const d = await eventually(async () => {
      const x = await getD(ns, "stuck");
      return condition(x, "Progressing")?.reason === "ProgressDeadlineExceeded" && x;
    }, 15_000);
    const rs = (await replicaSets(ns))[0];
    expect(condition(d, "Progressing")).toMatchObject({
      status: "False",
      message: `ReplicaSet "${rs.metadata.name}" has timed out progressing.`,
    });
    expect(condition(d, "Available")).toMatchObject({
      status: "False",
      reason: "MinimumReplicasUnavailable",
    });
    expect(rolloutStatus(d).message).toBe('deployment "stuck" exceeded its progress deadline');
  }, 30_000);
});

describe("Deployment arithmetic", () => {
  it("rounds surge up and unavailable down, never both zero", () => {
    expect(resolveFenceposts("25%", "25%", 10)).toEqual({ surge: 3, unavailable: 2 });
    expect(resolveFenceposts(3, 2, 10)).toEqual({ surge: 3, unavailable: 2 });
    expect(resolveFenceposts("25%", "25%", 1)).toEqual({ surge: 1, unavailable: 0 });
    expect(resolveFenceposts(0, "10%", 5)).toEqual({ surge: 0, unavailable: 1 });
  });

  it("hashes templates stably, whatever the key order, and differently per collision count", () => {
    const a = {
      metadata: { labels: { app: "x" } },
      spec: { containers: [{ name: "c", image: "i" }] },
    };
    const b = {
      spec: { containers: [{ image: "i", name: "c" }] },
      metadata: { labels: { app: "x" } },
    };
    expect(computeHash(a)).toBe(computeHash(b));
    expect(computeHash(a)).toMatch(HASH);
    expect(computeHash(a, 1)).not.toBe(computeHash(a));
  });

  it("keeps former revisions in revision-history when an old ReplicaSet becomes new again", () => {
    const d = {
      metadata: { annotations: { "kubernetes.io/change-cause": "why" } },
      spec: { replicas: 2 },
    };
    const rs = { metadata: { annotations: { "deployment.kubernetes.io/revision": "1" } } };
    expect(setNewReplicaSetAnnotations(d, rs, 3, true)).toBe(true);
    expect(rs.metadata.annotations).toEqual({
      "deployment.kubernetes.io/revision": "3",
      "deployment.kubernetes.io/revision-history": "1",
      "kubernetes.io/change-cause": "why",
    });
    expect(setNewReplicaSetAnnotations(d, rs, 3, true)).toBe(false);
  });
});
