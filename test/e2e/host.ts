// Harness for tests that run real containers: a containerd of the test's own (config, root, state
// and socket in a temp dir), the agent started in the foreground against it, and a cleanup that
// leaves the machine as it found it: no container, shim, mount, network namespace, bridge or
// nftables table of ours.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupNetwork } from "../../agent/cleanup.ts";
import { BRIDGE, NETNS_PREFIX, NFT_TABLE, netnsName, netnsPath } from "../../agent/cni.ts";
import { type OwnContainerd, startOwnContainerd } from "../../scripts/containerd.ts";
import { readKubeconfig, requestJson } from "../../scripts/kubeconfig.ts";
import { createJoinToken } from "../../scripts/local-node.ts";
import { killShims, removeAllContainers, unmountUnder } from "../../scripts/node-cleanup.ts";
import { run } from "../../scripts/run.ts";
import { root } from "./cluster.ts";

/** containerd namespace the agent runs its pods in. */
export const NAMESPACE = "kubeflare";
export { agentNetns, agentNftTables, cleanupNetwork } from "../../agent/cleanup.ts";
export { bridgeExists, bridgePorts } from "../../agent/cni.ts";
export { mountsUnder } from "../../scripts/node-cleanup.ts";
/** The agent's bridge, the prefix of its network namespaces (under /run/netns), its nftables table. */
export { BRIDGE, NETNS_PREFIX, NFT_TABLE };

export const AGENT_BUNDLE = join(root, "public/agent/kubeflare-agent.mjs");

const lines = (s: string) => s.split("\n").filter((l) => l.trim());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Processes started here are killed when the test process exits, even after a failed test.
const started = new Set<number>();
process.on("exit", () => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
});

/** Sends `signal`, waits up to graceMs, then SIGKILLs; resolves once the process is gone. */
async function killPid(
  child: ChildProcess,
  signal: NodeJS.Signals,
  graceMs: number,
  group = false,
) {
  const pid = child.pid as number;
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const send = (s: NodeJS.Signals) => {
    try {
      process.kill(group ? -pid : pid, s);
    } catch {}
  };
  if (!exited()) {
    send(signal);
    const deadline = Date.now() + graceMs;
    while (!exited() && Date.now() < deadline) await sleep(50);
    if (!exited()) send("SIGKILL");
    while (!exited()) await sleep(50);
  }
  // Whatever the process left in its group goes too.
  if (group) send("SIGKILL");
  started.delete(pid);
}

export interface Containerd {
  /** Temp dir holding the config, root, state, socket and log. */
  dir: string;
  /** grpc socket, for `ctr --address` and the agent's `--containerd-address`. */
  address: string;
  pid: number;
  /**
   * Where this host's agent should keep its data (`--data-dir`): stop() then also tears down
   * the agent's pod sandboxes and whatever it mounted there.
   */
  agentDataDir: string;
  /** containerd's own log (stdout and stderr). */
  log(): string;
  /** Runs `ctr --address <address> -n <namespace> …args`; stdout, or throws CommandError. */
  ctr(args: string[], opts?: { namespace?: string; input?: string }): Promise<string>;
  /**
   * Removes every container and task of this containerd (all namespaces), stops it (SIGTERM, then
   * SIGKILL) and its shims, tears down the sandboxes of the agent that used `agentDataDir` (see
   * cleanupNetwork; skipped with `network: false`), unmounts whatever is mounted under `dir` and
   * removes `dir`.
   */
  stop(opts?: { network?: boolean }): Promise<void>;
}

/** Starts a containerd of the test's own and waits until it answers. */
export async function startContainerd(
  opts: { dir?: string; agentDataDir?: string; wrap?: string[] } = {},
): Promise<Containerd> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "kubeflare-host-"));
  let log = "";
  let own: OwnContainerd;
  try {
    own = await startOwnContainerd(dir, { onOutput: (d) => (log += d), wrap: opts.wrap });
  } catch (err) {
    await unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}:\n${log}`);
  }
  const { child, address } = own;
  const agentDataDir = opts.agentDataDir ?? join(dir, "agent");
  const pid = child.pid as number;
  started.add(pid);
  const ctr = (args: string[], o: { namespace?: string; input?: string } = {}) =>
    run("ctr", ["--address", address, "-n", o.namespace ?? NAMESPACE, ...args], {
      quiet: true,
      input: o.input,
    });

  let stopped = false;
  const stop = async (o: { network?: boolean } = {}) => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null) {
      try {
        await removeAllContainers(ctr);
      } catch {} // an unresponsive containerd: its shims are killed below
    }
    await killPid(child, "SIGTERM", 10_000);
    killShims(address);
    if (o.network ?? true) await cleanupNetwork(agentDataDir);
    await unmountUnder(agentDataDir);
    await unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, address, pid, agentDataDir, log: () => log, ctr, stop };
}

/** k3s-style registries.yaml making each `host:port` a plain-HTTP registry. */
export function writeRegistries(path: string, hosts: string[]): string {
  const mirrors = hosts.map((h) => `  "${h}":\n    endpoint:\n      - "http://${h}"\n`).join("");
  writeFileSync(path, `mirrors:\n${mirrors}`);
  return path;
}

export interface AgentOptions {
  server: string;
  nodeName: string;
  dataDir: string;
  containerdAddress: string;
  token?: string;
  registries?: string;
  /** Defaults to AGENT_BUNDLE (build it with scripts/build-agent.ts). */
  bundle?: string;
  /** Node binary; defaults to the one running the test. */
  node?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Command that execs the agent, e.g. `nsenter --net=<netns> --` for a simulated host. */
  wrap?: string[];
}

export interface Agent {
  pid: number;
  /** Everything the agent printed so far (stdout and stderr). */
  output(): string;
  /** Resolves once the output matches; rejects on timeout or exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal) when the agent has ended and its output is read. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** SIGTERM, up to graceMs (default 15 s) to exit, then SIGKILL; its process group goes too. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash or `systemctl kill`): the agent and its child processes. */
  kill(): Promise<void>;
}

/** The agent's command line, as install.sh and the tests run it. */
export function agentArgs(o: AgentOptions): string[] {
  return [
    o.bundle ?? AGENT_BUNDLE,
    "--server",
    o.server,
    ...(o.token ? ["--token", o.token] : []),
    "--node-name",
    o.nodeName,
    "--data-dir",
    o.dataDir,
    "--containerd-address",
    o.containerdAddress,
    "--insecure-skip-tls-verify",
    ...(o.registries ? ["--registries", o.registries] : []),
    ...(o.extraArgs ?? []),
  ];
}

/** Starts the agent in the foreground (its own process group), output captured. */
export function startAgent(o: AgentOptions): Agent {
  const [cmd, ...args] = [...(o.wrap ?? []), o.node ?? process.execPath, ...agentArgs(o)];
  const child = spawn(cmd, args, {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    // As install.sh starts it.
    env: o.env ?? { MALLOC_ARENA_MAX: "1", ...process.env },
  });
  return watchAgent(child);
}

export interface InstallOptions extends Omit<AgentOptions, "bundle" | "node" | "extraArgs"> {
  /** Where install.sh puts the bundle (KUBEFLARE_INSTALL_DIR); default `<dataDir>/../lib`. */
  installDir?: string;
  /** Where it puts kubeflare-killall.sh and kubeflare-agent-uninstall.sh; `<dataDir>/../bin`. */
  binDir?: string;
  /** More install.sh flags. */
  extraArgs?: string[];
}

/**
 * Joins a host as a user does: fetches `<server>/install.sh` with curl and runs it with sh
 * (`--no-systemd`, so it downloads the agent and execs it in the foreground: `pid` is the
 * agent's once the script has checked the prerequisites).
 */
export function installAgent(o: InstallOptions): Agent {
  const script = execFileSync("curl", ["-sfkL", `${o.server}/install.sh`], { encoding: "utf8" });
  const args = [
    ...agentArgs({ ...o, bundle: "" }).slice(1),
    "--no-systemd",
    ...(o.extraArgs ?? []),
  ];
  const child = spawn("/bin/sh", ["-s", "-", ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
    env: {
      ...(o.env ?? process.env),
      KUBEFLARE_INSTALL_DIR: o.installDir ?? join(o.dataDir, "..", "lib"),
      KUBEFLARE_BIN_DIR: o.binDir ?? join(o.dataDir, "..", "bin"),
    },
  });
  child.stdin?.end(script);
  return watchAgent(child);
}

function watchAgent(child: ChildProcess): Agent {
  const pid = child.pid as number;
  started.add(-pid);
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d;
    for (const l of listeners) l();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  let closed = false;
  // "close": the output is complete (after "exit", once the pipes drain).
  const exited = new Promise<number | NodeJS.Signals | null>((r) =>
    child.on("close", (code, signal) => {
      closed = true;
      for (const l of listeners) l();
      r(code ?? signal);
    }),
  );
  const end = async (signal: NodeJS.Signals, graceMs: number) => {
    await killPid(child, signal, graceMs, true);
    started.delete(-pid);
    await exited;
  };
  return {
    pid,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((res, rej) => {
        const timer = setTimeout(() => {
          finish();
          rej(new Error(`agent did not print ${pattern} in ${timeoutMs} ms:\n${out}`));
        }, timeoutMs);
        const check = () => {
          const m = pattern.exec(out);
          if (m) {
            finish();
            res(m[0]);
          } else if (closed) {
            finish();
            rej(new Error(`agent exited before printing ${pattern}:\n${out}`));
          }
        };
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    stop: (graceMs = 15_000) => end("SIGTERM", graceMs),
    kill: () => end("SIGKILL", 0),
  };
}

export interface Host {
  nodeName: string;
  containerd: Containerd;
  /** The running agent (replace it with restartAgent after a stop or kill). */
  agent: Agent;
  /** The agent's --data-dir (containerd.agentDataDir). */
  dataDir: string;
  /** The bundle install.sh downloaded. */
  bundle: string;
  /** Starts the installed agent again, already joined (no token), as systemd would. */
  restartAgent(): Agent;
  /** Stops the agent, then the containerd with everything it ran (see Containerd.stop). */
  stop(): Promise<void>;
}

/** A host joined through install.sh, which also wrote its killall and uninstall scripts. */
export interface InstalledHost extends Host {
  /** Where install.sh put kubeflare-killall.sh and kubeflare-agent-uninstall.sh. */
  binDir: string;
}

/**
 * A joined host: its own containerd, a fresh join token, the agent installed and started
 * through the served install.sh; resolves once its Node is Ready. `registries` are registry
 * hosts (`127.0.0.1:port`) the agent reaches over plain HTTP.
 */
export async function joinHost(o: {
  server: string;
  kubeconfig: string;
  nodeName: string;
  registries?: string[];
  readyTimeoutMs?: number;
  /** Node binary install.sh runs the agent with (KUBEFLARE_NODE); default: `node` on PATH. */
  node?: string;
}): Promise<InstalledHost> {
  const containerd = await startContainerd();
  const dataDir = containerd.agentDataDir;
  const installDir = join(containerd.dir, "lib");
  const binDir = join(containerd.dir, "bin");
  const registries = o.registries?.length
    ? writeRegistries(join(containerd.dir, "registries.yaml"), o.registries)
    : undefined;
  const common = {
    server: o.server,
    nodeName: o.nodeName,
    dataDir,
    containerdAddress: containerd.address,
    registries,
    node: o.node,
  };
  let agent: Agent | undefined;
  try {
    const token = await createJoinToken(o.kubeconfig, `e2e host ${o.nodeName}`);
    const env = o.node ? { ...process.env, KUBEFLARE_NODE: o.node } : undefined;
    agent = installAgent({ ...common, token, installDir, binDir, env });
    await waitNodeReady(o.kubeconfig, o.nodeName, agent, o.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await agent?.stop();
    await containerd.stop();
    throw err;
  }
  const bundle = join(installDir, "kubeflare-agent.mjs");
  const host: InstalledHost = {
    nodeName: o.nodeName,
    containerd,
    agent,
    dataDir,
    bundle,
    binDir,
    restartAgent() {
      host.agent = startAgent({ ...common, bundle });
      return host.agent;
    },
    async stop() {
      await host.agent.stop();
      await containerd.stop();
    },
  };
  return host;
}

async function waitNodeReady(kubeconfig: string, name: string, agent: Agent, timeoutMs: number) {
  const target = readKubeconfig(kubeconfig);
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void agent.exited.then(() => {
    exited = true;
  });
  for (;;) {
    const res = await requestJson(target, "GET", `/api/v1/nodes/${name}`).catch(() => undefined);
    const conditions: { type: string; status: string }[] = res?.body?.status?.conditions ?? [];
    if (res?.status === 200 && conditions.some((c) => c.type === "Ready" && c.status === "True"))
      return;
    if (exited) throw new Error(`the agent of ${name} exited:\n${agent.output()}`);
    if (Date.now() > deadline)
      throw new Error(`node ${name} not Ready after ${timeoutMs} ms:\n${agent.output()}`);
    await sleep(250);
  }
}

/** TEST-NET-2 (RFC 5737): the links of simulated hosts to the root namespace, one /30 each. */
const LINK_NET = "198.51.100";

/** Forwards TCP from `listenHost:port` to `targetHost:port` (in this process, this namespace). */
async function forwardTcp(listenHost: string, port: number, targetHost: string) {
  const sockets = new Set<Socket>();
  const server = createServer((down) => {
    const up = connect(port, targetHost);
    const end = () => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    sockets.add(down).add(up);
    for (const s of [down, up]) {
      s.on("error", end);
      s.on("close", end);
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(port, listenHost, res);
  });
  return {
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}

export interface NetnsHost extends Host {
  /** The host's network namespace (under /run/netns). */
  netns: string;
  /** The host's address on its link; the root namespace is `gateway`. */
  address: string;
  gateway: string;
}

/**
 * A second host on this machine, as DESIGN.md simulates one: a network namespace with its own
 * containerd and agent (both started through `nsenter --net`, so they share the machine's mounts
 * and cgroups but not its network). A veth pair links it to the root namespace with a /30 of
 * TEST-NET-2 (`index` picks which); the control plane and the registries listen on loopback in
 * the root namespace, so TCP forwarders on the link's root end carry their ports, and the agent
 * pulls `127.0.0.1:port` images through a registries.yaml mirror on the link address. Its pods
 * get their own `kubeflare0` bridge inside the namespace. Resolves once its Node is Ready.
 */
export async function joinNetnsHost(o: {
  server: string;
  kubeconfig: string;
  nodeName: string;
  registries?: string[];
  index?: number;
  readyTimeoutMs?: number;
}): Promise<NetnsHost> {
  const index = o.index ?? 0;
  const gateway = `${LINK_NET}.${4 * index + 1}`;
  const address = `${LINK_NET}.${4 * index + 2}`;
  const tag = Math.random().toString(36).slice(2, 8);
  const netns = `kfsim-${tag}`;
  const link = `kfsim${tag}`;
  const wrap = ["nsenter", `--net=/run/netns/${netns}`, "--"];
  const forwarders: { close(): Promise<void> }[] = [];
  let containerd: Containerd | undefined;
  let agent: Agent | undefined;

  const teardown = async () => {
    await agent?.stop();
    let podUIDs: string[] = [];
    try {
      podUIDs = readdirSync(join(containerd?.agentDataDir ?? "", "cni", "results"))
        .filter((f) => f.endsWith(".json"))
        .map((f) => f.slice(0, -5));
    } catch {}
    // The host's bridge, veths and rules go with its namespace; its pods' namespaces go here.
    await containerd?.stop({ network: false });
    for (const uid of podUIDs)
      if (existsSync(netnsPath(uid))) await run("ip", ["netns", "delete", netnsName(uid)]);
    for (const f of forwarders) await f.close();
    if (existsSync(`/run/netns/${netns}`)) {
      for (const pid of lines(await run("ip", ["netns", "pids", netns], { quiet: true }))) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {}
      }
      await run("ip", ["link", "delete", `${link}h`], { quiet: true }).catch(() => {});
      await run("ip", ["netns", "delete", netns], { quiet: true });
    }
  };

  try {
    const ip = (...args: string[]) => run("ip", args, { quiet: true });
    await ip("netns", "add", netns);
    await ip("link", "add", `${link}h`, "type", "veth", "peer", "name", `${link}n`, "netns", netns);
    await ip("addr", "add", `${gateway}/30`, "dev", `${link}h`);
    await ip("link", "set", `${link}h`, "up");
    await ip("-n", netns, "link", "set", "lo", "up");
    await ip("-n", netns, "addr", "add", `${address}/30`, "dev", `${link}n`);
    await ip("-n", netns, "link", "set", `${link}n`, "up");
    await ip("-n", netns, "route", "add", "default", "via", gateway);

    const server = new URL(o.server);
    forwarders.push(await forwardTcp(gateway, Number(server.port), server.hostname));
    server.hostname = gateway;
    let mirrors = "";
    for (const r of o.registries ?? []) {
      const [host, port] = r.split(":");
      forwarders.push(await forwardTcp(gateway, Number(port), host));
      mirrors += `  "${r}":\n    endpoint:\n      - "http://${gateway}:${port}"\n`;
    }

    containerd = await startContainerd({ wrap });
    const registries = mirrors ? join(containerd.dir, "registries.yaml") : undefined;
    if (registries) writeFileSync(registries, `mirrors:\n${mirrors}`);
    const common: AgentOptions = {
      server: server.origin,
      nodeName: o.nodeName,
      dataDir: containerd.agentDataDir,
      containerdAddress: containerd.address,
      registries,
      wrap,
    };
    const token = await createJoinToken(o.kubeconfig, `e2e netns host ${o.nodeName}`);
    agent = startAgent({ ...common, token });
    await waitNodeReady(o.kubeconfig, o.nodeName, agent, o.readyTimeoutMs ?? 60_000);
    const host: NetnsHost = {
      nodeName: o.nodeName,
      containerd,
      agent,
      dataDir: containerd.agentDataDir,
      bundle: AGENT_BUNDLE,
      netns,
      address,
      gateway,
      restartAgent() {
        agent = startAgent(common);
        host.agent = agent;
        return agent;
      },
      stop: teardown,
    };
    return host;
  } catch (err) {
    await teardown();
    throw err;
  }
}
