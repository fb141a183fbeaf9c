import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, eventually } from "./helpers.ts";
import { heartbeat, leaseKeeper, registerNode, syncPods } from "./hollow.ts";

const STS = "/apis/apps/v1/namespaces/default/statefulsets";
const PODS = "/api/v1/namespaces/default/pods";
const PVCS = "/api/v1/namespaces/default/persistentvolumeclaims";
const NODE = "sts-node";
const merge = { "content-type": "application/merge-patch+json" };

type Obj = any;

// Pods are pinned to the hollow node through the template, so most tests do not depend on the
// scheduler; the last one lets the scheduler bind them.
const statefulSet = (name: string, spec: Obj = {}, podSpec: Obj = { nodeName: NODE }) => ({
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  metadata: { name },
  spec: {
    replicas: 3,
    serviceName: `${name}-svc`,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: "db", image: "db:1" }], ...podSpec },
    },
    volumeClaimTemplates: [
      {
        metadata: { name: "data", labels: { tier: "storage" } },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    ],
    ...spec,
  },
});

const podsOf = async (name: string): Promise<Obj[]> =>
  (await call("GET", `${PODS}?labelSelector=app%3D${name}`)).body.items;
const names = (pods: Obj[]) => pods.map((p) => p.metadata.name).sort();
const byName = async (name: string) =>
  Object.fromEntries((await podsOf(name)).map((p: Obj) => [p.metadata.name, p]));
const revisionsOf = async (name: string): Promise<Obj[]> =>
  (
    await call(
      "GET",
      `/apis/apps/v1/namespaces/default/controllerrevisions?labelSelector=app%3D${name}`,
    )
  ).body.items.sort((a: Obj, b: Obj) => a.revision - b.revision);
const getSet = async (name: string) => (await call("GET", `${STS}/${name}`)).body;
const stepper = (name: string) => env.STATEFULSET.getByName(`apps/statefulsets/default/${name}`);
const isReady = (p: Obj) =>
  (p?.status?.conditions ?? []).some((c: Obj) => c.type === "Ready" && c.status === "True");

async function kubelet() {
  await heartbeat(NODE);
  await syncPods(NODE);
}

// Hollow kubelets renew their Leases every second, so no node goes NotReady while a test waits.
const keeper = leaseKeeper();
const alive = keeper.alive;
afterAll(() => keeper.stop());

beforeAll(async () => {
  await registerNode(NODE);
  alive.add(NODE);
});

describe("StatefulSet", { timeout: 30_000 }, () => {
  it("creates pods in order, each after the previous is ready, with identity and storage", async () => {
    await call("POST", STS, statefulSet("web"));
    await eventually(async () => names(await podsOf("web")).join() === "web-0");
    // web-0 is not Ready yet: however often the controller runs, web-1 waits.
    for (let i = 0; i < 3; i++) await stepper("web").reconcileNow();
    expect(names(await podsOf("web"))).toEqual(["web-0"]);

    await kubelet();
    await eventually(async () => names(await podsOf("web")).join() === "web-0,web-1");
    const pods = await eventually(async () => {
      await kubelet();
      const p = await podsOf("web");
      return p.length === 3 && p.every(isReady) && p;
    });
    const web1 = pods.find((p: Obj) => p.metadata.name === "web-1");
    expect(web1.spec.hostname).toBe("web-1");
    expect(web1.spec.subdomain).toBe("web-svc");
    expect(web1.metadata.labels).toMatchObject({
      "statefulset.kubernetes.io/pod-name": "web-1",
      "apps.kubernetes.io/pod-index": "1",
    });
    expect(web1.spec.volumes).toContainEqual({
      name: "data",
      persistentVolumeClaim: { claimName: "data-web-1" },
    });
    const pvc = (await call("GET", `${PVCS}/data-web-1`)).body;
    expect(pvc.metadata.labels).toEqual({ tier: "storage", app: "web" });
    expect(pvc.spec.resources.requests.storage).toBe("1Gi");
    expect(pvc.metadata.ownerReferences).toBeUndefined();

    const set = await eventually(async () => {
      const s = await getSet("web");
      return s.status?.readyReplicas === 3 && s;
    });
    expect(set.status).toMatchObject({
      replicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      currentReplicas: 3,
      updatedReplicas: 3,
      observedGeneration: 1,
    });
    expect(set.status.currentRevision).toBe(set.status.updateRevision);
    expect(set.status.updateRevision).toMatch(/^web-[a-z0-9]+$/);
    expect(web1.metadata.labels["controller-revision-hash"]).toBe(set.status.updateRevision);
  });

  it("scales down from the highest ordinal and keeps the claims", async () => {
    await call("PATCH", `${STS}/web`, { spec: { replicas: 1 } }, merge);
    // web-2 goes first; web-1 is untouched until web-2 is gone.
    const seen = await eventually(async () => {
      const pods = await byName("web");
      const web2Going = !pods["web-2"] || pods["web-2"].metadata.deletionTimestamp;
      if (web2Going && pods["web-1"]?.metadata.deletionTimestamp && pods["web-2"])
        throw new Error("web-1 deleted while web-2 was still there");
      return web2Going && pods;
    });
    expect(seen["web-1"].metadata.deletionTimestamp).toBeUndefined();
    await eventually(async () => {
      const pods = await byName("web");
      if (pods["web-1"]?.metadata.deletionTimestamp && pods["web-2"])
        throw new Error("web-1 deleted while web-2 was still there");
      await kubelet();
      return names(Object.values(pods)).join() === "web-0";
    });
    for (const claim of ["data-web-0", "data-web-1", "data-web-2"])
      expect((await call("GET", `${PVCS}/${claim}`)).status).toBe(200);
    await eventually(async () => (await getSet("web")).status?.replicas === 1);

    // Scaling up again reuses the claims.
    await call("PATCH", `${STS}/web`, { spec: { replicas: 2 } }, merge);
    const web1 = await eventually(async () => {
      await kubelet();
      return (await byName("web"))["web-1"];
    });
    expect(web1.spec.volumes).toContainEqual({
      name: "data",
      persistentVolumeClaim: { claimName: "data-web-1" },
    });
  });

  it("rolls out from the highest ordinal down to the partition", async () => {
    await call(
      "POST",
      STS,
      statefulSet("db", {
        updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } },
      }),
    );
    await eventually(async () => {
      await kubelet();
      return (await getSet("db")).status?.readyReplicas === 3;
    });
    const before = await getSet("db");
    const image = (p: Obj) => p?.spec.containers[0].image;
    await call(
      "PATCH",
      `${STS}/db`,
      { spec: { template: { spec: { containers: [{ name: "db", image: "db:2" }] } } } },
      { "content-type": "application/strategic-merge-patch+json" },
    );
    const rolled = await eventually(async () => {
      await kubelet();
      const pods = await byName("db");
      if (image(pods["db-1"]) === "db:2" && image(pods["db-2"]) !== "db:2")
        throw new Error("db-1 updated before db-2");
      const s = await getSet("db");
      return s.status?.updatedReplicas === 2 && s.status?.readyReplicas === 3 && { s, pods };
    }, 20_000);
    expect(image(rolled.pods["db-0"])).toBe("db:1");
    expect(rolled.s.status.currentRevision).toBe(before.status.currentRevision);
    expect(rolled.s.status.updateRevision).not.toBe(before.status.updateRevision);
    expect(rolled.s.status.currentReplicas).toBe(1);
    // Both revisions are ControllerRevisions, numbered in order.
    expect((await revisionsOf("db")).map((r) => [r.metadata.name, r.revision])).toEqual([
      [before.status.currentRevision, 1],
      [rolled.s.status.updateRevision, 2],
    ]);
    // A pod below the partition comes back from the current revision's template.
    await call("DELETE", `${PODS}/db-0`, { gracePeriodSeconds: 0 });
    const again = await eventually(async () => {
      await kubelet();
      const p = (await byName("db"))["db-0"];
      return (
        p &&
        !p.metadata.deletionTimestamp &&
        p.metadata.uid !== rolled.pods["db-0"].metadata.uid &&
        p
      );
    });
    expect(image(again)).toBe("db:1");
    expect(again.metadata.labels["controller-revision-hash"]).toBe(before.status.currentRevision);

    await call(
      "PATCH",
      `${STS}/db`,
      { spec: { updateStrategy: { rollingUpdate: { partition: 0 } } } },
      merge,
    );
    const done = await eventually(async () => {
      await kubelet();
      const s = await getSet("db");
      return (
        s.status?.currentRevision === s.status?.updateRevision && s.status?.readyReplicas === 3 && s
      );
    }, 20_000);
    expect(done.status.currentReplicas).toBe(3);
    expect(image((await byName("db"))["db-0"])).toBe("db:2");

    // kubectl rollout undo: revision 1's data as a strategic merge patch; it becomes revision 3.
    const [first] = await revisionsOf("db");
    const undo = await call("PATCH", `${STS}/db`, first.data, {
      "content-type": "application/strategic-merge-patch+json",
    });
    expect(undo.status).toBe(200);
    const undone = await eventually(async () => {
      await kubelet();
      const s = await getSet("db");
      const pods = Object.values(await byName("db"));
      return (
        s.status?.currentRevision === before.status.currentRevision &&
        s.status?.updatedReplicas === 3 &&
        s.status?.readyReplicas === 3 &&
        pods.every((p: Obj) => image(p) === "db:1") &&
        s
      );
    }, 20_000);
    expect(undone.status.updateRevision).toBe(before.status.currentRevision);
    expect((await revisionsOf("db")).map((r) => [r.metadata.name, r.revision])).toEqual([
      [rolled.s.status.updateRevision, 2],
      [before.status.currentRevision, 3],
    ]);
  }, 60_000);

  it("Parallel creates every pod at once; whenScaled Delete drops scaled-away claims", async () => {
    await call(
      "POST",
      STS,
      statefulSet("par", {
        podManagementPolicy: "Parallel",
        persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Delete" },
      }),
    );
    await eventually(async () => names(await podsOf("par")).join() === "par-0,par-1,par-2");
    expect((await podsOf("par")).some(isReady)).toBe(false);

    await call("PATCH", `${STS}/par`, { spec: { replicas: 1 } }, merge);
    await eventually(async () => {
      await kubelet();
      return names(await podsOf("par")).join() === "par-0";
    });
    await eventually(async () => (await call("GET", `${PVCS}/data-par-2`)).status === 404);
    expect((await call("GET", `${PVCS}/data-par-1`)).status).toBe(404);
    expect((await call("GET", `${PVCS}/data-par-0`)).status).toBe(200);
  });

  it("runs pods the scheduler binds", async () => {
    await call("POST", STS, statefulSet("sched", { replicas: 2, volumeClaimTemplates: [] }, {}));
    const pods = await eventually(async () => {
      await env.SCHEDULER.getByName("scheduler").reconcileNow();
      await kubelet();
      const p = await podsOf("sched");
      return p.length === 2 && p.every(isReady) && p;
    }, 20_000);
    expect(pods.map((p: Obj) => p.spec.nodeName)).toEqual([NODE, NODE]);
  }, 30_000);
});
