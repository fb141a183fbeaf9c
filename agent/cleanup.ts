// What `kubeflare-agent killall` removes from a host, as k3s-killall.sh does for k3s: the pods'
// containers in the agent's containerd namespace (other namespaces of a shared containerd are not
// ours), their sandboxes, and the bridge and nftables table once no pod of any agent uses them.
// The control plane keeps the pods: a started agent runs them again.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BRIDGE,
  bridgeExists,
  bridgePorts,
  Cni,
  NETNS_PREFIX,
  NFT_TABLE,
  netnsName,
  netnsPath,
} from "./cni.ts";
import type { Containerd } from "./containerd.ts";
import { run } from "./exec.ts";
import { flushRoutes } from "./routes.ts";
import { tearDownSandbox } from "./sandbox.ts";

const CNI_CONFLIST = "kubeflare.conflist";

const lines = (s: string) => s.split("\n").filter((l) => l.trim());

/**
 * Kills and deletes the tasks, then deletes the containers (and their snapshots) of one
 * containerd namespace, through `ctr` (its arguments after the namespace); returns how many
 * containers there were. A task or container already gone is no failure.
 */
export async function removeContainers(ctr: (args: string[]) => Promise<string>): Promise<number> {
  const quiet = (args: string[]) => ctr(args).catch(() => "");
  for (const id of lines(await ctr(["tasks", "ls", "-q"]))) {
    await quiet(["tasks", "kill", "-a", "-s", "SIGKILL", id]);
    await quiet(["tasks", "delete", "-f", id]);
  }
  const ids = lines(await ctr(["containers", "ls", "-q"]));
  for (const id of ids) await quiet(["containers", "delete", id]);
  return ids.length;
}

/** Everything killall removes; returns what it counted. */
export async function killall(
  containerd: Containerd,
  dataDir: string,
): Promise<{ containers: number; sandboxes: number }> {
  // The agent's own namespace only: a host's containerd may run other things.
  const containers = await removeContainers((args) => containerd.ctrOk(args));
  const sandboxes = await cleanupNetwork(dataDir);
  return { containers, sandboxes };
}

/** Network namespaces the agent made (`ip netns` names with NETNS_PREFIX). */
export async function agentNetns(): Promise<string[]> {
  return lines(await run("ip", ["netns", "list"]))
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

/** nftables tables named NFT_TABLE, as `<family> <name>`. */
export async function agentNftTables(): Promise<string[]> {
  return lines(await run("nft", ["list", "tables"]))
    .map((l) => l.replace(/^table /, ""))
    .filter((t) => t.split(" ")[1] === NFT_TABLE);
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
 * when no pod of any agent is attached to the bridge any more, deletes the bridge, the routes to
 * other hosts' pods and the nftables table. Other agents' sandboxes on this machine are left alone. Returns how many
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
  if (await bridgeExists()) await run("ip", ["link", "delete", BRIDGE]);
  await flushRoutes();
  for (const t of await agentNftTables()) await run("nft", ["delete", "table", ...t.split(" ")]);
  return uids.length;
}
