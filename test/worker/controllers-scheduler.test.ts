// The scheduler and pods/binding: pods land on nodes that fit, a pod that fits nowhere says why
// per node as kube-scheduler words it, waits, and is placed once capacity frees; a binding
// assigns a node only once.
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, eventually } from "./helpers.ts";
import { type HollowNodeOptions, heartbeat, registerNode, syncPods } from "./hollow.ts";

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const NS = "default";
const podsPath = (name = "") => `/api/v1/namespaces/${NS}/pods${name ? `/${name}` : ""}`;

interface PodOptions {
  cpu?: string;
  labels?: Record<string, string>;
  spec?: Record<string, unknown>;
  container?: Record<string, unknown>;
}

function pod(name: string, o: PodOptions = {}) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: o.labels },
    spec: {
      containers: [
        {
          name: "c",
          image: "nginx:1.27",
          ...(o.cpu ? { resources: { requests: { cpu: o.cpu } } } : {}),
          ...o.container,
        },
      ],
      ...o.spec,
    },
  };
}

async function createPod(name: string, o: PodOptions = {}) {
  const r = await call("POST", podsPath(), pod(name, o));
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

const getPod = async (name: string) => (await call("GET", podsPath(name))).body;

const boundTo = async (name: string) => (await getPod(name))?.spec?.nodeName as string | undefined;

const scheduledCondition = (p: any) =>
  (p?.status?.conditions ?? []).find((c: any) => c.type === "PodScheduled");

async function eventsFor(name: string): Promise<any[]> {
  const r = await call("GET", `/api/v1/namespaces/${NS}/events`);
  return (r.body.items ?? []).filter((e: any) => e.involvedObject?.name === name);
}

// Hollow nodes that keep renewing their Leases while a test runs (the grace period is 3 s).
const alive = new Set<string>();
let beating: Promise<void> | undefined;

async function nodes(specs: Record<string, HollowNodeOptions>) {
  for (const [name, o] of Object.entries(specs)) {
    await registerNode(name, o);
    alive.add(name);
  }
  beating ??= (async () => {
    while (alive.size) {
      await Promise.all([...alive].map((n) => heartbeat(n)));
      await new Promise((r) => setTimeout(r, 700));
    }
  })();
}

afterEach(async () => {
  const names = [...alive];
  alive.clear();
  await beating;
  beating = undefined;
  await call("DELETE", podsPath(), { gracePeriodSeconds: 0 });
  for (const n of names) await call("DELETE", `/api/v1/nodes/${n}`);
  await eventually(async () => {
    const r = await call("GET", podsPath());
    return r.body.items.length === 0;
  });
});

describe("scheduler", () => {
  it("binds pending pods, spreads a ReplicaSet's pods, and records Scheduled events", async () => {
    await nodes({ "s1-a": {}, "s1-b": {}, "s1-c": {} });
    const rs = await call("POST", `/apis/apps/v1/namespaces/${NS}/replicasets`, {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: "web" },
      spec: {
        replicas: 6,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
        },
      },
    });
    expect(rs.status).toBe(201);
    const placed = await eventually(async () => {
      const items: any[] = (await call("GET", podsPath())).body.items;
      return items.length === 6 && items.every((p) => p.spec.nodeName) && items;
    });
    const perNode = new Map<string, number>();
    for (const p of placed) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    expect(Object.fromEntries(perNode)).toEqual({ "s1-a": 2, "s1-b": 2, "s1-c": 2 });

    const name = placed[0].metadata.name;
    const p = await getPod(name);
    expect(scheduledCondition(p)).toMatchObject({ status: "True" });
    const ev = await eventually(async () =>
      (await eventsFor(name)).find((e) => e.reason === "Scheduled"),
    );
    expect(ev).toMatchObject({
      type: "Normal",
      message: `Successfully assigned default/${name} to ${p.spec.nodeName}`,
      source: { component: "default-scheduler" },
    });
    await call("DELETE", `/apis/apps/v1/namespaces/${NS}/replicasets/web`);
  });

  it("says why each node was rejected, then places the pod when capacity frees", async () => {
    await nodes({
      "s2-gpu": { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] },
      "s2-a": { cpu: "1" },
      "s2-b": { cpu: "1" },
    });
    await createPod("hog-a", {
      cpu: "800m",
      spec: { nodeSelector: { "kubernetes.io/hostname": "s2-a" } },
    });
    await createPod("hog-b", {
      cpu: "800m",
      spec: { nodeSelector: { "kubernetes.io/hostname": "s2-b" } },
    });
    await eventually(async () => (await boundTo("hog-a")) && (await boundTo("hog-b")));

    await createPod("big", { cpu: "500m" });
    const message =
      "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu.";
    const cond = await eventually(async () => {
      const c = scheduledCondition(await getPod("big"));
      return c?.status === "False" && c;
    });
    expect(cond).toMatchObject({ reason: "Unschedulable", message });
    const warning = await eventually(async () =>
      (await eventsFor("big")).find((e) => e.reason === "FailedScheduling"),
    );
    expect(warning).toMatchObject({ type: "Warning", message });
    expect(await boundTo("big")).toBeUndefined();

    // A terminating pod still holds its requests; once the kubelet confirms, they are free.
    await call("DELETE", podsPath("hog-b"));
    await eventually(async () => {
      await syncPods("s2-b");
      return (await boundTo("big")) === "s2-b";
    });
    expect(scheduledCondition(await getPod("big"))).toMatchObject({ status: "True" });
  });

  it("tells alike pods that fit nowhere why, all alike, and places them on a node added later", async () => {
    await nodes({ "s4-a": { cpu: "1" } });
    const names = ["alike-0", "alike-1", "alike-2", "alike-3", "alike-4"];
    for (const n of names) await createPod(n, { cpu: "2", labels: { app: "alike" } });
    const message = "0/1 nodes are available: 1 Insufficient cpu.";
    for (const n of names)
      expect(
        await eventually(async () => {
          const c = scheduledCondition(await getPod(n));
          return c?.status === "False" && c.message;
        }),
      ).toBe(message);

    // The new node reaches the scheduler through the change log, not a full re-read.
    await nodes({ "s4-big": { cpu: "16" } });
    for (const n of names) expect(await eventually(() => boundTo(n))).toBe("s4-big");
  });

  it("honours cordons, node affinity, host ports and pod anti-affinity", async () => {
    await nodes({
      "s3-a": { labels: { zone: "z1" } },
      "s3-b": { labels: { zone: "z2" } },
      "s3-c": { labels: { zone: "z2" } },
    });
    await call(
      "PATCH",
      "/api/v1/nodes/s3-c",
      { spec: { unschedulable: true } },
      { "content-type": "application/merge-patch+json" },
    );
    await createPod("z1-only", {
      spec: {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: "zone", operator: "In", values: ["z1"] }] },
              ],
            },
          },
        },
      },
    });
    expect(await eventually(() => boundTo("z1-only"))).toBe("s3-a");

    const port = { container: { ports: [{ containerPort: 80, hostPort: 8080 }] } };
    await createPod("port-1", port);
    await createPod("port-2", port);
    await eventually(async () => (await boundTo("port-1")) && (await boundTo("port-2")));
    expect(new Set([await boundTo("port-1"), await boundTo("port-2")]).size).toBe(2);
    await createPod("port-3", port);
    await eventually(async () =>
      scheduledCondition(await getPod("port-3"))?.message ===
      "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't have free ports for the requested pod ports."
        ? true
        : undefined,
    );

    const anti = (name: string) =>
      createPod(name, {
        labels: { app: "solo" },
        spec: {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                {
                  labelSelector: { matchLabels: { app: "solo" } },
                  topologyKey: "kubernetes.io/hostname",
                },
              ],
            },
          },
        },
      });
    await anti("solo-1");
    await anti("solo-2");
    await eventually(async () => (await boundTo("solo-1")) && (await boundTo("solo-2")));
    await anti("solo-3");
    await eventually(async () =>
      scheduledCondition(await getPod("solo-3"))?.message ===
      "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod anti-affinity rules."
        ? true
        : undefined,
    );

    // Uncordoning the node lets both waiting pods on it.
    await call(
      "PATCH",
      "/api/v1/nodes/s3-c",
      { spec: { unschedulable: false } },
      { "content-type": "application/merge-patch+json" },
    );
    await eventually(async () => (await boundTo("port-3")) === "s3-c" && (await boundTo("solo-3")));
    expect(await boundTo("solo-3")).toBe("s3-c");
  });
});

describe("pods/binding", () => {
  it("assigns a node once; a second binding conflicts and nodeName stays immutable", async () => {
    await createPod("manual", { spec: { schedulerName: "my-scheduler" } });
    const binding = (node: string) => ({
      apiVersion: "v1",
      kind: "Binding",
      metadata: { name: "manual" },
      target: { apiVersion: "v1", kind: "Node", name: node },
    });
    const first = await call("POST", `${podsPath("manual")}/binding`, binding("node-x"));
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: "Status", status: "Success" });
    const p = await getPod("manual");
    expect(p.spec.nodeName).toBe("node-x");
    expect(scheduledCondition(p)).toMatchObject({ status: "True" });

    const second = await call("POST", `${podsPath("manual")}/binding`, binding("node-y"));
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({
      reason: "Conflict",
      message:
        'Operation cannot be fulfilled on pods/binding "manual": pod manual is already assigned to node "node-x"',
    });

    const put = await call("PUT", podsPath("manual"), {
      ...p,
      spec: { ...p.spec, nodeName: "node-y" },
    });
    expect(put.status).toBe(422);
    expect((await getPod("manual")).spec.nodeName).toBe("node-x");

    const wrongName = await call("POST", `${podsPath("manual")}/binding`, {
      ...binding("node-y"),
      metadata: { name: "other" },
    });
    expect(wrongName.status).toBe(400);
  });
});
