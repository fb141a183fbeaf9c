// The host agent for real: a control plane, a loopback registry with the busybox test image, a
// containerd of the test's own, and the bundled agent joined with a join token (run by the
// machine's Node 20 when present). Driven with kubectl like a user would.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { buildAgent } from "../../scripts/build-agent.ts";
import { type Cluster, eventually, root, startCluster } from "./cluster.ts";
import {
  type Agent,
  agentNetns,
  type Containerd,
  mountsUnder,
  NETNS_PREFIX,
  startAgent,
  startContainerd,
  writeRegistries,
} from "./host.ts";
import { indexPage, type Registry, startRegistry } from "./image.ts";

const NODE = "e2e-agent";
const tmp = mkdtempSync(join(tmpdir(), "kubeflare-agent-e2e-"));
const dataDir = join(tmp, "data");
// The bundle targets Node ≥ 20: run it on the machine's Node 20 when there is one.
const node20 = existsSync("/usr/bin/node") ? "/usr/bin/node" : undefined;

let cluster: Cluster;
let registry: Registry;
let containerd: Containerd;
let agent: Agent;
let bundle: string;
let registries: string;

const kubectl = (args: string[], input?: string) => cluster.kubectl(args, { input });
const json = async (args: string[]) => JSON.parse(await kubectl([...args, "-o", "json"]));

function httpGet(ip: string, port = 80, path = "/"): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, path, timeout: 3000 }, (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error(`GET http://${ip}:${port}${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

const joinToken = async () =>
  execFileSync(
    "npm",
    ["run", "--silent", "token", "--", "create", "--kubeconfig", cluster.kubeconfig],
    {
      cwd: root,
      encoding: "utf8",
    },
  ).trim();

function launchAgent(token?: string): Agent {
  return startAgent({
    bundle,
    node: node20,
    server: cluster.server,
    token,
    nodeName: NODE,
    dataDir,
    containerdAddress: containerd.address,
    registries,
  });
}

/** `nft` on this host (the agent runs in the machine's own network namespace here). */
const nft = async (args: string[]) => execFileSync("nft", args, { encoding: "utf8" });

/** Container ids of the agent's containerd namespace. */
const containers = async () =>
  (await containerd.ctr(["containers", "ls", "-q"])).split("\n").filter(Boolean);

/**
 * Network namespaces of pods of this cluster (other agents on the machine, e.g. other test runs,
 * have their own): pods are known by the events the agent recorded for them.
 */
const ourNetns = async () => {
  const events = (await json(["get", "events", "--all-namespaces"])).items as any[];
  const uids = new Set(events.map((e) => e.involvedObject.uid));
  return (await agentNetns()).filter((n) => uids.has(n.slice(NETNS_PREFIX.length)));
};

/** Addresses host-local holds for pods. */
const allocatedIPs = () => {
  const dir = join(dataDir, "cni", "networks", "kubeflare");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
};

const podsOf = async (selector: string) =>
  (await json(["get", "pods", "-l", selector])).items as any[];

const ready = (pod: any) =>
  pod.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True");

function deployment(name: string, replicas: number, tag: string) {
  return JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          // busybox httpd as pid 1 ignores SIGTERM: do not wait 30 s for it.
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "httpd",
              image: registry.ref(tag),
              ports: [{ containerPort: 80 }],
              readinessProbe: { httpGet: { path: "/", port: 80 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  });
}

/** JSON objects as one multi-document YAML stream for kubectl apply. */
const manifests = (...objects: unknown[]) =>
  objects.map((o) => `---\n${JSON.stringify(o)}\n`).join("");

/** The CRI log of a pod's container run, as the agent wrote it. */
function logOf(pod: any, container: string, restart = 0): string {
  const md = pod.metadata;
  const file = join(
    dataDir,
    "pods",
    `${md.namespace}_${md.name}_${md.uid}`,
    container,
    `${restart}.log`,
  );
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

beforeAll(async () => {
  [cluster, registry, containerd] = await Promise.all([
    startCluster(),
    startRegistry(),
    startContainerd({ agentDataDir: dataDir }),
  ]);
  await registry.push("v1");
  await registry.push("v2");
  registries = writeRegistries(join(tmp, "registries.yaml"), [registry.host]);
  bundle = await buildAgent(join(tmp, "bundle"));
  agent = launchAgent(await joinToken());
  await agent.waitFor(/node e2e-agent registered/, 60_000);
});

afterAll(async () => {
  try {
    await agent?.stop();
  } finally {
    await containerd?.stop();
    await registry?.stop();
    await cluster?.destroy();
    // Sandboxes of pods a failed test left behind keep their UTS namespace mounted.
    for (const m of mountsUnder(tmp)) execFileSync("umount", ["-l", m]);
    rmSync(tmp, { recursive: true, force: true });
  }
});

describe("host agent", () => {
  it("joins with a token and registers a Ready Node with its pod CIDR, nodeInfo and Lease", async () => {
    const cred = JSON.parse(readFileSync(join(dataDir, "credential.json"), "utf8"));
    expect(cred.nodeName).toBe(NODE);
    const n = await json(["get", "node", NODE]);
    expect(n.spec.podCIDR).toMatch(/^10\.42\.\d+\.0\/24$/);
    expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
    expect(n.status.nodeInfo.kernelVersion).toBe(
      execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
    );
    expect(n.status.capacity.pods).toBe("110");
    expect(n.status.addresses.map((a: any) => a.type).sort()).toEqual(["Hostname", "InternalIP"]);
    const types = n.status.conditions.map((c: any) => `${c.type}=${c.status}`).sort();
    expect(types).toEqual([
      "DiskPressure=False",
      "MemoryPressure=False",
      "PIDPressure=False",
      "Ready=True",
    ]);
    const lease = await json(["get", "lease", "-n", "kube-node-lease", NODE]);
    expect(lease.spec.holderIdentity).toBe(NODE);
  });

  it("runs a Deployment of 3 to Available; each pod IP answers HTTP from the host", async () => {
    await kubectl(["apply", "-f", "-"], deployment("web", 3, "v1"));
    await kubectl(["rollout", "status", "deployment/web", "--timeout=90s"]);
    const pods = await podsOf("app=web");
    expect(pods).toHaveLength(3);
    const cidr = (await json(["get", "node", NODE])).spec.podCIDR.replace(/0\/24$/, "");
    for (const p of pods) {
      expect(p.status.podIP.startsWith(cidr)).toBe(true);
      expect(await httpGet(p.status.podIP)).toBe(indexPage("v1"));
      const cs = p.status.containerStatuses[0];
      expect(cs.containerID).toMatch(/^containerd:\/\//);
      expect(cs.imageID).toMatch(/@sha256:[0-9a-f]{64}$/);
      expect(cs.state.running.startedAt).toBeTruthy();
    }
    const events = (await json(["get", "events"])).items.filter(
      (e: any) => e.involvedObject.uid === pods[0].metadata.uid,
    );
    expect(events.map((e: any) => e.reason)).toEqual(
      expect.arrayContaining(["Pulled", "Created", "Started"]),
    );
    // busybox httpd logs each request on stderr, in CRI format (the logger writes it a moment
    // after the response).
    const line = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stderr F .*response:200$/m;
    await eventually(() => line.test(logOf(pods[0], "httpd")), 10_000);
  });

  it("scales to 5 and back to 1; removed pods leave no container, netns or IP behind", async () => {
    await kubectl(["scale", "deployment/web", "--replicas=5"]);
    await kubectl(["rollout", "status", "deployment/web", "--timeout=90s"]);
    await eventually(async () => (await podsOf("app=web")).filter(ready).length === 5, 60_000);
    expect(await containers()).toHaveLength(5);
    await kubectl(["scale", "deployment/web", "--replicas=1"]);
    await eventually(async () => (await podsOf("app=web")).length === 1, 60_000);
    await eventually(async () => (await containers()).length === 1, 30_000);
    await eventually(async () => (await ourNetns()).length === 1, 10_000);
    await eventually(() => allocatedIPs().length === 1, 10_000);
    const [pod] = await podsOf("app=web");
    expect(allocatedIPs()).toEqual([pod.status.podIP]);
  });

  it("rolls out a new image tag with kubectl rollout status", async () => {
    await kubectl(["scale", "deployment/web", "--replicas=2"]);
    await kubectl(["set", "image", "deployment/web", `httpd=${registry.ref("v2")}`]);
    await kubectl(["rollout", "status", "deployment/web", "--timeout=120s"]);
    await eventually(async () => (await podsOf("app=web")).length === 2, 60_000);
    for (const p of await podsOf("app=web")) {
      expect(p.spec.containers[0].image).toBe(registry.ref("v2"));
      expect(await httpGet(p.status.podIP)).toBe(indexPage("v2"));
    }
    await eventually(async () => (await containers()).length === 2, 30_000);
    // Old pods' sandboxes go right after their containers.
    await eventually(async () => (await ourNetns()).length === 2, 10_000);
    await eventually(() => allocatedIPs().length === 2, 10_000);
  });

  it("a Service's ClusterIP and NodePort reach its ready pods, from the host and from a pod by name", async () => {
    await kubectl([
      "expose",
      "deployment/web",
      "--port=8080",
      "--target-port=80",
      "--type=NodePort",
    ]);
    const svc = await json(["get", "service", "web"]);
    const { clusterIP } = svc.spec;
    const { nodePort } = svc.spec.ports[0];
    // Connect only once the rules are there: an address the host does not route elsewhere.
    const rules = () => nft(["list", "chain", "ip", "kubeflare", "proxy-services"]);
    await eventually(
      async () => (await rules()).includes(`${clusterIP} tcp dport 8080 dnat`),
      20_000,
    );
    expect(await httpGet(clusterIP, 8080)).toBe(indexPage("v2"));
    // A NodePort answers on the host's addresses: here the bridge's, the pods' gateway.
    const gateway = (await json(["get", "node", NODE])).spec.podCIDR.replace(/0\/24$/, "1");
    expect(await httpGet(gateway, nodePort)).toBe(indexPage("v2"));
    await kubectl([
      "run",
      "client",
      `--image=${registry.ref("v1")}`,
      "--restart=Never",
      "--command",
      "--",
      "wget",
      "-qO-",
      // By name: the DNS role answers, through the cluster DNS address, from resolv.conf's search.
      "http://web:8080/",
    ]);
    await kubectl([
      "wait",
      "--for=jsonpath={.status.phase}=Succeeded",
      "pod/client",
      "--timeout=60s",
    ]);
    expect(await kubectl(["logs", "client"])).toBe(indexPage("v2"));
    await kubectl(["delete", "pod", "client"]);
    // Without ready endpoints, connections are refused rather than left hanging.
    await kubectl(["scale", "deployment/web", "--replicas=0"]);
    const rejects = () => nft(["list", "chain", "ip", "kubeflare", "proxy-reject"]);
    await eventually(
      async () => (await rejects()).includes(`${clusterIP} tcp dport 8080 reject`),
      60_000,
    );
    await expect(httpGet(clusterIP, 8080)).rejects.toThrow(/ECONNREFUSED/);
    await kubectl(["scale", "deployment/web", "--replicas=2"]);
    await kubectl(["rollout", "status", "deployment/web", "--timeout=90s"]);
    await eventually(
      async () => (await rules()).includes(`${clusterIP} tcp dport 8080 dnat`),
      20_000,
    );
    expect(await httpGet(clusterIP, 8080)).toBe(indexPage("v2"));
    await kubectl(["delete", "service", "web"]);
    await eventually(
      async () => !(await rules()).includes(clusterIP) && !(await rejects()).includes(clusterIP),
      20_000,
    );
  });

  it("kubectl exec runs a command in a container: output, stdin, exit code", async () => {
    const [pod] = (await podsOf("app=web")).filter(ready);
    const name = pod.metadata.name;
    expect((await kubectl(["exec", name, "--", "cat", "/etc/hostname"])).trim()).toBe(name);
    const piped = await kubectl(
      ["exec", "-i", name, "--", "sh", "-c", "cat; echo done"],
      "hello\n",
    );
    expect(piped).toBe("hello\ndone\n");
    const failed = await cluster.kubectlResult([
      "exec",
      name,
      "--",
      ...["sh", "-c", "echo out; echo err >&2; exit 3"],
    ]);
    expect(failed.code).toBe(3);
    expect(failed.stdout).toBe("out\n");
    expect(failed.stderr).toContain("err\n");
    expect(failed.stderr).toContain("command terminated with exit code 3");
    // With a terminal (kubectl under script(1)), the command gets one too.
    const kubectlLine = `kubectl --kubeconfig ${cluster.kubeconfig} exec -it ${name} -- sh -c 'test -t 0 && echo terminal'`;
    const tty = spawnSync("script", ["-qec", kubectlLine, "/dev/null"], { encoding: "utf8" });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toMatch(/terminal\r+\n/);
    expect(tty.stdout).not.toContain("resize pty");
    // kubectl sends its terminal's size, and the command's terminal takes it.
    const sizedLine = `stty rows 33 cols 77; kubectl --kubeconfig ${cluster.kubeconfig} exec -it ${name} -- sh -c 'sleep 1; busybox stty size'`;
    const sized = spawnSync("script", ["-qec", sizedLine, "/dev/null"], { encoding: "utf8" });
    expect(sized.status).toBe(0);
    // (The outer terminal echoes two NULs before it.)
    expect(sized.stdout).toMatch(/(^|[^\d])33 77\r*$/m);
    const missing = await cluster.kubectlResult(["exec", name, "-c", "nope", "--", "true"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("container nope is not valid for pod");
  });

  it("kubectl port-forward reaches a pod's ports, localhost ones too, through the tunnel", async () => {
    const [pod] = (await podsOf("app=web")).filter(ready);
    const name = pod.metadata.name;
    // A second server that listens on the pod's localhost only (not on its IP), and a file far
    // larger than the tunnel's window.
    await kubectl([
      "exec",
      name,
      "--",
      "sh",
      "-c",
      "seq 1 200000 > /www/big; httpd -p 127.0.0.1:8081 -h /www",
    ]);
    const big = `${Array.from({ length: 200000 }, (_, i) => i + 1).join("\n")}\n`;
    const pf = cluster.kubectlBackground(["port-forward", `pod/${name}`, ":80", ":8081", ":81"]);
    try {
      await pf.waitFor(/-> 81\b/, 30_000);
      const local = (remote: number) =>
        Number(
          new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${remote}\\b`).exec(pf.stdout)?.[1],
        );
      expect(await httpGet("127.0.0.1", local(80))).toBe(indexPage("v2"));
      // Each connection is a stream pair of its own, several at once too.
      const many = await Promise.all([1, 2, 3].map(() => httpGet("127.0.0.1", local(80))));
      expect(many).toEqual([indexPage("v2"), indexPage("v2"), indexPage("v2")]);
      expect(await httpGet("127.0.0.1", local(8081), "/big")).toBe(big);
      // Nothing listens on 81: the connection ends, and kubectl says why.
      await expect(httpGet("127.0.0.1", local(81))).rejects.toThrow();
      await eventually(() => /connection refused|ECONNREFUSED/i.test(pf.stderr), 10_000);
    } finally {
      await pf.stop();
    }
    // Client libraries speak the channel protocol instead: ports in the query, a channel each.
    const url = `${cluster.server.replace(/^https/, "wss")}/api/v1/namespaces/default/pods/${name}/portforward?ports=80`;
    const ws = new WebSocket(url, ["v4.channel.k8s.io"], {
      headers: { authorization: `Bearer ${cluster.token}` },
      rejectUnauthorized: false,
    });
    const frames: Buffer[] = [];
    ws.on("message", (d) => frames.push(d as Buffer));
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from("GET / HTTP/1.0\r\n\r\n")]));
    const channel0 = () =>
      Buffer.concat(frames.filter((f) => f[0] === 0).map((f) => f.subarray(1)));
    await eventually(() => channel0().toString().includes(indexPage("v2")), 10_000);
    // The channel opens with the port number, two bytes little-endian.
    expect([...channel0().subarray(0, 2)]).toEqual([80, 0]);
    ws.close();
    // kubectl picks a pod of a Deployment itself, then asks the same of it.
    const byDeployment = cluster.kubectlBackground(["port-forward", "deployment/web", ":80"]);
    try {
      const line = await byDeployment.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 80/, 30_000);
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
      expect(await httpGet("127.0.0.1", port)).toBe(indexPage("v2"));
    } finally {
      await byDeployment.stop();
    }
  });

  it("pods/proxy and services/proxy reach a pod through its node's agent", async () => {
    const [pod] = (await podsOf("app=web")).filter(ready);
    const name = pod.metadata.name;
    const raw = (path: string) => kubectl(["get", "--raw", path]);
    expect(await raw(`/api/v1/namespaces/default/pods/${name}:80/proxy/`)).toBe(indexPage("v2"));
    // The pod's localhost-only server of the port-forward test is not on its IP.
    const local = await cluster.kubectlResult([
      "get",
      "--raw",
      `/api/v1/namespaces/default/pods/${name}:8081/proxy/`,
    ]);
    expect(local.code).not.toBe(0);
    expect(local.stderr).toContain("ServiceUnavailable");
    await kubectl([
      "expose",
      "deployment/web",
      "--name=web-proxied",
      "--port=8080",
      "--target-port=80",
    ]);
    try {
      await eventually(async () => {
        const r = await cluster.kubectlResult([
          "get",
          "--raw",
          "/api/v1/namespaces/default/services/web-proxied:8080/proxy/",
        ]);
        return r.code === 0 && r.stdout === indexPage("v2");
      }, 20_000);
    } finally {
      await kubectl(["delete", "service", "web-proxied"]);
    }
  });

  it("containers of a pod share its network namespace and hostname", async () => {
    await kubectl(
      ["apply", "-f", "-"],
      manifests({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "duo" },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            { name: "web", image: registry.ref("v1") },
            {
              name: "client",
              image: registry.ref("v1"),
              command: [
                "sh",
                "-c",
                "until wget -qO- http://localhost/; do sleep 0.2; done; hostname; sleep 3600",
              ],
            },
          ],
        },
      }),
    );
    await kubectl(["wait", "--for=condition=Ready", "pod/duo", "--timeout=60s"]);
    const pod = await json(["get", "pod", "duo"]);
    const log = await eventually(() => {
      const l = logOf(pod, "client");
      return l.includes("stdout F duo") && l;
    }, 30_000);
    expect(log).toContain(`stdout F ${indexPage("v1").trim()}`);
    expect(pod.status.containerStatuses.map((c: any) => c.ready)).toEqual([true, true]);
  });

  it("a crashing container restarts with back-off into CrashLoopBackOff", async () => {
    await kubectl([
      "run",
      "crash",
      `--image=${registry.ref("v1")}`,
      "--command",
      "--",
      "sh",
      "-c",
      "echo boom; exit 3",
    ]);
    const cs = await eventually(async () => {
      const s = (await json(["get", "pod", "crash"])).status.containerStatuses?.[0];
      return s?.restartCount >= 1 && s.state.waiting?.reason === "CrashLoopBackOff" && s;
    }, 60_000);
    expect(cs.lastState.terminated.exitCode).toBe(3);
    expect(cs.lastState.terminated.reason).toBe("Error");
    const out = await kubectl(["get", "pod", "crash"]);
    expect(out).toMatch(/CrashLoopBackOff/);
    expect(logOf(await json(["get", "pod", "crash"]), "crash", 0)).toMatch(/stdout F boom$/m);
  });

  it("an image that cannot be pulled shows ErrImagePull, then ImagePullBackOff", async () => {
    await kubectl(["run", "missing", `--image=${registry.ref("no-such-tag")}`]);
    const seen = new Set<string>();
    await eventually(
      async () => {
        const s = (await json(["get", "pod", "missing"])).status.containerStatuses?.[0];
        if (s?.state.waiting) seen.add(s.state.waiting.reason);
        return seen.has("ErrImagePull") && seen.has("ImagePullBackOff");
      },
      60_000,
      100,
    );
    const p = await json(["get", "pod", "missing"]);
    expect(p.status.phase).toBe("Pending");
    expect(p.status.containerStatuses[0].restartCount).toBe(0);
  });

  it("restarts a container whose liveness probe fails; a failing readiness probe keeps it out of the endpoints", async () => {
    await kubectl(
      ["apply", "-f", "-"],
      manifests(
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "probed", labels: { app: "probed" } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: "c",
                image: registry.ref("v1"),
                livenessProbe: {
                  exec: { command: ["test", "-f", "/tmp/alive"] },
                  periodSeconds: 1,
                  failureThreshold: 2,
                },
              },
            ],
          },
        },
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "unready", labels: { app: "unready" } },
          spec: {
            containers: [
              {
                name: "c",
                image: registry.ref("v1"),
                readinessProbe: { tcpSocket: { port: 81 }, periodSeconds: 1 },
                resources: { limits: { memory: "64Mi", cpu: "250m" } },
              },
            ],
          },
        },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "unready" },
          spec: { selector: { app: "unready" }, ports: [{ port: 80 }] },
        },
      ),
    );
    const live = await eventually(async () => {
      const s = (await json(["get", "pod", "probed"])).status.containerStatuses?.[0];
      return s?.restartCount >= 1 && s;
    }, 60_000);
    expect(live.lastState.terminated.exitCode).toBe(137);
    const unready = await eventually(async () => {
      const p = await json(["get", "pod", "unready"]);
      return p.status.containerStatuses?.[0]?.state.running && p;
    }, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const p = await json(["get", "pod", "unready"]);
    expect(ready(p)).toBe(false);
    expect(p.status.containerStatuses[0].ready).toBe(false);
    expect(p.status.containerStatuses[0].restartCount).toBe(0);
    const ep = await eventually(async () => {
      const e = await json(["get", "endpoints", "unready"]);
      return e.subsets?.[0]?.notReadyAddresses?.length && e;
    }, 30_000);
    expect(ep.subsets[0].addresses ?? []).toEqual([]);
    expect(ep.subsets[0].notReadyAddresses[0].ip).toBe(unready.status.podIP);
    // Its limits became the container's cgroup limits.
    const id = unready.status.containerStatuses[0].containerID.replace("containerd://", "");
    const spec = JSON.parse(await containerd.ctr(["containers", "info", id])).Spec;
    expect(spec.linux.resources.memory.limit).toBe(64 * 1024 * 1024);
    expect(spec.linux.resources.cpu.quota / spec.linux.resources.cpu.period).toBe(0.25);
  });

  it("runs a Job to Complete, with ConfigMap and Secret values as env and files", async () => {
    await kubectl(
      ["apply", "-f", "-"],
      manifests(
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "conf" },
          data: { greeting: "hello", "app.conf": "mode=fast" },
        },
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "creds" },
          stringData: { password: "s3cret" },
        },
        {
          apiVersion: "batch/v1",
          kind: "Job",
          metadata: { name: "report" },
          spec: {
            template: {
              spec: {
                restartPolicy: "Never",
                containers: [
                  {
                    name: "c",
                    image: registry.ref("v1"),
                    command: [
                      "sh",
                      "-c",
                      "echo env $GREETING $PASSWORD $POD; echo file $(cat /conf/app.conf) $(cat /creds/password); hostname",
                    ],
                    env: [
                      {
                        name: "GREETING",
                        valueFrom: { configMapKeyRef: { name: "conf", key: "greeting" } },
                      },
                      {
                        name: "PASSWORD",
                        valueFrom: { secretKeyRef: { name: "creds", key: "password" } },
                      },
                      { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                    ],
                    volumeMounts: [
                      { name: "conf", mountPath: "/conf" },
                      { name: "creds", mountPath: "/creds", readOnly: true },
                    ],
                  },
                ],
                volumes: [
                  { name: "conf", configMap: { name: "conf" } },
                  { name: "creds", secret: { secretName: "creds" } },
                ],
              },
            },
          },
        },
      ),
    );
    await kubectl(["wait", "--for=condition=complete", "job/report", "--timeout=60s"]);
    const [pod] = await podsOf("job-name=report");
    expect(pod.status.phase).toBe("Succeeded");
    expect(pod.status.containerStatuses[0].state.terminated.reason).toBe("Completed");
    const log = logOf(pod, "c");
    expect(log).toMatch(new RegExp(`stdout F env hello s3cret ${pod.metadata.name}$`, "m"));
    expect(log).toMatch(/stdout F file mode=fast s3cret$/m);
    expect(log).toMatch(new RegExp(`stdout F ${pod.metadata.name}$`, "m"));
  });

  it("a pod's ServiceAccount token reaches its containers and authenticates as that account", async () => {
    await kubectl(["create", "serviceaccount", "reader"]);
    const dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    await kubectl(
      ["apply", "-f", "-"],
      manifests({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "sa-pod" },
        spec: {
          serviceAccountName: "reader",
          containers: [
            {
              name: "c",
              image: registry.ref("v1"),
              command: [
                "sh",
                "-c",
                `cat ${dir}/namespace; echo; cat ${dir}/token; echo; sleep 3600`,
              ],
            },
          ],
        },
      }),
    );
    await kubectl(["wait", "--for=condition=Ready", "pod/sa-pod", "--timeout=60s"]);
    const [namespace, token] = await eventually(async () => {
      const lines = (await kubectl(["logs", "sa-pod"])).trim().split("\n");
      return lines.length >= 2 && lines;
    });
    expect(namespace).toBe("default");
    const as = (args: string[]) => cluster.kubectlResult([...args, "--token", token]);
    const account = "system:serviceaccount:default:reader";
    expect((await as(["auth", "whoami"])).stdout).toMatch(new RegExp(`Username\\s+${account}`));
    const denied = await as(["get", "pods"]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(
      `pods is forbidden: User "${account}" cannot list resource "pods" in API group "" in the namespace "default"`,
    );
    expect((await as(["auth", "can-i", "list", "pods"])).stdout.trim()).toBe("no");
    await kubectl([
      "create",
      "rolebinding",
      "reader-view",
      "--clusterrole=view",
      "--serviceaccount=default:reader",
    ]);
    expect((await as(["auth", "can-i", "list", "pods"])).stdout.trim()).toBe("yes");
    expect((await as(["get", "pod", "sa-pod", "-o", "name"])).stdout.trim()).toBe("pod/sa-pod");
    expect((await as(["delete", "pod", "sa-pod"])).stderr).toContain("forbidden");
    // The token is bound to the pod: it stops working once the pod is gone.
    await kubectl(["delete", "pod", "sa-pod", "--grace-period=1"]);
    const gone = await as(["get", "pods"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("Unauthorized");
    await kubectl(["delete", "rolebinding", "reader-view"]);
    await kubectl(["delete", "serviceaccount", "reader"]);
  });

  it("a CronJob fires at the minute boundary and its Job's pod runs to Completed", async () => {
    await kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name: "minutely" },
        spec: {
          schedule: "* * * * *",
          jobTemplate: {
            spec: {
              template: {
                spec: {
                  restartPolicy: "OnFailure",
                  containers: [{ name: "c", image: registry.ref("v1"), command: ["echo", "tick"] }],
                },
              },
            },
          },
        },
      }),
    );
    // The next minute boundary is at most 60 s away; the Job then runs on this host.
    const cj = await eventually(async () => {
      const o = await json(["get", "cronjob", "minutely"]);
      return o.status?.lastSuccessfulTime && o;
    }, 150_000);
    expect(new Date(cj.status.lastScheduleTime).getUTCSeconds()).toBe(0);
    const jobs = ((await json(["get", "jobs"])).items as any[]).filter((j) =>
      j.metadata.ownerReferences?.some((r: any) => r.kind === "CronJob" && r.name === "minutely"),
    );
    expect(jobs.length).toBeGreaterThanOrEqual(1);
    const [pod] = await podsOf(`job-name=${jobs[0].metadata.name}`);
    expect(pod.status.phase).toBe("Succeeded");
    expect(logOf(pod, "c")).toMatch(/stdout F tick$/m);
    // No more runs while the rest of the suite goes on.
    await kubectl(["patch", "cronjob", "minutely", "-p", '{"spec":{"suspend":true}}']);
  }, 200_000);

  it("kubectl logs -f streams lines written after it started; --previous shows the last run", async () => {
    await kubectl([
      "run",
      "ticker",
      `--image=${registry.ref("v1")}`,
      "--command",
      "--",
      "sh",
      "-c",
      "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done",
    ]);
    await kubectl(["wait", "--for=condition=Ready", "pod/ticker", "--timeout=60s"]);
    const follow = cluster.kubectlBackground(["logs", "-f", "ticker"]);
    const first = Number((await follow.waitFor(/tick (\d+)/, 30_000)).split(" ")[1]);
    await follow.waitFor(new RegExp(`tick ${first + 3}\\n`), 30_000);
    await follow.stop();
    const previous = await kubectl(["logs", "crash", "--previous"]);
    expect(previous).toBe("boom\n");
  });

  it("runs init containers first; deletion runs preStop, then SIGTERM, then removes the pod", async () => {
    const host = join(tmp, "hostpath");
    const mount = [{ name: "host", mountPath: "/host" }];
    await kubectl(
      ["apply", "-f", "-"],
      manifests({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "lifecycle" },
        spec: {
          terminationGracePeriodSeconds: 20,
          volumes: [{ name: "host", hostPath: { path: host, type: "DirectoryOrCreate" } }],
          initContainers: [
            {
              name: "first",
              image: registry.ref("v1"),
              command: ["sh", "-c", "echo init-1 >> /host/log"],
              volumeMounts: mount,
            },
            {
              name: "second",
              image: registry.ref("v1"),
              command: ["sh", "-c", "echo init-2 >> /host/log"],
              volumeMounts: mount,
            },
          ],
          containers: [
            {
              name: "main",
              image: registry.ref("v1"),
              command: [
                "sh",
                "-c",
                'trap "echo term >> /host/log; exit 0" TERM; echo main >> /host/log; while true; do sleep 0.2; done',
              ],
              lifecycle: {
                preStop: { exec: { command: ["sh", "-c", "echo prestop >> /host/log"] } },
              },
              volumeMounts: mount,
            },
          ],
        },
      }),
    );
    await kubectl(["wait", "--for=condition=Ready", "pod/lifecycle", "--timeout=60s"]);
    const pod = await json(["get", "pod", "lifecycle"]);
    expect(pod.status.initContainerStatuses.map((s: any) => s.state.terminated?.reason)).toEqual([
      "Completed",
      "Completed",
    ]);
    const t0 = Date.now();
    await kubectl(["delete", "pod", "lifecycle", "--timeout=60s"]);
    // The container ended on SIGTERM, well before the 20 s grace period.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(readFileSync(join(host, "log"), "utf8")).toBe("init-1\ninit-2\nmain\nprestop\nterm\n");
  });

  it("applies a container's securityContext; refuses runAsNonRoot for a root image and a runAsUser ctr cannot set", async () => {
    // Each container reports its capabilities and no_new_privs, then tries to write.
    const script = (name: string) =>
      `grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; touch /x && echo wrote /x; ` +
      `touch /scratch/${name} && echo wrote /scratch; busybox chown 1 /scratch/${name}; echo done; sleep 3600`;
    const image = registry.ref("v1");
    const scratch = [{ name: "scratch", mountPath: "/scratch" }];
    await kubectl(
      ["apply", "-f", "-"],
      manifests(
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "locked" },
          spec: {
            terminationGracePeriodSeconds: 1,
            volumes: [{ name: "scratch", emptyDir: {} }],
            containers: [
              {
                name: "locked",
                image,
                command: ["sh", "-c", script("locked")],
                volumeMounts: scratch,
                securityContext: {
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ["CHOWN"] },
                },
              },
              {
                name: "plain",
                image,
                command: ["sh", "-c", script("plain")],
                volumeMounts: scratch,
              },
            ],
          },
        },
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "nonroot" },
          spec: {
            securityContext: { runAsNonRoot: true },
            containers: [
              { name: "root", image },
              { name: "uid", image, securityContext: { runAsUser: 1000 } },
            ],
          },
        },
      ),
    );
    await kubectl(["wait", "--for=condition=Ready", "pod/locked", "--timeout=60s"]);
    const logs = (c: string) =>
      eventually(async () => {
        const l = await kubectl(["logs", "locked", "-c", c]);
        return l.includes("done") && l;
      }, 30_000);
    const capEff = (log: string) => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(log)?.[1]}`);
    const has = (log: string, bit: number) => ((capEff(log) >> BigInt(bit)) & 1n) === 1n;
    const locked = await logs("locked");
    expect(locked).toMatch(/^NoNewPrivs:\s*1$/m);
    expect(has(locked, 0)).toBe(false); // CAP_CHOWN
    expect(has(locked, 10)).toBe(true); // CAP_NET_BIND_SERVICE, a default one
    expect(locked).toContain("touch: /x: Read-only file system");
    expect(locked).toContain("wrote /scratch");
    expect(locked).toContain("chown: /scratch/locked: Operation not permitted");
    // Without a securityContext: Kubernetes' defaults, not ctr's (no no_new_privs).
    const plain = await logs("plain");
    expect(plain).toMatch(/^NoNewPrivs:\s*0$/m);
    expect(has(plain, 0)).toBe(true);
    expect(plain).toContain("wrote /x");
    expect(plain).not.toContain("chown:");

    const pod = await eventually(async () => {
      const p = await json(["get", "pod", "nonroot"]);
      const st = p.status.containerStatuses ?? [];
      const waiting = st.filter(
        (s: any) => s.state.waiting?.reason === "CreateContainerConfigError",
      );
      return waiting.length === 2 && p;
    }, 60_000);
    const state = (name: string) =>
      pod.status.containerStatuses.find((s: any) => s.name === name).state.waiting;
    expect(state("root").message).toBe(
      `container has runAsNonRoot and image will run as root (pod: "nonroot_default(${pod.metadata.uid})", container: root)`,
    );
    expect(state("uid").message).toMatch(
      /^runAsUser 1000 is not supported on this node: containerd 1\.6's ctr cannot set the process user/,
    );
    expect(pod.status.phase).toBe("Pending");
    expect(await kubectl(["get", "pod", "nonroot"])).toMatch(/CreateContainerConfigError/);
    expect((await containers()).filter((id) => id.startsWith("nonroot-"))).toEqual([]);
  });

  it("a killed and restarted agent adopts its running containers without restarting them", async () => {
    const before = await podsOf("app=web");
    const tasks = await containerd.ctr(["tasks", "ls"]);
    await agent.kill();
    // Pods keep running while the agent is away.
    for (const p of before) expect(await httpGet(p.status.podIP)).toBe(indexPage("v2"));
    agent = launchAgent();
    await agent.waitFor(/adopted/, 60_000);
    await eventually(async () => (await podsOf("app=web")).every(ready), 30_000);
    expect(await containerd.ctr(["tasks", "ls"])).toContain(
      tasks.split("\n").find((l) => l.startsWith("web-")),
    );
    const after = await podsOf("app=web");
    for (const p of after) {
      const old = before.find((b) => b.metadata.uid === p.metadata.uid);
      expect(p.status.containerStatuses[0].containerID).toBe(
        old.status.containerStatuses[0].containerID,
      );
      expect(p.status.containerStatuses[0].restartCount).toBe(0);
    }
    expect(agent.output()).not.toMatch(/joining/);
  });

  // The agent's memory with 20 pods is a benchmark figure (`npm run bench -- agent`), not a test.
  it("runs a Deployment of 20 replicas on the one host", async () => {
    await kubectl(["apply", "-f", "-"], deployment("many", 20, "v1"));
    await kubectl(["rollout", "status", "deployment/many", "--timeout=180s"]);
    const pods = await podsOf("app=many");
    expect(pods.filter(ready)).toHaveLength(20);
    expect(new Set(pods.map((p) => p.status.podIP)).size).toBe(20);
  });

  it("deleting everything leaves no container, netns or IP allocation", async () => {
    await kubectl([
      "delete",
      "deployment/web",
      "deployment/many",
      "job/report",
      "cronjob/minutely",
      "pod/crash",
      "pod/probed",
      "pod/unready",
      "pod/ticker",
      "pod/missing",
      "pod/duo",
      "pod/locked",
      "pod/nonroot",
      // sh as pid 1 ignores SIGTERM: the grace period given here ends it.
      "--grace-period=2",
      "--wait=false",
    ]);
    await eventually(async () => (await json(["get", "pods"])).items.length === 0, 90_000);
    await eventually(async () => (await containers()).length === 0, 30_000);
    await eventually(async () => (await ourNetns()).length === 0, 10_000);
    expect(allocatedIPs()).toEqual([]);
    expect(readdirSync(join(dataDir, "sandboxes"))).toEqual([]);
    // The node stayed Ready throughout (its runtime check never failed).
    const n = await json(["get", "node", NODE]);
    expect(n.status.conditions.find((c: any) => c.type === "Ready").status).toBe("True");
    expect(agent.output()).not.toMatch(/NotReady/);
  });
  // Last: the restarted control plane gets no other work after this.
  it("keeps pods running while the control plane is down, then resumes its watch", async () => {
    await kubectl(["apply", "-f", "-"], deployment("web", 2, "v2"));
    await kubectl(["rollout", "status", "deployment/web", "--timeout=90s"]);
    const before = await podsOf("app=web");
    await cluster.stop();
    await new Promise((r) => setTimeout(r, 3000));
    for (const p of before) expect(await httpGet(p.status.podIP)).toBe(indexPage("v2"));
    await cluster.restart();
    await kubectl(["scale", "deployment/web", "--replicas=3"]);
    await kubectl(["rollout", "status", "deployment/web", "--timeout=90s"]);
    const after = await podsOf("app=web");
    expect(after).toHaveLength(3);
    for (const p of before) {
      const same = after.find((a) => a.metadata.uid === p.metadata.uid);
      expect(same.status.containerStatuses[0].containerID).toBe(
        p.status.containerStatuses[0].containerID,
      );
    }
    await kubectl(["delete", "deployment/web", "--wait=false"]);
    await eventually(async () => (await containers()).length === 0, 60_000);
  });
});
