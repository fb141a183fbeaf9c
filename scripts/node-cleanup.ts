// Tearing down what a host's agent and its containerd leave running: every container and task,
// the shims, the pods' sandboxes (CNI DEL, network namespaces, UTS mounts), and the bridge and
// nftables table once no pod of any agent uses them. `npm run killall` and the end-to-end
// tests' cleanup share it.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BRIDGE, Cni, NETNS_PREFIX, NFT_TABLE, netnsName, netnsPath } from "../agent/cni.ts";
import { tearDownSandbox } from "../agent/sandbox.ts";
import { CommandError, run } from "./run.ts";

const CNI_CONFLIST = "kubeflare.conflist";

const lines = (s: string) => s.split("\n").filter((l) => l.trim());

/**
 * Kills and deletes every task, then deletes every container (and its snapshot); returns how many
 * containers there were.
 */
export async function removeAllContainers(
  ctr: (args: string[], o?: { namespace?: string }) => Promise<string>,
): Promise<number> {
  let count = 0;
  const quiet = async (args: string[], namespace: string) => {
    try {
      await ctr(args, { namespace });
    } catch {}
  };
  for (const namespace of lines(await ctr(["namespaces", "ls", "-q"]))) {
    for (const id of lines(await ctr(["tasks", "ls", "-q"], { namespace }))) {
      await quiet(["tasks", "kill", "-a", "-s", "SIGKILL", id], namespace);
      await quiet(["tasks", "delete", "-f", id], namespace);
    }
    for (const id of lines(await ctr(["containers", "ls", "-q"], { namespace }))) {
      await quiet(["containers", "delete", id], namespace);
      count++;
    }
  }
  return count;
}

/** Processes with `needle` as one of their arguments, with all their descendants. */
export function processTree(needle: string): number[] {
  const parent = new Map<number, number>();
  const roots: number[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(needle))
        roots.push(pid);
    } catch {}
  }
  const tree = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** Shims outlive containerd by design; those of this containerd (and what they run) go. */
export function killShims(address: string) {
  for (const pid of processTree(address)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const unoctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return lines(readFileSync("/proc/self/mountinfo", "utf8"))
    .map((l) => unoctal(l.split(" ")[4]))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string) {
  for (let i = 0; i < 5; i++) {
    const mounts = mountsUnder(dir);
    if (!mounts.length) return;
    for (const m of mounts) {
      try {
        await run("umount", ["-l", m], { quiet: true });
      } catch {}
    }
  }
  // Removing the dir with a mount still in place would delete what the mount shows.
  throw new Error(`still mounted under ${dir}: ${mountsUnder(dir).join(", ")}`);
}

/** Network namespaces the agent made (`ip netns` names with NETNS_PREFIX). */
export async function agentNetns(): Promise<string[]> {
  return lines(await run("ip", ["netns", "list"], { quiet: true }))
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

/** nftables tables named NFT_TABLE, as `<family> <name>`. */
export async function agentNftTables(): Promise<string[]> {
  return lines(await run("nft", ["list", "tables"], { quiet: true }))
    .map((l) => l.replace(/^table /, ""))
    .filter((t) => t.split(" ")[1] === NFT_TABLE);
}

export async function bridgeExists(): Promise<boolean> {
  try {
    await run("ip", ["link", "show", BRIDGE], { quiet: true });
    return true;
  } catch (err) {
    if (err instanceof CommandError) return false;
    throw err;
  }
}

/** Interfaces attached to the agent's bridge (the host ends of pod veths). */
export async function bridgePorts(): Promise<string[]> {
  if (!(await bridgeExists())) return [];
  return lines(await run("ip", ["-o", "link", "show", "master", BRIDGE], { quiet: true })).map(
    (l) => l.split(":")[1].trim().split("@")[0],
  );
}

/** The pod CIDR of the network the agent wrote into `dataDir` (undefined if none). */
function podCidrOf(dataDir: string): string | undefined {
  try {
    const conf = JSON.parse(readFileSync(join(dataDir, "cni", CNI_CONFLIST), "utf8"));
    return conf.plugins[0].ipam.ranges[0][0].subnet;
  } catch {
    return undefined;
  }
}

/**
 * Tears down the pod sandboxes the agent with this data dir left, through the agent's own code
 * (the UTS mount; CNI DEL: IP release, veth, port-map rules; the netns; the sandbox dir). Then,
 * when no pod of any agent is attached to the bridge any more, deletes the bridge and the
 * nftables table. Other agents' sandboxes on this machine are left alone. Returns how many
 * sandboxes it tore down.
 */
export async function cleanupNetwork(dataDir: string): Promise<number> {
  const podCIDR = podCidrOf(dataDir);
  const ours = podCIDR ? new Cni(dataDir, podCIDR) : undefined;
  const uids = ours?.sandboxes() ?? [];
  for (const uid of uids) {
    await tearDownSandbox(uid, dataDir, ours as Cni).catch(() => {});
    if (existsSync(netnsPath(uid))) await run("ip", ["netns", "delete", netnsName(uid)]);
  }
  if ((await bridgePorts()).length) return uids.length;
  if (await bridgeExists()) await run("ip", ["link", "delete", BRIDGE], { quiet: true });
  for (const t of await agentNftTables())
    await run("nft", ["delete", "table", ...t.split(" ")], { quiet: true });
  return uids.length;
}
