// `npm run killall`: for the local node of `npm start`, what k3s-killall.sh does for k3s. Ctrl-C
// leaves the pods running (the next start adopts them); this stops and removes every container
// of the node's containerd, the pods' sandboxes (network namespaces, UTS mounts, IPs), and the
// bridge and nftables table once no pod uses them. The cluster's objects stay: the next
// `npm start` runs the pods again.
//   node scripts/killall.ts [--state .kubeflare]
import { existsSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { cleanupNetwork } from "../agent/cleanup.ts";
import { startOwnContainerd } from "./containerd.ts";
import { killShims, processTree, removeAllContainers, unmountUnder } from "./node-cleanup.ts";
import { run } from "./run.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);

/** SIGTERM, up to 10 s to exit, then SIGKILL. */
async function stop(pids: number[]) {
  const signal = (s: NodeJS.Signals) => {
    for (const pid of pids.filter(alive))
      try {
        process.kill(pid, s);
      } catch {}
  };
  signal("SIGTERM");
  for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  signal("SIGKILL");
}

async function main() {
  let args: { state?: string };
  try {
    args = parseArgs({
      options: {
        state: { type: "string", default: process.env.KUBEFLARE_STATE ?? join(root, ".kubeflare") },
      },
    }).values;
  } catch (err) {
    fail(`${(err as Error).message}\nusage: npm run killall -- [--state DIR]`);
  }
  const state = resolve(args.state as string);
  const containerdDir = join(state, "containerd");
  const dataDir = join(state, "agent");
  if (!existsSync(containerdDir) && !existsSync(dataDir)) {
    console.log(`no local node under ${state}: nothing to stop`);
    return;
  }
  if (process.getuid?.() !== 0)
    fail("killall needs root (containers, network namespaces): sudo npm run killall");
  // A running agent would start the pods again at once.
  const agents = processTree(dataDir);
  if (agents.length)
    fail(`npm start is still running its node (agent pid ${agents[0]}): stop it with Ctrl-C first`);

  const address = join(containerdDir, "containerd.sock");
  const answers = () =>
    run("ctr", ["--address", address, "version"], { quiet: true }).then(
      () => true,
      () => false,
    );
  // containerd outlived npm start (a killed start) or is started here to remove the containers.
  if (!(await answers()))
    await startOwnContainerd(containerdDir, { logFile: join(state, "containerd.log") });
  const ctr = (cmd: string[], o: { namespace?: string } = {}) =>
    run("ctr", ["--address", address, ...(o.namespace ? ["-n", o.namespace] : []), ...cmd], {
      quiet: true,
    });
  const containers = await removeAllContainers(ctr);
  await stop(processTree(join(containerdDir, "containerd.toml")));
  killShims(address);
  const sandboxes = await cleanupNetwork(dataDir);
  await unmountUnder(dataDir);
  await unmountUnder(containerdDir);
  rmSync(join(dataDir, "sandboxes"), { recursive: true, force: true });
  console.log(
    `stopped and removed ${containers} container(s) and ${sandboxes} pod sandbox(es) of ${state}; ` +
      "the cluster's objects are kept, and the next npm start runs the pods again",
  );
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
