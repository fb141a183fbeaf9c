// `npm start`'s node: a containerd of its own (state under <state>/containerd) and the agent
// (data under <state>/agent) joined to the local control plane as this host.
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { startOwnContainerd } from "./containerd.ts";
import { NAMESPACE, newToken, tokenSecret } from "./join-token.ts";
import { failure, readKubeconfig, requestJson } from "./kubeconfig.ts";

const CNI_DIRS = ["/usr/lib/cni", "/opt/cni/bin"];
const CNI_PLUGINS = ["bridge", "host-local", "portmap", "loopback"];

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why this machine cannot run the local node (with how to fix it), or undefined if it can. */
export function missingForNode(): string | undefined {
  const missing: string[] = [];
  for (const cmd of ["containerd", "ctr", "runc", "ip", "nft"]) if (!onPath(cmd)) missing.push(cmd);
  if (!CNI_DIRS.some((d) => CNI_PLUGINS.every((p) => existsSync(join(d, p)))))
    missing.push(`CNI plugins (${CNI_PLUGINS.join(", ")})`);
  const root = process.getuid?.() === 0;
  if (!missing.length && root) return undefined;
  const lines = [];
  if (missing.length)
    lines.push(
      `missing: ${missing.join(", ")}`,
      "install them with: sudo apt-get install containerd runc containernetworking-plugins iproute2 nftables",
    );
  if (!root)
    lines.push("the node needs root (containers, network namespaces, nftables): sudo npm start");
  return lines.join("\n");
}

/** Node names are DNS-1123 subdomains. */
export function nodeNameOf(host: string): string {
  const name = host
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return name.slice(0, 253) || "localhost";
}

/** A join token for this node, as `npm run token -- create` makes it. */
export async function createJoinToken(kubeconfig: string, description: string): Promise<string> {
  const token = newToken();
  const res = await requestJson(
    readKubeconfig(kubeconfig),
    "POST",
    `/api/v1/namespaces/${NAMESPACE}/secrets`,
    tokenSecret(token, { ttlMs: 3600_000, description }),
  );
  if (res.status !== 201) throw new Error(`creating a join token: ${failure(res)}`);
  return `${token.id}.${token.secret}`;
}

export interface LocalNode {
  nodeName: string;
  agentLog: string;
  containerdLog: string;
  /** Resolves once the Node reports Ready; throws if the agent exits or after timeoutMs. */
  waitReady(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess, graceMs: number) {
  const done = () => child.exitCode !== null || child.signalCode !== null;
  if (done()) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts containerd and the agent (the bundle built by scripts/build-agent.ts) and joins this
 * host; a node that joined before (credential in the agent's data dir) starts without a token.
 */
export async function startLocalNode(o: {
  state: string;
  server: string;
  kubeconfig: string;
  bundle: string;
  registries?: string;
}): Promise<LocalNode> {
  const nodeName = nodeNameOf(hostname());
  const containerdDir = join(o.state, "containerd");
  const dataDir = join(o.state, "agent");
  mkdirSync(dataDir, { recursive: true });
  const containerdLog = join(o.state, "containerd.log");
  const agentLog = join(o.state, "agent.log");
  const containerd = await startOwnContainerd(containerdDir, { logFile: containerdLog });
  let token: string | undefined;
  try {
    if (!existsSync(join(dataDir, "credential.json")))
      token = await createJoinToken(o.kubeconfig, `npm start: node ${nodeName}`);
  } catch (err) {
    await stopChild(containerd.child, 10_000);
    throw err;
  }
  const fd = openSync(agentLog, "a");
  const agent = spawn(
    process.execPath,
    [
      o.bundle,
      "--server",
      o.server,
      ...(token ? ["--token", token] : []),
      "--node-name",
      nodeName,
      "--data-dir",
      dataDir,
      "--containerd-address",
      containerd.address,
      "--insecure-skip-tls-verify",
      ...(o.registries ? ["--registries", o.registries] : []),
    ],
    // As install.sh starts it.
    { stdio: ["ignore", fd, fd], env: { MALLOC_ARENA_MAX: "1", ...process.env } },
  );
  closeSync(fd);
  const alive = () => agent.exitCode === null && agent.signalCode === null;
  return {
    nodeName,
    agentLog,
    containerdLog,
    async waitReady(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (alive()) {
        if (await nodeReady(o.kubeconfig, nodeName)) return;
        if (Date.now() > deadline)
          throw new Error(
            `node ${nodeName} is not Ready after ${timeoutMs / 1000}s; see ${agentLog}`,
          );
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`the agent exited (${agent.exitCode ?? agent.signalCode}); see ${agentLog}`);
    },
    async stop() {
      // The agent first: pods keep running under containerd's shims and are adopted next time.
      await stopChild(agent, 10_000);
      await stopChild(containerd.child, 10_000);
    },
  };
}

async function nodeReady(kubeconfig: string, nodeName: string): Promise<boolean> {
  try {
    const res = await requestJson(readKubeconfig(kubeconfig), "GET", `/api/v1/nodes/${nodeName}`);
    const conditions: { type: string; status: string }[] = res.body?.status?.conditions ?? [];
    return res.status === 200 && conditions.some((c) => c.type === "Ready" && c.status === "True");
  } catch {
    return false;
  }
}
