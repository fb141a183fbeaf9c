import { env } from "cloudflare:test";
import { afterAll, describe, expect, it } from "vitest";
import { call, eventually } from "./helpers.ts";
import { leaseKeeper, registerNode, syncPods } from "./hollow.ts";

const NS = "default";
const podsPath = `/api/v1/namespaces/${NS}/pods`;
const servicesPath = `/api/v1/namespaces/${NS}/services`;
const endpointsPath = (name: string) => `/api/v1/namespaces/${NS}/endpoints/${name}`;
const slicesPath = (service: string) =>
  `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${service}`;

interface PodOptions {
  labels: Record<string, string>;
  ports?: { name: string; containerPort: number }[];
  hostname?: string;
  subdomain?: string;
}

async function createPod(node: string, name: string, o: PodOptions) {
  const res = await call("POST", podsPath, {
    metadata: { name, labels: o.labels },
    spec: {
      nodeName: node,
      hostname: o.hostname,
      subdomain: o.subdomain,
      containers: [{ name: "c", image: "busybox", ports: o.ports }],
    },
  });
  if (res.status !== 201) throw new Error(`pod ${name}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function createService(name: string, spec: Record<string, unknown>) {
  const res = await call("POST", servicesPath, {
    metadata: { name, labels: { tier: name } },
    spec,
  });
  if (res.status !== 201) throw new Error(`service ${name}: ${JSON.stringify(res.body)}`);
  return res.body;
}

// Every test's hollow node stays alive for the rest of the file.
const keeper = leaseKeeper();
afterAll(() => keeper.stop());

/** A fresh hollow node per test. */
async function node(name: string) {
  await registerNode(name);
  keeper.alive.add(name);
  return { name };
}

const merge = { "content-type": "application/merge-patch+json" };
const getEndpoints = async (name: string) => {
  const res = await call("GET", endpointsPath(name));
  return res.status === 200 ? res.body : undefined;
};

const getSlices = async (service: string): Promise<any[]> =>
  (await call("GET", slicesPath(service))).body.items ?? [];

const ips = (list: any[] | undefined) => (list ?? []).map((a) => a.ip).sort();
const podIP = async (name: string): Promise<string> =>
  (await call("GET", `${podsPath}/${name}`)).body.status.podIP;

/** The slices' endpoints, by pod name. */
const sliceEndpoints = (slices: any[]) =>
  Object.fromEntries(
    slices.flatMap((s) => (s.endpoints ?? []).map((e: any) => [e.targetRef.name, e])),
  );

describe("endpoints controller", () => {
  it("lists ready pods in addresses and not-ready ones in notReadyAddresses", async () => {
    const n = await node("ep-split");
    const a = await createPod(n.name, "split-a", { labels: { app: "split" } });
    await createPod(n.name, "split-b", { labels: { app: "split" } });
    await createPod(n.name, "split-other", { labels: { app: "other" } });
    await syncPods(n.name, { ready: (p) => p.metadata.name !== "split-b" });
    const svc = await createService("split", {
      selector: { app: "split" },
      ports: [{ name: "web", port: 80, targetPort: 8080 }],
    });
    const [ipA, ipB] = [await podIP("split-a"), await podIP("split-b")];

    const ep = await eventually(async () => {
      const e = await getEndpoints("split");
      return e?.subsets?.[0]?.notReadyAddresses?.length ? e : undefined;
    });
    expect(ep.metadata.labels).toMatchObject({
      tier: "split",
      "endpoints.kubernetes.io/managed-by": "endpoint-controller",
    });
    expect(ep.subsets).toEqual([
      {
        addresses: [
          {
            ip: ipA,
            nodeName: n.name,
            targetRef: { kind: "Pod", namespace: NS, name: "split-a", uid: a.metadata.uid },
          },
        ],
        notReadyAddresses: [expect.objectContaining({ ip: ipB, nodeName: n.name })],
        ports: [{ name: "web", port: 8080, protocol: "TCP" }],
      },
    ]);

    const slices = await eventually(async () => {
      const s = await getSlices("split");
      return Object.keys(sliceEndpoints(s)).length === 2 ? s : undefined;
    });
    expect(slices).toHaveLength(1);
    const slice = slices[0];
    expect(slice.metadata.name.startsWith("split-")).toBe(true);
    expect(slice.metadata.labels).toMatchObject({
      tier: "split",
      "kubernetes.io/service-name": "split",
      "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    });
    expect(slice.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: "v1",
        kind: "Service",
        name: "split",
        uid: svc.metadata.uid,
        controller: true,
      }),
    ]);
    expect(slice.addressType).toBe("IPv4");
    expect(slice.ports).toEqual([{ name: "web", port: 8080, protocol: "TCP" }]);
    const eps = sliceEndpoints(slices);
    expect(eps["split-a"]).toEqual({
      addresses: [ipA],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: n.name,
      targetRef: { kind: "Pod", namespace: NS, name: "split-a", uid: a.metadata.uid },
    });
    expect(eps["split-b"].conditions).toEqual({ ready: false, serving: false, terminating: false });
  });

  it("resolves named target ports per pod, one subset per set of ports", async () => {
    const n = await node("ep-named");
    const labels = { app: "named" };
    await createPod(n.name, "named-a", { labels, ports: [{ name: "http", containerPort: 8080 }] });
    await createPod(n.name, "named-b", { labels, ports: [{ name: "http", containerPort: 8080 }] });
    await createPod(n.name, "named-c", { labels, ports: [{ name: "http", containerPort: 9090 }] });
    await createPod(n.name, "named-none", { labels, ports: [{ name: "admin", containerPort: 1 }] });
    await syncPods(n.name);
    await createService("named", {
      selector: labels,
      ports: [{ name: "http", port: 80, targetPort: "http" }],
    });
    const ip = Object.fromEntries(
      await Promise.all(
        ["named-a", "named-b", "named-c"].map(async (p) => [p, await podIP(p)] as const),
      ),
    );

    const ep = await eventually(async () => {
      const e = await getEndpoints("named");
      return e?.subsets?.length === 2 ? e : undefined;
    });
    const byPort = Object.fromEntries(
      ep.subsets.map((s: any) => [s.ports[0].port, ips(s.addresses)]),
    );
    expect(byPort).toEqual({
      8080: [ip["named-a"], ip["named-b"]].sort(),
      9090: [ip["named-c"]],
    });
    // The pod without an "http" port serves nothing for this Service.
    expect(JSON.stringify(ep.subsets)).not.toContain("named-none");

    const slices = await eventually(async () => {
      const s = await getSlices("named");
      return s.some((x) => x.ports?.[0]?.port === 9090) ? s : undefined;
    });
    const names = (port: number) =>
      slices
        .filter((s) => s.ports?.[0]?.port === port)
        .flatMap((s) => s.endpoints.map((e: any) => e.targetRef.name))
        .sort();
    expect(names(8080)).toEqual(["named-a", "named-b"]);
    expect(names(9090)).toEqual(["named-c"]);
  });

  it("moves a pod that stops being ready (a failing readiness probe) out of addresses", async () => {
    const n = await node("ep-probe");
    await createPod(n.name, "probe-a", { labels: { app: "probe" } });
    await syncPods(n.name);
    await createService("probe", { selector: { app: "probe" }, ports: [{ port: 80 }] });
    const ip = await podIP("probe-a");
    await eventually(async () => (await getEndpoints("probe"))?.subsets?.[0]?.addresses?.length);

    // The kubelet's readiness probe starts failing: Ready=False.
    expect(await syncPods(n.name, { ready: () => false })).toBe(1);
    const ep = await eventually(async () => {
      const e = await getEndpoints("probe");
      return e?.subsets?.[0]?.notReadyAddresses ? e : undefined;
    });
    expect(ep.subsets[0].addresses).toBeUndefined();
    expect(ips(ep.subsets[0].notReadyAddresses)).toEqual([ip]);
    await eventually(async () => {
      const e = sliceEndpoints(await getSlices("probe"))["probe-a"];
      return e?.conditions.ready === false && e.conditions.serving === false;
    });

    // And it comes back when the probe passes again.
    await syncPods(n.name, { ready: () => true });
    await eventually(async () => {
      const e = await getEndpoints("probe");
      return ips(e?.subsets?.[0]?.addresses)[0] === ip && !e.subsets[0].notReadyAddresses;
    });
  });

  it("publishNotReadyAddresses lists not-ready pods as addresses", async () => {
    const n = await node("ep-publish");
    await createPod(n.name, "publish-a", { labels: { app: "publish" } });
    await syncPods(n.name, { ready: () => false });
    await createService("publish", {
      selector: { app: "publish" },
      publishNotReadyAddresses: true,
      ports: [{ port: 80 }],
    });
    const ip = await podIP("publish-a");
    const ep = await eventually(async () => {
      const e = await getEndpoints("publish");
      return e?.subsets?.length ? e : undefined;
    });
    expect(ips(ep.subsets[0].addresses)).toEqual([ip]);
    expect(ep.subsets[0].notReadyAddresses).toBeUndefined();
    const e = await eventually(async () => sliceEndpoints(await getSlices("publish"))["publish-a"]);
    expect(e.conditions).toEqual({ ready: true, serving: false, terminating: false });
  });

  it("fills headless services, with or without ports, and names pods of their subdomain", async () => {
    const n = await node("ep-headless");
    await createPod(n.name, "db-0", {
      labels: { app: "db" },
      hostname: "db-0",
      subdomain: "db",
    });
    await syncPods(n.name);
    await createService("db", {
      clusterIP: "None",
      selector: { app: "db" },
      ports: [{ port: 5432 }],
    });
    await createService("db-noports", { clusterIP: "None", selector: { app: "db" } });
    const ip = await podIP("db-0");

    const ep = await eventually(
      async () => (await getEndpoints("db"))?.subsets?.[0] && getEndpoints("db"),
    );
    expect(ep.metadata.labels["service.kubernetes.io/headless"]).toBe("");
    expect(ep.subsets[0].addresses[0]).toMatchObject({ ip, hostname: "db-0" });
    expect(ep.subsets[0].ports).toEqual([{ port: 5432, protocol: "TCP" }]);

    const bare = await eventually(async () => {
      const e = await getEndpoints("db-noports");
      return e?.subsets?.length ? e : undefined;
    });
    expect(ips(bare.subsets[0].addresses)).toEqual([ip]);
    expect(bare.subsets[0].ports).toBeUndefined();
    // Only the Service the pod names as its subdomain gives it a hostname.
    expect(bare.subsets[0].addresses[0].hostname).toBeUndefined();

    const slices = await eventually(async () => {
      const s = await getSlices("db");
      return sliceEndpoints(s)["db-0"] ? s : undefined;
    });
    expect(slices[0].metadata.labels["service.kubernetes.io/headless"]).toBe("");
    expect(sliceEndpoints(slices)["db-0"].hostname).toBe("db-0");
  });

  it("drops a deleted pod: at once from Endpoints, from slices once it is gone", async () => {
    const n = await node("ep-delete");
    await createPod(n.name, "gone-a", { labels: { app: "gone" } });
    await createPod(n.name, "gone-b", { labels: { app: "gone" } });
    await syncPods(n.name);
    await createService("gone", { selector: { app: "gone" }, ports: [{ port: 80 }] });
    const ipB = await podIP("gone-b");
    await eventually(
      async () => (await getEndpoints("gone"))?.subsets?.[0]?.addresses?.length === 2,
    );

    const del = await call("DELETE", `${podsPath}/gone-a`);
    expect(del.body.metadata.deletionTimestamp).toBeTruthy();
    // Terminating: no longer an address, still in its slice marked terminating.
    await eventually(async () => {
      const e = await getEndpoints("gone");
      return jsonEq(ips(e?.subsets?.[0]?.addresses), [ipB]) && !e.subsets[0].notReadyAddresses;
    });
    await eventually(async () => {
      const e = sliceEndpoints(await getSlices("gone"))["gone-a"];
      return e?.conditions.terminating && !e.conditions.ready;
    });

    // The kubelet confirms the deletion: the pod is gone everywhere.
    await syncPods(n.name);
    await eventually(async () => {
      const eps = sliceEndpoints(await getSlices("gone"));
      return !eps["gone-a"] && eps["gone-b"];
    });
  });

  it("removes Endpoints and EndpointSlices with their Service", async () => {
    const n = await node("ep-svcdel");
    await createPod(n.name, "svcdel-a", { labels: { app: "svcdel" } });
    await syncPods(n.name);
    await createService("svcdel", { selector: { app: "svcdel" }, ports: [{ port: 80 }] });
    await eventually(async () => (await getEndpoints("svcdel"))?.subsets?.length);
    await eventually(async () => (await getSlices("svcdel")).length === 1);

    expect((await call("DELETE", `${servicesPath}/svcdel`)).status).toBe(200);
    await eventually(async () => (await call("GET", endpointsPath("svcdel"))).status === 404);
    await eventually(async () => (await getSlices("svcdel")).length === 0);
  });

  it("keeps a placeholder slice for a Service that selects no pods", async () => {
    const svc = await createService("lonely", {
      selector: { app: "nobody" },
      ports: [{ port: 80 }],
    });
    const slices = await eventually(async () => {
      const s = await getSlices("lonely");
      return s.length ? s : undefined;
    });
    expect(slices).toHaveLength(1);
    expect(slices[0].endpoints ?? []).toEqual([]);
    expect(slices[0].metadata.ownerReferences[0].uid).toBe(svc.metadata.uid);
    const ep = await eventually(() => getEndpoints("lonely"));
    expect(ep.subsets).toBeUndefined();
  });

  it("leaves the Endpoints of a Service without a selector to its user and mirrors them", async () => {
    await createService("manual", { ports: [{ port: 80 }] });
    const mine = await call("POST", `/api/v1/namespaces/${NS}/endpoints`, {
      metadata: { name: "manual", labels: { team: "db" } },
      subsets: [
        {
          addresses: [{ ip: "192.0.2.7", hostname: "db-a" }],
          notReadyAddresses: [{ ip: "192.0.2.8" }],
          ports: [{ name: "pg", port: 5432 }],
        },
      ],
    });
    expect(mine.status).toBe(201);
    const slices = await eventually(async () => {
      const s = await getSlices("manual");
      return s.length === 1 && s;
    });
    const after = await getEndpoints("manual");
    expect(after.metadata.resourceVersion).toBe(mine.body.metadata.resourceVersion);
    expect(slices[0]).toMatchObject({
      metadata: {
        generateName: "manual-",
        labels: {
          team: "db",
          "kubernetes.io/service-name": "manual",
          "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io",
        },
        ownerReferences: [
          { apiVersion: "v1", kind: "Endpoints", name: "manual", uid: after.metadata.uid },
        ],
      },
      addressType: "IPv4",
      ports: [{ name: "pg", port: 5432, protocol: "TCP" }],
      endpoints: [
        { addresses: ["192.0.2.7"], conditions: { ready: true }, hostname: "db-a" },
        { addresses: ["192.0.2.8"], conditions: { ready: false } },
      ],
    });

    // An edit is mirrored into the same slice; skip-mirror takes the slices away.
    const path = `/api/v1/namespaces/${NS}/endpoints/manual`;
    await call(
      "PATCH",
      path,
      { subsets: [{ addresses: [{ ip: "192.0.2.9" }], ports: [{ port: 5432 }] }] },
      merge,
    );
    const edited = await eventually(async () => {
      const s = await getSlices("manual");
      return s.length === 1 && s[0].endpoints?.[0]?.addresses?.[0] === "192.0.2.9" && s[0];
    });
    expect(edited.metadata.name).toBe(slices[0].metadata.name);
    await call(
      "PATCH",
      path,
      { metadata: { labels: { "endpointslice.kubernetes.io/skip-mirror": "true" } } },
      merge,
    );
    await eventually(async () => (await getSlices("manual")).length === 0);
  });

  it("gives the kubernetes Service the control plane's address as its endpoint", async () => {
    const ep = await eventually(() => getEndpoints("kubernetes"));
    expect(ep.metadata.labels).toEqual({ "endpointslice.kubernetes.io/skip-mirror": "true" });
    expect(ep.subsets).toEqual([
      { addresses: [{ ip: "192.0.2.10" }], ports: [{ name: "https", port: 443, protocol: "TCP" }] },
    ]);
    const [slice] = await eventually(async () => {
      const s = await getSlices("kubernetes");
      return s.length > 0 && s;
    });
    expect(slice).toMatchObject({
      metadata: { name: "kubernetes", labels: { "kubernetes.io/service-name": "kubernetes" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["192.0.2.10"], conditions: { ready: true } }],
      ports: [{ name: "https", port: 443, protocol: "TCP" }],
    });
    expect(slice.metadata.labels["endpointslice.kubernetes.io/managed-by"]).toBeUndefined();
    // A hand edit is put right again.
    await call("PATCH", endpointsPath("kubernetes"), { subsets: null }, merge);
    await env.ENDPOINTS.getByName(`endpoints/${NS}`).reconcileNow();
    expect((await getEndpoints("kubernetes")).subsets).toEqual(ep.subsets);
  });

  it("changes nothing when a reconcile runs again", async () => {
    const n = await node("ep-idem");
    for (const p of ["idem-a", "idem-b", "idem-c"])
      await createPod(n.name, p, {
        labels: { app: "idem" },
        ports: [{ name: "http", containerPort: p === "idem-c" ? 9090 : 8080 }],
      });
    await syncPods(n.name, { ready: (p) => p.metadata.name !== "idem-b" });
    await createService("idem", {
      selector: { app: "idem" },
      ports: [
        { name: "http", port: 80, targetPort: "http" },
        { name: "metrics", port: 9100 },
      ],
    });
    // http:8080 (a, b), http:9090 (c) and metrics:9100 (all three): three sets of addresses.
    await eventually(async () => (await getEndpoints("idem"))?.subsets?.length === 3);
    const controller = env.ENDPOINTS.getByName(`endpoints/${NS}`);
    await controller.reconcileNow();
    const versions = async () => ({
      endpoints: (await getEndpoints("idem")).metadata.resourceVersion,
      slices: Object.fromEntries(
        (await getSlices("idem")).map((s) => [s.metadata.name, s.metadata.resourceVersion]),
      ),
    });
    const before = await versions();
    expect(Object.keys(before.slices)).toHaveLength(2);
    expect(await controller.reconcileNow()).toBe("resync");
    expect(await controller.reconcileNow()).toBe("resync");
    expect(await versions()).toEqual(before);
  });

  it("splits more than 100 endpoints across slices", async () => {
    // Bound to a node that was never registered: 210 writes take long enough on a loaded
    // machine for a hollow node to miss its 3 s grace, and then its pods would be marked not
    // ready and evicted. Which node a pod runs on does not matter to its slices.
    const nodeName = "ep-unregistered";
    const count = 105;
    // In parallel batches (syncPods goes one pod at a time): a running, ready pod with an address.
    for (let i = 0; i < count; i += 15) {
      await Promise.all(
        Array.from({ length: Math.min(15, count - i) }, async (_, j) => {
          const pod = await createPod(nodeName, `many-${i + j}`, { labels: { app: "many" } });
          const ip = `10.42.1.${i + j + 1}`;
          const status = {
            phase: "Running",
            podIP: ip,
            podIPs: [{ ip }],
            conditions: [{ type: "Ready", status: "True" }],
          };
          await call("PUT", `${podsPath}/${pod.metadata.name}/status`, { ...pod, status });
        }),
      );
    }
    await createService("many", { selector: { app: "many" }, ports: [{ port: 80 }] });
    const slices = await eventually(async () => {
      const s = await getSlices("many");
      return Object.keys(sliceEndpoints(s)).length === count ? s : undefined;
    }, 30_000);
    expect(slices.map((s) => s.endpoints.length).sort((a, b) => a - b)).toEqual([5, 100]);
    const ep = await eventually(async () => {
      const e = await getEndpoints("many");
      return e?.subsets?.[0]?.addresses?.length === count ? e : undefined;
    }, 30_000);
    expect(ep.subsets).toHaveLength(1);
  }, 90_000);
});

const jsonEq = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
