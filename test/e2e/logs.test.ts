// `kubectl logs` end to end: a real control plane, a hollow node joined with a join token, the
// real agent tunnel (agent/tunnel.ts) running in this process against a data dir of hand-written
// CRI log files, and the real kubectl reading them through the node's tunnel.
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTunnel } from "../../agent/tunnel.ts";
import { requestJson } from "../../scripts/kubeconfig.ts";
import { HollowNodes } from "../hollow/hollow-nodes.ts";
import { type Cluster, eventually, startCluster } from "./cluster.ts";

const NODE = "logs-host";
const NS = "default";

const pods = `apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: x}}
spec:
  nodeName: ${NODE}
  tolerations: [{operator: Exists}]
  containers: [{name: app, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: api, labels: {app: x}}
spec:
  nodeName: ${NODE}
  tolerations: [{operator: Exists}]
  containers: [{name: a, image: busybox}, {name: b, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: big}
spec:
  nodeName: ${NODE}
  tolerations: [{operator: Exists}]
  containers: [{name: app, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: pending}
spec:
  nodeSelector: {nowhere: "true"}
  containers: [{name: app, image: busybox}]
`;

const running = (name: string, previous = false) => ({
  name,
  image: "busybox",
  imageID: "docker.io/library/busybox@sha256:0",
  ready: true,
  started: true,
  restartCount: previous ? 1 : 0,
  containerID: `containerd://${name}-now`,
  state: { running: { startedAt: "2026-11-22T04:00:00Z" } },
  lastState: previous
    ? {
        terminated: {
          exitCode: 1,
          reason: "Error",
          containerID: `containerd://${name}-before`,
          startedAt: "2026-11-22T03:00:00Z",
          finishedAt: "2026-11-22T03:59:59Z",
        },
      }
    : {},
});

/** A CRI log line `seconds` ago. */
const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString();
const line = (secondsAgo: number, text: string, tag = "F", stream = "stdout") =>
  `${at(secondsAgo).replace("Z", "123456Z")} ${stream} ${tag} ${text}\n`;

describe("kubectl logs through the node's tunnel", () => {
  let cluster: Cluster;
  let nodes: HollowNodes;
  let tunnel: { close(): void } | undefined;
  let dataDir: string;
  let credential: string;
  const agentLog: string[] = [];
  const uid: Record<string, string> = {};
  const logFile = (pod: string, container: string, n: number) =>
    join(dataDir, "pods", `${NS}_${pod}_${uid[pod]}`, container, `${n}.log`);
  const writeLog = (pod: string, container: string, n: number, text: string) => {
    mkdirSync(join(logFile(pod, container, n), ".."), { recursive: true });
    writeFileSync(logFile(pod, container, n), text);
  };
  const k = (args: string[]) => cluster.kubectl(args);
  const connect = () => {
    tunnel = startTunnel({
      server: cluster.server,
      nodeName: NODE,
      credential,
      dataDir,
      insecure: true,
      log: (m) => agentLog.push(m),
    });
  };

  beforeAll(async () => {
    cluster = await startCluster();
    nodes = new HollowNodes({ server: cluster.server, token: cluster.token, runPods: false });
    await nodes.register([{ name: NODE }]);
    nodes.start();

    // Enrol the node as an agent would, with a join token made as `npm run token` makes it.
    const admin = { server: cluster.server, token: cluster.token, insecure: true };
    const secret = await requestJson(admin, "POST", "/api/v1/namespaces/kube-system/secrets", {
      metadata: { name: "bootstrap-token-logs01" },
      type: "bootstrap.kubernetes.io/token",
      stringData: {
        "token-id": "logs01",
        "token-secret": "0123456789abcdef",
        "usage-bootstrap-authentication": "true",
      },
    });
    expect(secret.status).toBe(201);
    const joined = await requestJson(
      { server: cluster.server, insecure: true },
      "POST",
      "/kubeflare/v1/join",
      { token: "logs01.0123456789abcdef", nodeName: NODE },
    );
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    credential = joined.body.credential;

    await cluster.kubectl(["apply", "-f", "-"], { input: pods });
    for (const [pod, statuses] of [
      ["web", [running("app", true)]],
      ["api", [running("a"), running("b")]],
      ["big", [running("app")]],
    ] as const) {
      const status = JSON.stringify({ status: { phase: "Running", containerStatuses: statuses } });
      await k(["patch", "pod", pod, "--subresource=status", "--type=merge", "-p", status]);
      uid[pod] = await k(["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"]);
    }

    dataDir = mkdtempSync(join(tmpdir(), "kubeflare-logs-e2e-"));
    writeLog("web", "app", 0, line(4000, "crashed once") + line(3990, "exit 1", "F", "stderr"));
    writeLog(
      "web",
      "app",
      1,
      line(7200, "old line") +
        line(30, "one") +
        line(20, "tw", "P") +
        line(20, "o") +
        line(10, "three", "F", "stderr"),
    );
    writeLog("api", "a", 0, line(5, "from a"));
    writeLog("api", "b", 0, line(5, "from b"));
    writeLog("big", "app", 0, line(5, "y".repeat(99)).repeat(30_000));
    connect();
    // The agent dials in the background: wait for the first answer.
    await eventually(async () => (await k(["logs", "web", "--tail=1"])) === "three\n", 30_000);
  });

  afterAll(async () => {
    tunnel?.close();
    await nodes?.close();
    await cluster?.destroy();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("prints the container's log, partial lines joined", async () => {
    expect(await k(["logs", "web"])).toBe("old line\none\ntwo\nthree\n");
    expect(await k(["logs", "pod/web", "-c", "app"])).toBe("old line\none\ntwo\nthree\n");
  });

  it("tails, limits to recent lines, and prints timestamps", async () => {
    expect(await k(["logs", "web", "--tail=2"])).toBe("two\nthree\n");
    expect(await k(["logs", "web", "--since=1m"])).toBe("one\ntwo\nthree\n");
    const minuteAgo = `${new Date(Date.now() - 60_000).toISOString().slice(0, 19)}Z`;
    expect(await k(["logs", "web", `--since-time=${minuteAgo}`])).toBe("one\ntwo\nthree\n");
    const stamped = await k(["logs", "web", "--tail=1", "--timestamps"]);
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z three\n$/);
    const when = Date.parse(stamped.split(" ")[0]);
    expect(Math.abs(Date.now() - 10_000 - when)).toBeLessThan(60_000);
    expect(await k(["logs", "web", "--limit-bytes=6"])).toBe("old li");
  });

  it("prints the previous container's log", async () => {
    expect(await k(["logs", "web", "--previous"])).toBe("crashed once\nexit 1\n");
    const none = await cluster.kubectlResult(["logs", "api", "-c", "a", "--previous"]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('previous terminated container "a" in pod "api" not found');
  });

  it("picks containers, and pods by label", async () => {
    expect(await k(["logs", "api", "-c", "b"])).toBe("from b\n");
    const all = await k(["logs", "-l", "app=x", "--prefix"]);
    expect(all.split("\n").sort()).toEqual(
      [
        "",
        "[pod/api/a] from a",
        "[pod/web/app] old line",
        "[pod/web/app] one",
        "[pod/web/app] two",
        "[pod/web/app] three",
      ].sort(),
    );
    // kubectl keeps its requests in a map: the containers' order varies between runs.
    const both = await k(["logs", "api", "--all-containers", "--prefix"]);
    expect(both.split("\n").sort()).toEqual(["", "[pod/api/a] from a", "[pod/api/b] from b"]);
  });

  it("streams a log far larger than the tunnel's window", async () => {
    const out = await k(["logs", "big"]);
    expect(out.length).toBe(3_000_000);
    expect(out.split("\n").filter((l) => l !== "y".repeat(99))).toEqual([""]);
  });

  it("explains what it cannot show", async () => {
    const unbound = await cluster.kubectlResult(["logs", "pending"]);
    expect(unbound.code).not.toBe(0);
    expect(unbound.stderr).toContain("pod pending does not have a host assigned");
  });

  it("follows new lines until the container restarts", async () => {
    const f = cluster.kubectlBackground(["logs", "-f", "web", "--tail=1"]);
    await f.waitFor(/three\n/);
    appendFileSync(logFile("web", "app", 1), line(0, "four"));
    await f.waitFor(/three\nfour\n/);
    // The container restarts: its last line still comes, then kubectl ends.
    appendFileSync(logFile("web", "app", 1), line(0, "last words"));
    writeLog("web", "app", 2, line(0, "new container"));
    const done = await f.exited;
    expect(done.code).toBe(0);
    expect(done.stdout).toBe("three\nfour\nlast words\n");
    expect(await k(["logs", "web"])).toBe("new container\n");
  });

  it("says so when the node's agent is not connected, and serves again once it is", async () => {
    tunnel?.close();
    const down = await eventually(async () => {
      const r = await cluster.kubectlResult(["logs", "web"]);
      return r.code !== 0 && r;
    });
    expect(down.stderr).toContain(`no tunnel for node "${NODE}"`);
    connect();
    await eventually(async () => (await k(["logs", "web"])) === "new container\n");
    expect(agentLog.some((m) => m.startsWith("tunnel: connected"))).toBe(true);
  });
});
