// The proxy role (kube-proxy in nftables mode, reduced): Services and EndpointSlices, watched
// through the API (service-watch.ts), become DNAT rules in the agent's nftables table. A connection to a ClusterIP
// port, or to a NodePort on any of the host's addresses, goes to one ready endpoint picked at
// random; a port without ready endpoints is rejected. The rules are rewritten whole in one
// `nft -f` transaction, so a reader never sees half of them.
// Not done: sessionAffinity, externalTrafficPolicy/internalTrafficPolicy Local, externalIPs,
// LoadBalancer ingress IPs; only IPv4.
import { isIPv4 } from "node:net";
import { NFT_TABLE } from "./cni.ts";
import { run } from "./exec.ts";
import type { ServiceWatcher, WatchedKind } from "./service-watch.ts";

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
const T = `ip ${NFT_TABLE}`;

/** Chains of the proxy in the agent's table: hooks first, then what they jump to. */
const HOOKS: [string, string][] = [
  // nft 1.0 knows "dstnat" for prerouting only: -100 is its value.
  ["proxy-prerouting", "type nat hook prerouting priority dstnat; policy accept;"],
  // nft 1.0 accepts the name "dstnat" in prerouting only; -100 is its value.
  ["proxy-output", "type nat hook output priority -100; policy accept;"],
  ["proxy-postrouting", "type nat hook postrouting priority srcnat; policy accept;"],
  ["proxy-forward", "type filter hook forward priority filter; policy accept;"],
  ["proxy-local", "type filter hook output priority filter; policy accept;"],
  ["proxy-input", "type filter hook input priority filter; policy accept;"],
];
const CHAINS = ["proxy-services", "proxy-nodeports", "proxy-reject"];

/** The cluster DNS Service's address, answered by the DNS role at `target` (port 53). */
export interface ClusterDns {
  ip: string;
  target: string;
}

const keyOf = (o: any) => `${o.metadata.namespace}/${o.metadata.name}`;

const isIPv4Address = (ip: unknown): ip is string => typeof ip === "string" && isIPv4(ip);

interface Port {
  name: string;
  protocol: string;
  port: number;
  nodePort?: number;
}

/** Ready endpoint "ip . port" pairs of a service port, from the service's EndpointSlices. */
function endpointsOf(svc: any, port: Port, slices: any[]): string[] {
  const out = new Set<string>();
  for (const s of slices) {
    if (s.metadata?.namespace !== svc.metadata.namespace) continue;
    if (s.metadata?.labels?.[SERVICE_NAME_LABEL] !== svc.metadata.name) continue;
    if (s.addressType && s.addressType !== "IPv4") continue;
    const p = (s.ports ?? []).find(
      (x: any) => (x.name ?? "") === port.name && (x.protocol ?? "TCP") === port.protocol,
    );
    if (!p?.port) continue;
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      const ip = e.addresses?.[0];
      if (isIPv4Address(ip)) out.add(`${ip} . ${p.port}`);
    }
  }
  return [...out].sort();
}

const dnat = (targets: string[]) =>
  `dnat to numgen random mod ${targets.length} map { ${targets.map((t, i) => `${i} : ${t}`).join(", ")} }`;

/** The nft script that makes the proxy's chains say exactly what these objects say. */
export function renderProxyRules(
  services: any[],
  slices: any[],
  podCIDR?: string,
  clusterDns?: ClusterDns,
): string {
  const lines = [`add table ${T}`];
  for (const [chain, spec] of HOOKS) lines.push(`add chain ${T} ${chain} { ${spec} }`);
  for (const chain of CHAINS) lines.push(`add chain ${T} ${chain}`);
  for (const chain of [...HOOKS.map(([c]) => c), ...CHAINS])
    lines.push(`flush chain ${T} ${chain}`);
  const rule = (chain: string, r: string) => lines.push(`add rule ${T} ${chain} ${r}`);
  rule("proxy-prerouting", "jump proxy-services");
  rule("proxy-output", "jump proxy-services");
  for (const chain of ["proxy-forward", "proxy-local", "proxy-input"])
    rule(chain, "jump proxy-reject");
  // A pod reaching itself through its Service would see its own address answer: masquerade.
  if (podCIDR)
    rule("proxy-postrouting", `ct status dnat ip saddr ${podCIDR} ip daddr ${podCIDR} masquerade`);

  const sorted = [...services].sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
      `${b.metadata.namespace}/${b.metadata.name}`,
    ),
  );
  const nodePorts: string[] = [];
  // The DNS role forwards any name: it answers this host's pods and the host, not the network.
  if (clusterDns && podCIDR)
    rule(
      "proxy-input",
      `ip daddr ${clusterDns.target} meta l4proto { tcp, udp } th dport 53 ip saddr != ${podCIDR} fib saddr type != local drop comment "cluster DNS: pods and this host only"`,
    );
  // Every host answers the cluster DNS address itself, whatever the kube-dns Service holds.
  if (clusterDns)
    for (const proto of ["udp", "tcp"])
      rule(
        "proxy-services",
        `ip daddr ${clusterDns.ip} ${proto} dport 53 dnat to ${clusterDns.target}:53 comment "cluster DNS"`,
      );
  for (const svc of sorted) {
    const spec = svc.spec ?? {};
    if (spec.type === "ExternalName") continue;
    // kube-dns is this host's own DNS role (above); a Service that held the address before
    // kube-dns existed keeps its other ports.
    const isKubeDns = svc.metadata.namespace === "kube-system" && svc.metadata.name === "kube-dns";
    if (clusterDns && spec.clusterIP === clusterDns.ip && isKubeDns) continue;
    const ips: string[] = (spec.clusterIPs ?? [spec.clusterIP]).filter(isIPv4Address);
    for (const sp of spec.ports ?? []) {
      const port: Port = {
        name: sp.name ?? "",
        protocol: sp.protocol ?? "TCP",
        port: sp.port,
        nodePort: sp.nodePort,
      };
      const proto = port.protocol.toLowerCase();
      if (!["tcp", "udp", "sctp"].includes(proto)) continue;
      const targets = endpointsOf(svc, port, slices);
      const comment = `comment "${svc.metadata.namespace}/${svc.metadata.name}:${port.name || port.port}"`;
      for (const ip of ips) {
        const match = `ip daddr ${ip} ${proto} dport ${port.port}`;
        if (targets.length) rule("proxy-services", `${match} ${dnat(targets)} ${comment}`);
        else rule("proxy-reject", `${match} reject ${comment}`);
      }
      const exposed = spec.type === "NodePort" || spec.type === "LoadBalancer";
      if (exposed && port.nodePort) {
        const match = `${proto} dport ${port.nodePort}`;
        if (targets.length) nodePorts.push(`${match} ${dnat(targets)} ${comment}`);
        else rule("proxy-reject", `fib daddr type local ${match} reject ${comment}`);
      }
    }
  }
  // NodePorts answer on every address of the host (kube-proxy's default --nodeport-addresses).
  if (nodePorts.length) rule("proxy-services", "fib daddr type local jump proxy-nodeports");
  for (const r of nodePorts) rule("proxy-nodeports", r);
  return `${lines.join("\n")}\n`;
}

export interface ProxyOptions {
  podCIDR?: string;
  /** The cluster DNS address and where this host answers it (its DNS role). */
  clusterDns?: ClusterDns;
  log: (msg: string) => void;
}

/** Rules from the watched Services and EndpointSlices (a ServiceWatcher). */
export class ServiceProxy implements ServiceWatcher {
  private readonly objects: Record<WatchedKind, Map<string, any>> = {
    services: new Map(),
    endpointslices: new Map(),
  };
  private readonly listed = new Set<WatchedKind>();
  private timer?: NodeJS.Timeout;
  private applied = "";
  private syncing = false;
  private again = false;
  private readonly opts: ProxyOptions;

  constructor(opts: ProxyOptions) {
    this.opts = opts;
  }

  onList(kind: WatchedKind, items: any[]): void {
    const into = this.objects[kind];
    into.clear();
    for (const o of items) into.set(keyOf(o), o);
    this.listed.add(kind);
    this.schedule();
  }

  onEvent(kind: WatchedKind, type: string, o: any): void {
    if (type === "DELETED") this.objects[kind].delete(keyOf(o));
    else this.objects[kind].set(keyOf(o), o);
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Coalesces bursts of changes (a rollout) into one rewrite. */
  private schedule(delay = 100): void {
    // Until both lists arrived, rules made from half the picture would drop live services.
    if (this.listed.size < 2 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, delay);
  }

  private async sync(): Promise<void> {
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = true;
    let failed = false;
    try {
      const script = renderProxyRules(
        [...this.objects.services.values()],
        [...this.objects.endpointslices.values()],
        this.opts.podCIDR,
        this.opts.clusterDns,
      );
      if (script !== this.applied) {
        await run("nft", ["-f", "-"], { input: script });
        this.applied = script;
      }
    } catch (err) {
      this.opts.log(`proxy: writing nftables rules: ${(err as Error).message}`);
      this.applied = "";
      failed = true;
    } finally {
      this.syncing = false;
      // Changes that came in meanwhile, or a retry after a failure.
      if (this.again || failed) this.schedule(failed ? 5000 : 100);
      this.again = false;
    }
  }
}
