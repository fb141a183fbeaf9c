// A containerd of our own (npm start's local node, the end-to-end tests): root, state, sockets
// and config in one directory, next to whatever containerd the host already runs.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./run.ts";

export interface OwnContainerd {
  child: ChildProcess;
  /** grpc socket: `ctr --address` and the agent's `--containerd-address`. */
  address: string;
}

function config(dir: string, address: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
# The agent drives containerd through ctr; the CRI plugin would only add a server and CNI lookups.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "${address}"

[ttrpc]
  address = "${address}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`;
}

/**
 * Starts containerd with everything under `dir` and resolves once it answers `ctr version`.
 * Its output goes to `logFile` (appended) or to `onOutput`.
 */
export async function startOwnContainerd(
  dir: string,
  opts: {
    logFile?: string;
    onOutput?: (chunk: string) => void;
    timeoutMs?: number;
    /** Command that execs containerd, e.g. `nsenter --net=<netns> --` for a simulated host. */
    wrap?: string[];
  } = {},
): Promise<OwnContainerd> {
  mkdirSync(dir, { recursive: true });
  const address = join(dir, "containerd.sock");
  const configPath = join(dir, "containerd.toml");
  writeFileSync(configPath, config(dir, address));
  const fd = opts.logFile ? openSync(opts.logFile, "a") : undefined;
  const out = fd ?? "pipe";
  const [cmd, ...args] = [...(opts.wrap ?? []), "containerd", "--config", configPath];
  const child = spawn(cmd, args, { stdio: ["ignore", out, out] });
  if (fd !== undefined) closeSync(fd);
  const onOutput = opts.onOutput ?? (() => {});
  child.stdout?.on("data", (d) => onOutput(String(d)));
  child.stderr?.on("data", (d) => onOutput(String(d)));
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`containerd exited while starting (${child.exitCode ?? child.signalCode})`);
    if (existsSync(address)) {
      try {
        await run("ctr", ["--address", address, "version"], { quiet: true });
        return { child, address };
      } catch {}
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`containerd did not answer on ${address}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
