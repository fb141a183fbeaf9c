// @kubernetes/client-node against the real control plane: an informer on pods keeps an ordered
// view of ADDED/MODIFIED/DELETED and recovers when its watch is cut or the control plane restarts.
import { connect, createServer, type Server, type Socket } from "node:net";
import {
  CoreV1Api,
  type Informer,
  KubeConfig,
  makeInformer,
  type ObjectCache,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, eventually, startCluster } from "./cluster.ts";

/** A TCP pass-through to the control plane whose connections the test can cut. */
interface CuttableProxy {
  port: number;
  connections: number;
  cut(): void;
  close(): Promise<void>;
}

function proxy(targetPort: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    connections++;
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
  });
  const cut = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve({
        port: typeof addr === "object" && addr ? addr.port : 0,
        get connections() {
          return connections;
        },
        cut,
        close() {
          cut();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}

function kubeConfigFor(server: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "kubeflare", server, skipTLSVerify: true }],
    users: [{ name: "admin", token }],
    contexts: [{ name: "kubeflare", cluster: "kubeflare", user: "admin", namespace: "default" }],
    currentContext: "kubeflare",
  });
  return kc;
}

interface Seen {
  type: "ADDED" | "MODIFIED" | "DELETED";
  name: string;
  labels: Record<string, string>;
}

const ns = "informer";
let cluster: Cluster;
let pass: CuttableProxy;
let api: CoreV1Api; // writes go straight to the control plane, never through the proxy
let informer: (Informer<V1Pod> & ObjectCache<V1Pod>) | undefined;
let stopped = false;
const seen: Seen[] = [];
const errors: unknown[] = [];

const pod = (name: string): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, labels: { app: "informer-test" } },
  spec: { containers: [{ name: "main", image: "busybox:1.36", command: ["sleep", "3600"] }] },
});

const create = (name: string) => api.createNamespacedPod({ namespace: ns, body: pod(name) });
const label = (name: string, value: string) =>
  api.patchNamespacedPod(
    { name, namespace: ns, body: { metadata: { labels: { step: value } } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
const remove = (name: string) => api.deleteNamespacedPod({ name, namespace: ns });

const eventsFor = (name: string) =>
  seen
    .filter((e) => e.name === name)
    .map((e) => `${e.type}${e.labels.step ? `:${e.labels.step}` : ""}`);

async function waitForEvents(name: string, expected: string[], timeoutMs = 30_000) {
  try {
    await eventually(() => eventsFor(name).length >= expected.length, timeoutMs);
  } catch {
    // Fall through to the assertion, which shows what was seen.
  }
  expect(eventsFor(name)).toEqual(expected);
}

beforeAll(async () => {
  cluster = await startCluster();
  pass = await proxy(cluster.port);
  api = kubeConfigFor(cluster.server, cluster.token).makeApiClient(CoreV1Api);
  await cluster.kubectl(["apply", "-f", "-"], {
    input: `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`,
  });
  const viaProxy = kubeConfigFor(`https://127.0.0.1:${pass.port}`, cluster.token);
  const proxied = viaProxy.makeApiClient(CoreV1Api);
  const inf = makeInformer<V1Pod>(viaProxy, `/api/v1/namespaces/${ns}/pods`, () =>
    proxied.listNamespacedPod({ namespace: ns }),
  );
  const record = (type: Seen["type"]) => (o: V1Pod) => {
    const name = o.metadata?.name ?? "";
    const labels = { ...(o.metadata?.labels ?? {}) };
    // The scheduler writes these pods' status too (no node fits them): only the changes this
    // test makes, to the `step` label, are what it checks.
    const last = seen.findLast((e) => e.name === name);
    if (type === "MODIFIED" && last && last.labels.step === labels.step) return;
    seen.push({ type, name, labels });
  };
  inf.on("add", record("ADDED"));
  inf.on("update", record("MODIFIED"));
  inf.on("delete", record("DELETED"));
  // The documented pattern: an informer stops on error; the owner restarts it.
  inf.on("error", (err) => {
    errors.push(err);
    setTimeout(() => {
      if (!stopped) inf.start().catch((e) => errors.push(e));
    }, 500);
  });
  informer = inf;
  await inf.start();
});

afterAll(async () => {
  stopped = true;
  await informer?.stop();
  await pass?.close();
  await cluster?.destroy();
});

describe("client-node informer on pods", () => {
  it("sees ADDED, MODIFIED and DELETED in the order they happened", async () => {
    await create("a");
    await create("b");
    await label("a", "one");
    await remove("b");
    await label("a", "two");
    await remove("a");
    await waitForEvents("a", ["ADDED", "MODIFIED:one", "MODIFIED:two", "DELETED:two"]);
    expect(eventsFor("b")).toEqual(["ADDED", "DELETED"]);
    const order = seen
      .filter((e) => e.name === "a" || e.name === "b")
      .map((e) => `${e.type} ${e.name}`);
    expect(order).toEqual([
      "ADDED a",
      "ADDED b",
      "MODIFIED a",
      "DELETED b",
      "MODIFIED a",
      "DELETED a",
    ]);
    expect(informer?.list(ns).map((p) => p.metadata?.name)).not.toContain("a");
  });

  it("recovers after its watch connection is cut and still sees later events", async () => {
    await create("before-cut");
    await waitForEvents("before-cut", ["ADDED"]);
    const connectionsBefore = pass.connections;
    pass.cut();
    // Changes while the informer is disconnected, then after it is back.
    await create("during-cut");
    await label("before-cut", "while-cut");
    await eventually(() => pass.connections > connectionsBefore, 30_000);
    await waitForEvents("during-cut", ["ADDED"]);
    await waitForEvents("before-cut", ["ADDED", "MODIFIED:while-cut"]);
    await label("during-cut", "after");
    await remove("during-cut");
    await waitForEvents("during-cut", ["ADDED", "MODIFIED:after", "DELETED:after"]);
    expect(informer?.get("before-cut", ns)?.metadata?.labels?.step).toBe("while-cut");
  });

  it("recovers after the control plane restarts and still sees later events", async () => {
    await create("before-restart");
    await waitForEvents("before-restart", ["ADDED"]);
    await cluster.restart();
    await create("after-restart");
    await label("after-restart", "x");
    await remove("after-restart");
    await waitForEvents("after-restart", ["ADDED", "MODIFIED:x", "DELETED:x"], 60_000);
    await remove("before-restart");
    await waitForEvents("before-restart", ["ADDED", "DELETED"]);
    // Nothing was replayed twice across the restart.
    expect(eventsFor("a")).toEqual(["ADDED", "MODIFIED:one", "MODIFIED:two", "DELETED:two"]);
  });
});
