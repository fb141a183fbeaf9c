// The README quick start: `npm start` on a machine with containerd ends with a one-node cluster
// that runs pods, and Ctrl-C stops the control plane, the agent and containerd.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeNameOf } from "../../scripts/local-node.ts";
import { eventually, freePort, root, runKubectl } from "./cluster.ts";
import { startContainerd, writeRegistries } from "./host.ts";
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

beforeAll(async () => {
  registry = await startRegistry();
  await registry.push("v1");
  const registries = writeRegistries(join(state, "registries.yaml"), [registry.host]);
  const port = await freePort();
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
});

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
    const ip = await eventually(
      async () => {
        const out = await kubectl([
          "get",
          "pod",
          "web",
          "-o",
          "jsonpath={.status.phase} {.status.podIP}",
        ]);
        const [phase, podIP] = out.split(" ");
        return phase === "Running" && podIP;
      },
      60_000,
      500,
    ).catch(async (err) => {
      throw new Error(`${err}\n${await kubectl(["describe", "pod", "web"])}`);
    });
    const page = await eventually(async () => {
      const res = await fetch(`http://${ip}/`);
      return res.ok && (await res.text());
    }, 20_000);
    expect(page).toBe(indexPage("v1"));
  });

  it("Ctrl-C stops the control plane, the agent and containerd", async () => {
    process.kill(start.pid as number, "SIGINT");
    expect(await exited).toBe(0);
    await eventually(() => processesOfState().length === 0, 15_000).catch(() => {
      throw new Error(`still running:\n${processesOfState().join("\n")}`);
    });
  });
});
