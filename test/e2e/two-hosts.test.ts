// Two hosts on one machine: host 1 in the root network namespace, host 2 a network namespace with
// its own containerd and agent (joinNetnsHost), in a cluster whose Services use 10.96.0.0/16. The control plane runs with a short node monitor
// grace and default toleration, so a host whose agent dies is seen Unknown, tainted, and its pods
// replaced on the other host within seconds; when its agent comes back the node is Ready again.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, eventually, startCluster } from "./cluster.ts";
import { type Host, joinHost, joinNetnsHost, type NetnsHost } from "./host.ts";
import { indexPage, type Registry, startRegistry } from "./image.ts";

// Twice the agent's 10 s Lease renewal: a busy machine must not make a live node look lost.
const GRACE_SECONDS = 20;
const TOLERATION_SECONDS = 5;

let cluster: Cluster;
let registry: Registry;
let host1: Host;
let host2: NetnsHost;

const json = async (args: string[]) => JSON.parse(await cluster.kubectl([...args, "-o", "json"]));

const webPods = async () => (await json(["get", "pods", "-l", "app=web"])).items as any[];
const live = (pods: any[]) => pods.filter((p) => !p.metadata.deletionTimestamp);
const running = (p: any) =>
  p.status?.phase === "Running" && p.status.containerStatuses?.every((c: any) => c.ready);
const readyOf = (node: any) => node.status.conditions.find((c: any) => c.type === "Ready");

/** kubectl rollout status; on failure, says where the pods are and what the agents printed. */
async function rolledOut(timeoutSeconds: number) {
  const args = ["rollout", "status", "deployment/web", `--timeout=${timeoutSeconds}s`];
  const r = await cluster.kubectlResult(args, { timeoutMs: (timeoutSeconds + 30) * 1000 });
  if (r.code === 0) return;
  const show = async (kind: string) => {
    const g = await cluster.kubectlResult(["get", kind, "-o", "wide"]);
    return g.stdout + g.stderr;
  };
  const [pods, nodes] = [await show("pods"), await show("nodes")];
  throw new Error(
    `rollout not done: ${r.stdout}${r.stderr}\n${pods}\n${nodes}\nhost-1:\n${host1.agent.output()}\nhost-2:\n${host2.agent.output()}\ncontrol plane:\n${cluster.output().slice(-2000)}`,
  );
}

beforeAll(async () => {
  [cluster, registry] = await Promise.all([
    startCluster({
      args: [
        "--var",
        `NODE_MONITOR_GRACE_SECONDS=${GRACE_SECONDS}`,
        "--var",
        `DEFAULT_TOLERATION_SECONDS=${TOLERATION_SECONDS}`,
        // Not the default range: the agents must learn the cluster DNS address (10.96.0.10).
        "--var",
        "SERVICE_CIDR=10.96.0.0/16",
      ],
    }),
    startRegistry(),
  ]);
  await registry.push("v1");
  const common = {
    server: cluster.server,
    kubeconfig: cluster.kubeconfig,
    registries: [registry.host],
  };
  [host1, host2] = await Promise.all([
    joinHost({ ...common, nodeName: "host-1" }),
    joinNetnsHost({ ...common, nodeName: "host-2" }),
  ]);
}, 240_000);

afterAll(async () => {
  try {
    await host2?.stop();
    await host1?.stop();
  } finally {
    await registry?.stop();
    await cluster?.destroy();
  }
  // Host 2 leaves no network namespace behind.
  if (host2) expect(existsSync(`/run/netns/${host2.netns}`)).toBe(false);
});

describe("two hosts", () => {
  it("host 2 lives in its own network namespace with its own pod CIDR", async () => {
    const nodes = (await json(["get", "nodes"])).items as any[];
    const byName = Object.fromEntries(nodes.map((n) => [n.metadata.name, n]));
    expect(readyOf(byName["host-1"]).status).toBe("True");
    expect(readyOf(byName["host-2"]).status).toBe("True");
    expect(byName["host-1"].spec.podCIDR).not.toBe(byName["host-2"].spec.podCIDR);
    expect(byName["host-2"].status.addresses).toContainEqual({
      type: "InternalIP",
      address: host2.address,
    });
  });

  it("spreads a Deployment over both hosts, each pod running in its host's containerd", async () => {
    await cluster.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "web" },
        spec: {
          replicas: 4,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: "httpd",
                  image: registry.ref("v1"),
                  readinessProbe: { httpGet: { path: "/", port: 80 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      }),
    });
    await rolledOut(120);
    const pods = await webPods();
    const on = (node: string) => pods.filter((p) => p.spec.nodeName === node);
    expect(on("host-1").length).toBeGreaterThan(0);
    expect(on("host-2").length).toBeGreaterThan(0);
    const tasks2 = await host2.containerd.ctr(["tasks", "ls"]);
    for (const p of on("host-2")) {
      expect(p.status.hostIP).toBe(host2.address);
      expect(tasks2).toContain(p.status.containerStatuses[0].containerID.split("://")[1]);
    }
  }, 200_000);

  it("pods reach each other across the hosts, directly and through a Service by name", async () => {
    const pods = live(await webPods());
    const p1 = pods.find((p) => p.spec.nodeName === "host-1");
    const p2 = pods.find((p) => p.spec.nodeName === "host-2");
    /** What a pod put on `node` prints running `command`. */
    const runOn = async (name: string, node: string, command: string[]) => {
      await cluster.kubectl([
        "run",
        name,
        `--image=${registry.ref("v1")}`,
        "--restart=Never",
        `--overrides=${JSON.stringify({ spec: { nodeName: node } })}`,
        "--command",
        "--",
        ...command,
      ]);
      const done = await cluster.kubectlResult(
        ["wait", "--for=jsonpath={.status.phase}=Succeeded", `pod/${name}`, "--timeout=60s"],
        { timeoutMs: 90_000 },
      );
      const out = await cluster.kubectl(["logs", name]);
      clientIP = (await json(["get", "pod", name])).status.podIP;
      await cluster.kubectl(["delete", "pod", name]);
      if (done.code !== 0) throw new Error(`${name}: ${done.stderr}\n${out}`);
      return out;
    };
    /** What a pod put on `node` fetches from `url` (busybox wget; its -T segfaults in 1.35). */
    const fetchFrom = (name: string, node: string, url: string) =>
      runOn(name, node, ["wget", "-qO-", url]);
    let clientIP = "";
    expect(await fetchFrom("from-2", "host-2", `http://${p1.status.podIP}/`)).toBe(indexPage("v1"));
    // Without NAT: the server saw the client pod's own address (busybox httpd -v logs it).
    expect(await cluster.kubectl(["logs", p1.metadata.name])).toContain(clientIP);
    expect(await fetchFrom("from-1", "host-1", `http://${p2.status.podIP}/`)).toBe(indexPage("v1"));
    // A Service whose one endpoint runs on host 1, asked for by name on host 2.
    await cluster.kubectl(["label", "pod", p1.metadata.name, "pick=me"]);
    await cluster.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "picked" },
        spec: { selector: { pick: "me" }, ports: [{ port: 80 }] },
      }),
    });
    await eventually(async () => {
      const ep = await json(["get", "endpoints", "picked"]);
      return ep.subsets?.[0]?.addresses?.[0]?.ip === p1.status.podIP;
    }, 30_000);
    // Pods resolve through the kube-dns address of this cluster's service range.
    const dns = await json(["get", "service", "kube-dns", "-n", "kube-system"]);
    expect(dns.spec.clusterIP).toBe("10.96.0.10");
    expect(await runOn("resolv", "host-2", ["cat", "/etc/resolv.conf"])).toContain(
      "nameserver 10.96.0.10\n",
    );
    expect(await fetchFrom("by-name", "host-2", "http://picked/")).toBe(indexPage("v1"));
    await cluster.kubectl(["delete", "service", "picked"]);
  }, 200_000);

  it("a host whose agent is killed goes Unknown, is tainted, and its pods are replaced on the other", async () => {
    const lost = (await webPods()).filter((p) => p.spec.nodeName === "host-2");
    const t0 = Date.now();
    await host2.agent.kill();

    const node = await eventually(
      async () => {
        const n = await json(["get", "node", "host-2"]);
        return readyOf(n).status === "Unknown" && n;
      },
      (GRACE_SECONDS + 30) * 1000,
      500,
    );
    const unknownAfter = (Date.now() - t0) / 1000;
    // Not before the grace: the lease renewed before the kill still counted.
    expect(unknownAfter).toBeGreaterThan(GRACE_SECONDS - 10);
    expect(node.spec.taints).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: "node.kubernetes.io/unreachable", effect: "NoExecute" }),
        expect.objectContaining({ key: "node.kubernetes.io/unreachable", effect: "NoSchedule" }),
      ]),
    );
    // Its pods are evicted after their toleration and replaced on host 1.
    await eventually(
      async () => {
        const pods = live(await webPods());
        return (
          pods.length === 4 && pods.every((p) => p.spec.nodeName === "host-1" && running(p)) && pods
        );
      },
      (TOLERATION_SECONDS + 60) * 1000,
      500,
    );
    for (const p of lost) {
      const now = await cluster.kubectlResult(["get", "pod", p.metadata.name, "-o", "json"]);
      // Gone, or terminating until its kubelet confirms.
      if (now.code === 0) expect(JSON.parse(now.stdout).metadata.deletionTimestamp).toBeTruthy();
    }
    await rolledOut(60);
  }, 200_000);

  it("the restarted agent brings its node back to Ready and finishes its evicted pods", async () => {
    host2.restartAgent();
    await eventually(
      async () => {
        const n = await json(["get", "node", "host-2"]);
        return (
          readyOf(n).status === "True" &&
          !(n.spec.taints ?? []).some((t: any) => t.key === "node.kubernetes.io/unreachable")
        );
      },
      60_000,
      500,
    );
    // The pods evicted from host 2 end there: no container of them left in its containerd.
    await eventually(
      async () => (await webPods()).every((p) => p.spec.nodeName === "host-1"),
      60_000,
    );
    await eventually(
      async () => (await host2.containerd.ctr(["containers", "ls", "-q"])).trim() === "",
      30_000,
    );
    // The node takes new pods again.
    await cluster.kubectl(["scale", "deployment/web", "--replicas=8"]);
    await rolledOut(120);
    const pods = live(await webPods());
    expect(pods.some((p) => p.spec.nodeName === "host-2")).toBe(true);
  }, 200_000);
});
