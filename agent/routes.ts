// The pod network between hosts, as flannel's host-gw backend makes it: for every other node, a
// route to its pod CIDR through the next hop that reaches that node's InternalIP (the node itself
// on a shared link). Hosts on one link, or behind routers that know the pod CIDRs, can then reach
// each other's pods; across other routers it would take an overlay, which this does not do.
// The routes carry their own protocol number, so the agent (and killall) finds exactly its own.
// Traffic between pods keeps its addresses (no masquerade to peers' pod CIDRs).
import { isIPv4 } from "node:net";
import { type Api, informer } from "./api.ts";
import { NFT_TABLE, POSTROUTING_CHAIN } from "./cni.ts";
import { exec, run } from "./exec.ts";

/** `ip route … proto 75`: routes this agent owns. */
export const ROUTE_PROTO = "75";

export interface PeerRoute {
  podCIDR: string;
  nodeIP: string;
}

/** Other nodes' pod CIDRs and InternalIPs, from Node objects. */
export function peersOf(nodes: any[], self: string): PeerRoute[] {
  const out: PeerRoute[] = [];
  for (const n of nodes) {
    if (n.metadata?.name === self) continue;
    const podCIDR = n.spec?.podCIDR;
    const nodeIP = (n.status?.addresses ?? []).find((a: any) => a.type === "InternalIP")?.address;
    if (typeof podCIDR === "string" && typeof nodeIP === "string" && isIPv4(nodeIP))
      out.push({ podCIDR, nodeIP });
  }
  return out.sort((a, b) => a.podCIDR.localeCompare(b.podCIDR));
}

/** `ip route get` of an address: the gateway (if not on-link) and the device. */
async function nextHop(ip: string): Promise<{ via: string; dev: string } | undefined> {
  const r = await exec("ip", ["-j", "route", "get", ip]);
  if (r.code !== 0) return undefined;
  const [route] = JSON.parse(r.stdout) as { gateway?: string; dev?: string; type?: string }[];
  if (!route?.dev || route.type === "local") return undefined;
  return { via: route.gateway ?? ip, dev: route.dev };
}

/** Makes the agent's routes exactly these peers'; returns what it could not route. */
export async function syncRoutes(peers: PeerRoute[]): Promise<string[]> {
  const unroutable: string[] = [];
  const wanted = new Set<string>();
  for (const p of peers) {
    const hop = await nextHop(p.nodeIP);
    if (!hop) {
      unroutable.push(`${p.podCIDR} (node ${p.nodeIP})`);
      continue;
    }
    wanted.add(p.podCIDR);
    await run("ip", [
      "route",
      "replace",
      p.podCIDR,
      "via",
      hop.via,
      "dev",
      hop.dev,
      "proto",
      ROUTE_PROTO,
    ]);
  }
  const current = JSON.parse(await run("ip", ["-j", "route", "show", "proto", ROUTE_PROTO])) as {
    dst: string;
  }[];
  for (const r of current)
    if (!wanted.has(r.dst)) await run("ip", ["route", "del", r.dst, "proto", ROUTE_PROTO]);
  return unroutable;
}

/**
 * Pods reach other hosts' pods with their own addresses, as Kubernetes' network model asks: the
 * set `peer-pods` holds the routed CIDRs, and a rule ahead of the pods' masquerade lets traffic to
 * them go out unchanged.
 */
export async function syncPeerSet(cidrs: string[]): Promise<void> {
  const t = `ip ${NFT_TABLE}`;
  const elements = cidrs.length ? `add element ${t} peer-pods { ${cidrs.join(", ")} }\n` : "";
  await run("nft", ["-f", "-"], {
    input: `${POSTROUTING_CHAIN}add set ${t} peer-pods { type ipv4_addr; flags interval; }
flush set ${t} peer-pods
${elements}`,
  });
  const rules = await run("nft", ["list", "chain", "ip", NFT_TABLE, "postrouting"]);
  if (!rules.includes("@peer-pods"))
    await run("nft", [
      "insert",
      "rule",
      "ip",
      NFT_TABLE,
      "postrouting",
      "ip",
      "daddr",
      "@peer-pods",
      "accept",
    ]);
}

/** Removes every route the agent made (killall). */
export async function flushRoutes(): Promise<void> {
  await exec("ip", ["route", "flush", "proto", ROUTE_PROTO]);
}

/** Keeps the routes to the other nodes' pod CIDRs as the Node objects say. */
export class PeerRoutes {
  private readonly nodes = new Map<string, any>();
  private applied = "";
  private timer?: NodeJS.Timeout;
  private running = false;
  private informer?: { stop(): void };
  private readonly api: Api;
  private readonly self: string;
  private readonly log: (msg: string) => void;

  constructor(api: Api, self: string, log: (msg: string) => void) {
    this.api = api;
    this.self = self;
    this.log = log;
  }

  start(): void {
    this.informer = informer(this.api, "/api/v1/nodes", {
      onList: (items) => {
        this.nodes.clear();
        for (const n of items) this.nodes.set(n.metadata.name, n);
        this.schedule(0);
      },
      onEvent: (type, n) => {
        if (type === "DELETED") this.nodes.delete(n.metadata.name);
        else this.nodes.set(n.metadata.name, n);
        this.schedule(200);
      },
    });
  }

  stop(): void {
    this.informer?.stop();
    clearTimeout(this.timer);
  }

  private schedule(delay: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, delay);
  }

  private async sync(): Promise<void> {
    const peers = peersOf([...this.nodes.values()], this.self);
    // Heartbeats change Nodes every few seconds; the routes only when a CIDR or address does.
    const key = JSON.stringify(peers);
    if (key === this.applied || this.running) return;
    this.running = true;
    try {
      const unroutable = await syncRoutes(peers);
      await syncPeerSet(peers.map((p) => p.podCIDR));
      if (unroutable.length) this.log(`routes: no way to ${unroutable.join(", ")}`);
      this.applied = key;
    } catch (err) {
      this.log(`routes: ${(err as Error).message}`);
      this.schedule(5000);
    } finally {
      this.running = false;
    }
  }
}
