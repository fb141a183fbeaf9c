// Harness for the end-to-end suite: a real control plane (`node scripts/start.ts`: the Worker on
// workerd over HTTPS) on a free loopback port with its state in a fresh temp dir, and the real kubectl.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** kubectl binaries by minor version; "1.32" is the system kubectl. */
export const KUBECTL: Record<string, string> = {
  "1.32": "/usr/bin/kubectl",
  "1.29": "/usr/lib/google-cloud-sdk/bin/kubectl.1.29",
};

export interface KubectlOptions {
  input?: string;
  /** "1.32" (default) or "1.29", or a path to a kubectl binary. */
  version?: string;
  /** Kill kubectl after this many milliseconds (default 90 s). */
  timeoutMs?: number;
}

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A long-running kubectl (e.g. `get -w`), read while it runs. */
export interface Background {
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once stdout matches, rejects on timeout or early exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit when the process ends by itself. */
  exited: Promise<KubectlResult>;
  stop(): Promise<void>;
}

export interface Cluster {
  kubeconfig: string;
  server: string;
  token: string;
  port: number;
  state: string;
  /** What the control plane (scripts/start.ts, wrangler dev) printed since it last started. */
  output(): string;
  /** Runs kubectl against this cluster; stdout, or throws with stderr. */
  kubectl(args: string[], opts?: KubectlOptions): Promise<string>;
  /** Runs kubectl against this cluster; never throws on a non-zero exit. */
  kubectlResult(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Starts kubectl in the background (its own process group). */
  kubectlBackground(args: string[], opts?: KubectlOptions): Background;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** stop(), end background kubectls, remove the state dir. */
  destroy(): Promise<void>;
}

export class KubectlError extends Error {
  readonly result: KubectlResult;
  constructor(args: string[], result: KubectlResult) {
    super(
      `kubectl ${args.join(" ")} exited with ${result.code}:\n${result.stderr || result.stdout}`,
    );
    this.result = result;
  }
}

const binary = (version = "1.32") => KUBECTL[version] ?? version;

// Process groups started here, so a crashed test run still leaves nothing behind.
const groups = new Set<number>();
process.on("exit", () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
});

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM the process group, then SIGKILL it if it lingers; resolves when it is gone. */
async function killGroup(pid: number, graceMs = 10_000): Promise<void> {
  try {
    process.kill(-pid, "SIGTERM");
  } catch {}
  const deadline = Date.now() + graceMs;
  while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
  if (groupAlive(pid)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
    while (groupAlive(pid)) await sleep(100);
  }
  groups.delete(pid);
}

export function runKubectl(
  kubeconfig: string,
  args: string[],
  opts: KubectlOptions = {},
): Promise<KubectlResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(binary(opts.version), ["--kubeconfig", kubeconfig, ...args], {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => {
      stdout += d;
    });
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 90_000);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function background(kubeconfig: string, args: string[], opts: KubectlOptions = {}): Background {
  const child = spawn(binary(opts.version), ["--kubeconfig", kubeconfig, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const pid = child.pid as number;
  groups.add(pid);
  let stdout = "";
  let stderr = "";
  let done = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of listeners) l();
  };
  child.stdout?.on("data", (d) => {
    stdout += d;
    notify();
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<KubectlResult>((r) => {
    child.on("close", (code) => {
      done = true;
      groups.delete(pid);
      notify();
      r({ code, stdout, stderr });
    });
  });
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((res, rej) => {
        const check = () => {
          const m = pattern.exec(stdout);
          if (m) {
            finish();
            res(m[0]);
          } else if (done) {
            finish();
            rej(
              new Error(
                `kubectl ${args.join(" ")} exited before printing ${pattern}:\n${stdout}\n${stderr}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          finish();
          rej(
            new Error(
              `timed out waiting for ${pattern} from kubectl ${args.join(" ")}:\n${stdout}\n${stderr}`,
            ),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (!done) await killGroup(pid, 2_000);
      await exited;
    },
  };
}

/**
 * A port nothing listens on, below Linux's ephemeral range (32768-60999): a port the kernel
 * hands out for `listen(0)` is also one it hands out to outgoing connections, and one of those
 * took a port between this check and the server's bind ("Address already in use" in a CI).
 */
export function freePort(): Promise<number> {
  const port = 20_000 + Math.floor(Math.random() * 12_000);
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on("error", (err: NodeJS.ErrnoException) =>
      err.code === "EADDRINUSE" ? freePort().then(res, rej) : rej(err),
    );
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(port)));
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

interface Running {
  child: ChildProcess;
  pid: number;
  output: () => string;
}

async function launch(port: number, state: string, args: string[]): Promise<Running> {
  const node = join(root, "node_modules/.bin/node");
  const child = spawn(
    node,
    // The tests join the hosts they need themselves.
    [
      join(root, "scripts/start.ts"),
      "--port",
      String(port),
      "--state",
      state,
      "--no-node",
      ...args,
    ],
    {
      cwd: root,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH ?? ""}` },
    },
  );
  const pid = child.pid as number;
  groups.add(pid);
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  // Keep draining the pipes for as long as the control plane runs.
  const up = await new Promise<boolean>((res) => {
    const timer = setTimeout(() => res(false), 150_000);
    const check = () => {
      if (out.includes("kubeflare control plane is up")) {
        clearTimeout(timer);
        res(true);
      }
    };
    child.stdout?.on("data", check);
    child.on("exit", () => {
      clearTimeout(timer);
      res(out.includes("kubeflare control plane is up"));
    });
  });
  if (!up) {
    await killGroup(pid);
    throw new Error(`control plane on port ${port} did not come up:\n${out}`);
  }
  return { child, pid, output: () => out };
}

export async function startCluster(
  opts: {
    state?: string;
    /** Where a state directory of its own is made (default: the OS temporary directory). */
    stateIn?: string;
    /** Extra `scripts/start.ts` flags, e.g. --bench. */
    args?: string[];
  } = {},
): Promise<Cluster> {
  const port = await freePort();
  const ownState = !opts.state;
  const state = opts.state ?? mkdtempSync(join(opts.stateIn ?? tmpdir(), "kubeflare-e2e-"));
  let running: Running | undefined;
  try {
    running = await launch(port, state, opts.args ?? []);
  } catch (err) {
    if (ownState) rmSync(state, { recursive: true, force: true });
    throw err;
  }
  const kubeconfig = join(state, "kubeconfig");
  const token = /token: (\S+)/.exec(readFileSync(kubeconfig, "utf8"))?.[1] ?? "";
  const server = `https://127.0.0.1:${port}`;
  const backgrounds = new Set<Background>();

  const stop = async () => {
    const r = running;
    running = undefined;
    if (r) await killGroup(r.pid);
  };

  const kubectlResult = (args: string[], o?: KubectlOptions) => runKubectl(kubeconfig, args, o);
  return {
    kubeconfig,
    server,
    token,
    port,
    state,
    output: () => running?.output() ?? "",
    kubectlResult,
    async kubectl(args, o) {
      const r = await kubectlResult(args, o);
      if (r.code !== 0) throw new KubectlError(args, r);
      return r.stdout;
    },
    kubectlBackground(args, o) {
      const b = background(kubeconfig, args, o);
      backgrounds.add(b);
      return b;
    },
    stop,
    async restart() {
      await stop();
      for (let i = 0; i < 100 && !(await portFree(port)); i++) await sleep(100);
      running = await launch(port, state, opts.args ?? []);
    },
    async destroy() {
      for (const b of backgrounds) await b.stop();
      backgrounds.clear();
      await stop();
      if (ownState) rmSync(state, { recursive: true, force: true });
    },
  };
}

/** Polls fn until it returns a truthy value; throws the last error after timeoutMs. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = new Error("condition not met");
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw last;
    await sleep(intervalMs);
  }
}
