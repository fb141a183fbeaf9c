// Pod sandboxes: a network namespace per pod wired by the CNI plugins, executed directly as
// libcni would (bridge kubeflare0 with host-local IPAM on the node's podCIDR, then portmap for
// hostPorts). ADD results are kept so DEL can hand each plugin its prevResult. Traffic leaving the
// podCIDR is masqueraded by one nftables rule per node, as flannel does, not by the bridge
// plugin's ipMasq: that costs a chain and about seven iptables runs per pod, serialised by the
// xtables lock, which a burst of pod starts queued behind.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exec, run } from "./exec.ts";

export const BRIDGE = "kubeflare0";
export const NETNS_PREFIX = "kubeflare-";
/** The agent's nftables table (DESIGN.md). */
export const NFT_TABLE = "kubeflare";
const CNI_VERSION = "0.4.0";
export const CNI_PATH = ["/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni"].join(":");

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
}

/** The nat chain the pods' masquerade (and its exceptions) live in, as `nft -f` adds it. */
export const POSTROUTING_CHAIN = `add table ip ${NFT_TABLE}
add chain ip ${NFT_TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }
`;

export const netnsName = (podUID: string) => `${NETNS_PREFIX}${podUID}`;
export const netnsPath = (podUID: string) => `/var/run/netns/${netnsName(podUID)}`;

/** The network list the agent writes to <dataDir>/cni/kubeflare.conflist. */
export function networkConfig(dataDir: string, podCIDR: string) {
  return {
    cniVersion: CNI_VERSION,
    name: "kubeflare",
    plugins: [
      {
        type: "bridge",
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: podCIDR }]],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir: join(dataDir, "cni", "networks"),
        },
      },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/**
 * Masquerades what pods of `podCIDR` send beyond it (the bridge plugin's ipMasq rule: not to
 * multicast). The rule's comment names the CIDR, so a restarted agent finds it and adds no second
 * one, and agents of other CIDRs sharing the host keep theirs.
 */
export async function ensureMasquerade(podCIDR: string): Promise<void> {
  const comment = `kubeflare pods ${podCIDR}`;
  await run("nft", ["-f", "-"], { input: POSTROUTING_CHAIN });
  const rules = await run("nft", ["list", "chain", "ip", NFT_TABLE, "postrouting"]);
  if (rules.includes(`comment "${comment}"`)) return;
  await run("nft", [
    "add",
    "rule",
    "ip",
    NFT_TABLE,
    "postrouting",
    ...["ip", "saddr", podCIDR, "ip", "daddr", "!=", podCIDR, "ip", "daddr", "!=", "224.0.0.0/4"],
    ...["masquerade", "comment", `"${comment}"`],
  ]);
}

export async function bridgeExists(): Promise<boolean> {
  return (await exec("ip", ["link", "show", BRIDGE])).code === 0;
}

/** Interfaces attached to the agent's bridge (the host ends of pod veths). */
export async function bridgePorts(): Promise<string[]> {
  if (!(await bridgeExists())) return [];
  return (await run("ip", ["-o", "link", "show", "master", BRIDGE]))
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => l.split(":")[1].trim().split("@")[0]);
}

/** The pods' gateway: the first address of the pod CIDR, which the bridge holds. */
export function gatewayOf(podCIDR: string): string {
  const [ip] = podCIDR.split("/");
  const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0) + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/**
 * The bridge with its gateway address, up, before any pod needs it: the DNS role listens on that
 * address. The bridge plugin finds both in place and keeps them.
 */
export async function ensureBridge(podCIDR: string): Promise<string> {
  const gateway = gatewayOf(podCIDR);
  if (!(await bridgeExists())) {
    const made = await exec("ip", ["link", "add", BRIDGE, "type", "bridge"]);
    // A pod's CNI ADD may have made it meanwhile.
    if (made.code !== 0 && !(await bridgeExists()))
      throw new Error(`ip link add ${BRIDGE}: ${made.stderr.trim()}`);
  }
  const prefix = podCIDR.split("/")[1];
  const ours = `${gateway}/${prefix}`;
  const addresses = (await run("ip", ["-4", "-o", "addr", "show", "dev", BRIDGE]))
    .split("\n")
    .map((l) => /\binet (\S+)/.exec(l)?.[1])
    .filter((a): a is string => !!a);
  // The gateway of an earlier pod CIDR (the host joined under another name) would make the
  // bridge plugin refuse every pod ("already has an IP address different from"): drop it, unless
  // pods still hang off the bridge.
  const stale = addresses.filter((a) => a !== ours);
  if (stale.length) {
    if ((await bridgePorts()).length)
      throw new Error(`${BRIDGE} has ${stale.join(", ")}, not ${ours}, and pods attached to it`);
    for (const a of stale) await run("ip", ["addr", "del", a, "dev", BRIDGE]);
  }
  if (!addresses.includes(ours)) {
    const added = await exec("ip", ["addr", "add", ours, "dev", BRIDGE]);
    if (added.code !== 0 && !/File exists/.test(added.stderr))
      throw new Error(`ip addr add ${ours}: ${added.stderr.trim()}`);
  }
  await run("ip", ["link", "set", BRIDGE, "up"]);
  return gateway;
}

export class Cni {
  private readonly dir: string;
  private readonly config: ReturnType<typeof networkConfig>;
  private readonly podCIDR: string;
  private masquerade?: Promise<void>;

  constructor(dataDir: string, podCIDR: string) {
    this.dir = join(dataDir, "cni");
    this.podCIDR = podCIDR;
    this.config = networkConfig(dataDir, podCIDR);
    mkdirSync(join(this.dir, "results"), { recursive: true });
    writeFileSync(
      join(this.dir, "kubeflare.conflist"),
      `${JSON.stringify(this.config, null, 2)}\n`,
    );
  }

  private resultFile(podUID: string) {
    return join(this.dir, "results", `${podUID}.json`);
  }

  private async plugin(
    command: "ADD" | "DEL",
    podUID: string,
    plugin: any,
    extra: Record<string, unknown>,
  ): Promise<any> {
    const netns = netnsPath(podUID);
    const input = JSON.stringify({
      cniVersion: CNI_VERSION,
      name: this.config.name,
      ...plugin,
      ...extra,
    });
    const bin = CNI_PATH.split(":")
      .map((d) => join(d, plugin.type))
      .find((p) => existsSync(p));
    if (!bin) throw new Error(`CNI plugin ${plugin.type} not found in ${CNI_PATH}`);
    const r = await exec(bin, [], {
      input,
      timeoutMs: 60_000,
      env: {
        PATH: process.env.PATH,
        CNI_COMMAND: command,
        CNI_CONTAINERID: podUID,
        CNI_NETNS: existsSync(netns) ? netns : "",
        CNI_IFNAME: "eth0",
        CNI_PATH,
      },
    });
    if (r.code !== 0) {
      let msg = r.stdout || r.stderr;
      try {
        const e = JSON.parse(r.stdout);
        msg = `${e.msg}${e.details ? `: ${e.details}` : ""}`;
      } catch {}
      throw new Error(`CNI ${plugin.type} ${command}: ${msg.trim()}`);
    }
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  }

  /** Creates the pod's netns and wires it; returns the pod IP. Idempotent. */
  async setUp(podUID: string, ports: PortMapping[]): Promise<string> {
    const saved = this.saved(podUID);
    if (saved && existsSync(netnsPath(podUID))) return saved.ip;
    // A sandbox whose netns vanished: release its address and wire a new one.
    if (saved) await this.tearDown(podUID).catch(() => {});
    // Once per agent; a failure is tried again with the next pod.
    this.masquerade ??= ensureMasquerade(this.podCIDR).catch((err) => {
      this.masquerade = undefined;
      throw err;
    });
    await this.masquerade;
    if (!existsSync(netnsPath(podUID))) await run("ip", ["netns", "add", netnsName(podUID)]);
    await run("ip", ["-n", netnsName(podUID), "link", "set", "lo", "up"]);
    try {
      let result: any;
      const used: string[] = [];
      for (const p of this.config.plugins) {
        const extra: Record<string, unknown> = {};
        if (p.type === "portmap") {
          if (!ports.length) continue;
          extra.runtimeConfig = { portMappings: ports };
        }
        if (result) extra.prevResult = result;
        result = (await this.plugin("ADD", podUID, p, extra)) ?? result;
        used.push(p.type);
      }
      const ip = String(result?.ips?.[0]?.address ?? "").split("/")[0];
      if (!ip) throw new Error("CNI returned no IP address");
      writeFileSync(
        this.resultFile(podUID),
        JSON.stringify({ ip, ports, used, result, nftMasquerade: true }),
      );
      return ip;
    } catch (err) {
      await this.tearDown(podUID).catch(() => {});
      throw err;
    }
  }

  private saved(
    podUID: string,
  ):
    | { ip: string; ports: PortMapping[]; used: string[]; result: any; nftMasquerade?: boolean }
    | undefined {
    try {
      return JSON.parse(readFileSync(this.resultFile(podUID), "utf8"));
    } catch {
      return undefined;
    }
  }

  /** The IP a pod got, if its sandbox exists. */
  ip(podUID: string): string | undefined {
    return existsSync(netnsPath(podUID)) ? this.saved(podUID)?.ip : undefined;
  }

  /** CNI DEL (releases the IP, removes veth and port maps), then deletes the netns. */
  async tearDown(podUID: string): Promise<void> {
    const saved = this.saved(podUID);
    const used = saved?.used ?? ["bridge"];
    const errors: string[] = [];
    for (const p of [...this.config.plugins].reverse()) {
      if (!used.includes(p.type)) continue;
      const extra: Record<string, unknown> = {};
      if (p.type === "portmap") extra.runtimeConfig = { portMappings: saved?.ports ?? [] };
      // Wired by an older agent, whose bridge plugin added the pod's masquerade chain itself.
      if (p.type === "bridge" && saved && !saved.nftMasquerade) extra.ipMasq = true;
      if (saved?.result) extra.prevResult = saved.result;
      try {
        await this.plugin("DEL", podUID, p, extra);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (existsSync(netnsPath(podUID))) await exec("ip", ["netns", "delete", netnsName(podUID)]);
    if (errors.length) throw new Error(errors.join("; "));
    rmSync(this.resultFile(podUID), { force: true });
  }

  /**
   * Pod UIDs this agent wired (its saved results). Network namespaces alone do not count: another
   * agent on the same host (another data dir) may own them.
   */
  sandboxes(): string[] {
    try {
      return readdirSync(join(this.dir, "results"))
        .filter((f) => f.endsWith(".json"))
        .map((f) => f.slice(0, -5));
    } catch {
      return [];
    }
  }
}
