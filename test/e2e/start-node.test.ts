// The README quick start: `npm start` on a machine with containerd ends with a one-node cluster
// that runs pods, and Ctrl-C stops the control plane, the agent and containerd; `npm run killall`
// then removes the pods it left running, and the next start runs them again.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { netnsPath } from "../../agent/cni.ts";
import { nodeNameOf } from "../../scripts/local-node.ts";
import { processTree } from "../../scripts/node-cleanup.ts";
import { CommandError, run } from "../../scripts/run.ts";
import { eventually, freePort, root, runKubectl } from "./cluster.ts";
import {
  agentNftTables,
  bridgeExists,
  mountsUnder,
  startContainerd,
  writeRegistries,
} from "./host.ts";
import { indexPage, type Registry, startRegistry } from "./image.ts";

const state = mkdtempSync(join(tmpdir(), "kubeflare-start-"));
const kubeconfig = join(state, "kubeconfig");
let registry: Registry;
let start: ChildProcess;
let output = "";
let exited: Promise<number | null>;

const kubectl = async (args: string[]) => {
  const r = await runKubectl(kubeconfig, args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

const cmdline = (pid: string) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
const parentOf = (pid: string) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
};

/**
 * Processes whose command line mentions the state dir: containerd, the agent, wrangler. The
 * containers' shims and what they run (log pipes) stay, by design.
 */
function processesOfState(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = cmdline(pid);
      const shim = (c: string) => c.startsWith("/usr/bin/containerd-shim");
      if (cmd.includes(state) && !shim(cmd) && !shim(cmdline(parentOf(pid))))
        found.push(`${pid} ${cmd}`);
    } catch {}
  }
  return found;
}

let port: number;
let webUID = "";

/** `npm start` on the test's state dir; resolves once its node is Ready. */
async function npmStart() {
  output = "";
  const registries = join(state, "registries.yaml");
  start = spawn(
    join(root, "node_modules/.bin/node"),
    [
      join(root, "scripts/start.ts"),
      ...["--port", String(port), "--state", state, "--registries", registries],
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  start.stdout?.on("data", (d) => {
    output += d;
  });
  start.stderr?.on("data", (d) => {
    output += d;
  });
  exited = new Promise((r) => start.on("exit", (code) => r(code)));
  await eventually(() => /is Ready: this machine runs/.test(output), 170_000, 500).catch(() => {
    throw new Error(`npm start did not bring up its node:\n${output}`);
  });
}

beforeAll(async () => {
  registry = await startRegistry();
  await registry.push("v1");
  writeRegistries(join(state, "registries.yaml"), [registry.host]);
  port = await freePort();
  await npmStart();
});

/** `npm run killall` on the test's state dir: its exit code and output. */
async function killall(): Promise<{ code: number; out: string }> {
  try {
    const out = await run(
      join(root, "node_modules/.bin/node"),
      [join(root, "scripts/killall.ts"), "--state", state],
      { cwd: root, quiet: true },
    );
    return { code: 0, out };
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    return { code: err.code ?? 1, out: err.message };
  }
}

/**
 * The web pod's uid and page once it runs and answers at the IP its status shows (read again
 * each time: a pod whose sandbox was made anew may report a new address).
 */
async function webAnswers(): Promise<{ uid: string; page: string }> {
  let last = "";
  return eventually(
    async () => {
      last = await kubectl([
        "get",
        "pod",
        "web",
        "-o",
        "jsonpath={.metadata.uid} {.status.phase} {.status.podIP}",
      ]);
      const [uid, phase, ip] = last.split(" ");
      if (phase !== "Running" || !ip) return undefined;
      try {
        const res = await fetch(`http://${ip}/`, { signal: AbortSignal.timeout(2000) });
        return res.ok && { uid, page: await res.text() };
      } catch {
        return undefined;
      }
    },
    80_000,
    500,
  ).catch(async (err) => {
    throw new Error(`${err} (last: ${last})\n${await kubectl(["describe", "pod", "web"])}`);
  });
}

afterAll(async () => {
  if (start && start.exitCode === null) {
    process.kill(-(start.pid as number), "SIGKILL");
  }
  // Containers outlive npm start by design; a containerd on the same state removes them.
  const containerd = await startContainerd({
    dir: join(state, "containerd"),
    agentDataDir: join(state, "agent"),
  });
  await containerd.stop();
  await registry?.stop();
  rmSync(state, { recursive: true, force: true });
});

describe("npm start with containerd present", () => {
  it("joins this host as a Ready node", async () => {
    const name = nodeNameOf(hostname());
    expect(output).toContain(`node ${name} is Ready`);
    const ready = await kubectl([
      "get",
      "node",
      name,
      "-o",
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    ]);
    expect(ready).toBe("True");
  });

  it("runs a pod whose IP answers HTTP from the host", async () => {
    await kubectl(["run", "web", `--image=${registry.ref("v1")}`, "--port=80"]);
    const web = await webAnswers();
    expect(web.page).toBe(indexPage("v1"));
    webUID = web.uid;
  });

  it("npm run killall refuses while npm start runs its node", async () => {
    const r = await killall();
    expect(r.code).toBe(1);
    expect(r.out).toContain("npm start is still running its node");
    expect((await webAnswers()).page).toBe(indexPage("v1"));
  });

  it("Ctrl-C stops the control plane, the agent and containerd", async () => {
    process.kill(start.pid as number, "SIGINT");
    expect(await exited).toBe(0);
    await eventually(() => processesOfState().length === 0, 15_000).catch(() => {
      throw new Error(`still running:\n${processesOfState().join("\n")}`);
    });
  });

  it("then npm run killall removes the pod it left running; the next start runs it again", async () => {
    const uid = webUID;
    expect(existsSync(netnsPath(uid))).toBe(true);
    const r = await killall();
    expect(r).toMatchObject({ code: 0 });
    expect(r.out).toContain("removed 1 container(s) and 1 pod sandbox(es)");
    expect(existsSync(netnsPath(uid))).toBe(false);
    expect(mountsUnder(state)).toEqual([]);
    // Nor the shims and the containers' processes.
    expect(processTree(join(state, "containerd/containerd.sock"))).toEqual([]);
    expect(processesOfState()).toEqual([]);
    expect(await bridgeExists()).toBe(false);
    expect(await agentNftTables()).toEqual([]);
    // The pod's address went back to the node's pool.
    const ipam = join(state, "agent/cni/networks/kubeflare");
    const held = existsSync(ipam) ? readdirSync(ipam).filter((f) => /^\d+\./.test(f)) : [];
    expect(held).toEqual([]);

    await npmStart();
    const again = await webAnswers();
    expect(again).toEqual({ uid, page: indexPage("v1") });
  });
});
