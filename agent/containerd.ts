// containerd through its CLI `ctr`, in the agent's own containerd namespace.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { readFile, readlink } from "node:fs/promises";
import { createInterface } from "node:readline";
import { type ExecResult, exec, run } from "./exec.ts";
import { reachable } from "./reachable.ts";

export const NAMESPACE = "kubeflare";

export interface TaskInfo {
  pid: number;
  status: string; // RUNNING, STOPPED, CREATED, PAUSED
}

export interface ExitEvent {
  containerId: string;
  exitStatus: number;
  exitedAt: string;
}

export class Containerd {
  readonly address: string;

  constructor(address: string) {
    this.address = address;
  }

  private base() {
    return ["--address", this.address, "--namespace", NAMESPACE];
  }

  ctr(args: string[], timeoutMs = 120_000): Promise<ExecResult> {
    return exec("ctr", [...this.base(), ...args], { timeoutMs });
  }

  ctrOk(args: string[], timeoutMs = 120_000): Promise<string> {
    return run("ctr", [...this.base(), ...args], { timeoutMs });
  }

  /** Whether containerd accepts connections on its socket (no process spawned). */
  ping(timeoutMs = 2000): Promise<boolean> {
    return reachable(this.address, timeoutMs);
  }

  /** e.g. "containerd://1.6.20". */
  async version(): Promise<string> {
    const r = await this.ctr(["version"], 30_000);
    if (r.code !== 0) throw new Error(r.stderr.trim().split("\n").pop() || `ctr exited ${r.code}`);
    const out = r.stdout;
    const server = out.slice(out.indexOf("Server:"));
    const m = /Version:\s*v?(\S+)/.exec(server);
    return `containerd://${m ? m[1] : "unknown"}`;
  }

  /** Image name → manifest/index digest, for the images present. */
  async images(): Promise<Map<string, string>> {
    const out = await this.ctrOk(["images", "ls"]);
    const m = new Map<string, string>();
    for (const line of out.split("\n").slice(1)) {
      const [ref, , digest] = line.split(/\s+/);
      if (ref && digest?.startsWith("sha256:")) m.set(ref, digest);
    }
    return m;
  }

  /** Every container id with its labels. */
  async containers(): Promise<Map<string, Record<string, string>>> {
    const ids = (await this.ctrOk(["containers", "ls", "-q"])).split("\n").filter(Boolean);
    const m = new Map<string, Record<string, string>>();
    for (const id of ids) {
      const info = await this.ctr(["containers", "info", id]);
      if (info.code !== 0) continue;
      try {
        m.set(id, JSON.parse(info.stdout).Labels ?? {});
      } catch {
        m.set(id, {});
      }
    }
    return m;
  }

  async tasks(): Promise<Map<string, TaskInfo>> {
    const out = await this.ctrOk(["tasks", "ls"]);
    const m = new Map<string, TaskInfo>();
    for (const line of out.split("\n").slice(1)) {
      const [id, pid, status] = line.trim().split(/\s+/);
      if (id) m.set(id, { pid: Number(pid), status });
    }
    return m;
  }

  /** Sends a signal to the task's init process; false when there is no running task. */
  async kill(id: string, signal: string): Promise<boolean> {
    return (await this.ctr(["tasks", "kill", "--signal", signal, id])).code === 0;
  }

  /**
   * Deletes the (stopped) task; returns its exit code (ctr warns "exit with non-zero exit code
   * N"), or undefined when there was no task to delete.
   */
  async deleteTask(id: string, force = false): Promise<number | undefined> {
    const r = await this.ctr(["tasks", "delete", ...(force ? ["--force"] : []), id]);
    if (r.code !== 0) return undefined;
    const m = /non-zero exit code (\d+)/.exec(r.stderr);
    return m ? Number(m[1]) : 0;
  }

  /** Removes a container and its task, whatever state it is in. */
  async remove(id: string): Promise<void> {
    await this.ctr(["tasks", "kill", "--signal", "SIGKILL", id]);
    await this.ctr(["tasks", "delete", "--force", id]);
    await this.ctr(["containers", "delete", id]);
  }

  /** Runs `cmd` inside the container; resolves with its exit code and output. */
  execIn(id: string, execId: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    return this.ctr(["tasks", "exec", "--exec-id", execId, id, ...cmd], timeoutMs);
  }

  /**
   * A command in the container with its stdio piped (`kubectl exec`). With a terminal, `script`
   * gives ctr the pseudo-terminal `--tty` needs; its output is then the terminal's.
   */
  spawnExec(id: string, cmd: string[], tty: boolean): ChildProcessWithoutNullStreams {
    const execId = `exec-${Math.random().toString(36).slice(2, 10)}`;
    const args = [...this.base(), "tasks", "exec", "--exec-id", execId];
    if (!tty) return spawn("ctr", [...args, id, ...cmd]);
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    // ctr's own complaints (a resize after the process ended) stay off the terminal.
    const line = `${["ctr", ...args, "--tty", id, ...cmd].map(quote).join(" ")} 2>/dev/null`;
    return spawn("script", ["-qfec", line, "/dev/null"]);
  }

  /**
   * Sets the terminal size of a `spawnExec(…, true)` command: stty on the pseudo-terminal
   * `script` made; ctr passes the change (SIGWINCH) on to the process in the container. The
   * first size may come before `script` has started ctr: it waits a little for the terminal.
   */
  async resizeExec(pid: number, size: { width: number; height: number }): Promise<void> {
    for (let waited = 0; waited <= 2_000; waited += 25) {
      const pty = await terminalOfChild(pid);
      if (pty) {
        await run("stty", ["-F", pty, "rows", String(size.height), "cols", String(size.width)]);
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The image's config (Entrypoint, Cmd, Env, WorkingDir), read from the content store. */
  async imageConfig(ref: string): Promise<any> {
    const digest = (await this.images()).get(ref);
    if (!digest) throw new Error(`image ${ref} not present`);
    let doc = JSON.parse(await this.ctrOk(["content", "get", digest]));
    if (doc.manifests) {
      const arch = process.arch === "x64" ? "amd64" : process.arch;
      const m =
        doc.manifests.find(
          (x: any) => x.platform?.os === "linux" && x.platform?.architecture === arch,
        ) ?? doc.manifests[0];
      doc = JSON.parse(await this.ctrOk(["content", "get", m.digest]));
    }
    const config = JSON.parse(await this.ctrOk(["content", "get", doc.config.digest]));
    return config.config ?? {};
  }

  /**
   * Streams task exits from `ctr events`; restarts the stream if it ends. Returns a stop
   * function.
   */
  onExit(fn: (ev: ExitEvent) => void, log: (msg: string) => void): () => void {
    let stopped = false;
    let child: ReturnType<typeof spawn> | undefined;
    const start = () => {
      child = spawn("ctr", ["--address", this.address, "events"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.on("line", (line) => {
        // "2026-11-22 04:35:01.44 +0000 UTC <namespace> /tasks/exit {json}"
        const m = / (\S+) \/tasks\/exit (\{.*\})$/.exec(line);
        if (!m || m[1] !== NAMESPACE) return;
        try {
          const ev = JSON.parse(m[2]);
          // The init process's exit (id equals the container id); exec exits are not ours.
          if (ev.id && ev.id !== ev.container_id) return;
          fn({
            containerId: ev.container_id,
            exitStatus: ev.exit_status ?? 0,
            exitedAt: ev.exited_at ?? new Date().toISOString(),
          });
        } catch {}
      });
      child.on("exit", () => {
        if (stopped) return;
        log("ctr events ended; restarting it");
        setTimeout(start, 1000);
      });
    };
    start();
    return () => {
      stopped = true;
      child?.kill();
    };
  }
}

/** The pseudo-terminal a child of `pid` has as its stdin (script(1)'s), if one has started. */
async function terminalOfChild(pid: number): Promise<string | undefined> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  for (const child of children.split(" ").filter(Boolean)) {
    const stdin = await readlink(`/proc/${child}/fd/0`).catch(() => "");
    if (stdin.startsWith("/dev/pts/")) return stdin;
  }
  return undefined;
}
