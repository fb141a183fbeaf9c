// The agent's DNS role: a small server (UDP and TCP on one port) that answers names under the
// cluster domain from a cache of Services and EndpointSlices that the caller keeps current (from
// its watches), after Kubernetes' DNS specification
// (https://github.com/kubernetes/dns/blob/master/docs/specification.md) and CoreDNS's choices where
// the spec leaves room (TTL 5 s, `pods insecure`, SOA in negative answers, dns-version 1.1.0).
// Every other name is relayed to the host's resolvers (from /etc/resolv.conf), as CoreDNS's
// `forward . /etc/resolv.conf`; so are reverse (PTR) names that are no Service's or endpoint's.
//
//   const records = new ServiceRecords();             // filled from the Service/EndpointSlice watches
//   const dns = await startDns({ host: "10.43.0.10", port: 53, records,
//     upstreams: upstreamsFromResolvConf(readFileSync("/etc/resolv.conf", "utf8")) });
//
// Packets are encoded and decoded by dns-packet. What it cannot decode is dropped (UDP) or ends
// the connection (TCP); nothing a client sends can throw out of a socket handler.
import { randomInt } from "node:crypto";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, createServer, isIP, isIPv4, isIPv6, type Server, type Socket } from "node:net";
import type {
  Answer,
  DecodedPacket,
  OptAnswer,
  Packet,
  Question,
  SoaAnswer,
  SrvAnswer,
  StringAnswer,
} from "dns-packet";
import * as dnsPacket from "dns-packet";
import type { Service } from "kubernetes-types/core/v1";
import type { EndpointSlice } from "kubernetes-types/discovery/v1";
import type { ServiceWatcher } from "./service-watch.ts";

/** CoreDNS's kubernetes plugin answers with this TTL (and uses it as the SOA minimum). */
export const DEFAULT_TTL = 5;
export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";
/** Per upstream, before the next one is tried. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 2000;
/** The schema version answered at dns-version.<zone> TXT (CoreDNS's). */
export const DNS_SCHEMA_VERSION = "1.1.0";

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
/** An idle TCP client is dropped after this long (RFC 7766 asks for a few seconds). */
const TCP_IDLE_MS = 10_000;
/** Forwarded queries in flight at once; past it, SERVFAIL at once rather than more sockets. */
const MAX_INFLIGHT = 512;
/** TCP clients at once; more are refused (they fall back to UDP or retry). */
const MAX_TCP_CONNECTIONS = 256;
/** ExternalName → ExternalName → … chains followed at most this far. */
const MAX_CHASE = 8;
/** The UDP payload size this server advertises in its EDNS OPT record. */
const EDNS_PAYLOAD = 1232;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface Upstream {
  host: string;
  port: number;
}

/**
 * The name servers of a resolv.conf, in order (as glibc, the first three), port 53. IPv6
 * link-local addresses keep their `%zone`. No nameserver line gives [] (glibc would then try
 * 127.0.0.1; the caller decides).
 */
export function upstreamsFromResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1];
    if (!isIP(host.replace(/%.*$/, ""))) continue;
    out.push({ host, port: 53 });
    if (out.length === 3) break;
  }
  return out;
}

type ObjectRef = { metadata?: { namespace?: string; name?: string } };

/** One address of an endpoint of a Service, with the ports of the slice it came from. */
interface EndpointAddress {
  /** The endpoint's hostname, or its address with dashes (10-42-1-5, fd00--5) without one. */
  host: string;
  ip: string;
  ports: { name?: string; port?: number; protocol?: string }[];
}

const key = (namespace: string, name: string) => `${namespace}/${name}`.toLowerCase();
const keyOf = (o: ObjectRef) => key(o.metadata?.namespace ?? "default", o.metadata?.name ?? "");
const dashed = (ip: string) => ip.replace(/[.:]/g, "-").toLowerCase();

/**
 * The cache the DNS server answers from: Services and EndpointSlices as the API returns them.
 * Set an object on ADDED/MODIFIED, delete it on DELETED, replace all on a (re)list. Every query
 * reads the current state, so a change is seen by the next query.
 */
export class ServiceRecords {
  #services = new Map<string, Service>();
  #slices = new Map<string, EndpointSlice>();
  /** "<ns>/<service>" → keys of its slices (by the kubernetes.io/service-name label). */
  #slicesOf = new Map<string, Set<string>>();
  /** Services per namespace: "<ns>.svc.<zone>" exists while the namespace has one. */
  #perNamespace = new Map<string, number>();
  /** address → names relative to svc.<zone> ("web.default", "db-0.db.data"), built on demand. */
  #ptr: Map<string, string[]> | undefined;
  /** Bumped on every change; the SOA serial. */
  generation = 1;

  #changed() {
    this.generation = (this.generation + 1) >>> 0 || 1;
    this.#ptr = undefined;
  }

  setService(svc: Service): void {
    const k = keyOf(svc);
    if (!this.#services.has(k)) this.#countNamespace(k, 1);
    this.#services.set(k, svc);
    this.#changed();
  }

  deleteService(svc: ObjectRef): void {
    const k = keyOf(svc);
    if (this.#services.delete(k)) {
      this.#countNamespace(k, -1);
      this.#changed();
    }
  }

  /** The whole set after a list (objects not in it are forgotten). */
  replaceServices(items: Service[]): void {
    this.#services.clear();
    this.#perNamespace.clear();
    for (const svc of items) this.setService(svc);
    this.#changed();
  }

  setEndpointSlice(slice: EndpointSlice): void {
    this.#unlinkSlice(keyOf(slice));
    const k = keyOf(slice);
    this.#slices.set(k, slice);
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (service) {
      const sk = key(slice.metadata?.namespace ?? "default", service);
      const set = this.#slicesOf.get(sk) ?? new Set<string>();
      set.add(k);
      this.#slicesOf.set(sk, set);
    }
    this.#changed();
  }

  deleteEndpointSlice(slice: ObjectRef): void {
    if (this.#unlinkSlice(keyOf(slice))) this.#changed();
  }

  replaceEndpointSlices(items: EndpointSlice[]): void {
    this.#slices.clear();
    this.#slicesOf.clear();
    for (const slice of items) this.setEndpointSlice(slice);
    this.#changed();
  }

  #unlinkSlice(k: string): boolean {
    const old = this.#slices.get(k);
    if (!old) return false;
    this.#slices.delete(k);
    const service = old.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (service) {
      const sk = key(old.metadata?.namespace ?? "default", service);
      const set = this.#slicesOf.get(sk);
      set?.delete(k);
      if (set?.size === 0) this.#slicesOf.delete(sk);
    }
    return true;
  }

  #countNamespace(serviceKey: string, by: number) {
    const ns = serviceKey.slice(0, serviceKey.indexOf("/"));
    const n = (this.#perNamespace.get(ns) ?? 0) + by;
    if (n > 0) this.#perNamespace.set(ns, n);
    else this.#perNamespace.delete(ns);
  }

  /** The Service <name> in <namespace> (case-insensitive). */
  service(namespace: string, name: string): Service | undefined {
    return this.#services.get(key(namespace, name));
  }

  hasNamespace(namespace: string): boolean {
    return this.#perNamespace.has(namespace.toLowerCase());
  }

  /**
   * The addresses of a Service's endpoints that DNS publishes: ready ones (a missing `ready`
   * counts as ready, as the API asks), or all when the Service sets publishNotReadyAddresses.
   * Deduplicated by hostname and address.
   */
  endpoints(namespace: string, name: string): EndpointAddress[] {
    const svc = this.service(namespace, name);
    const all = svc?.spec?.publishNotReadyAddresses === true;
    const out: EndpointAddress[] = [];
    const seen = new Set<string>();
    for (const sk of this.#slicesOf.get(key(namespace, name)) ?? []) {
      const slice = this.#slices.get(sk);
      for (const ep of slice?.endpoints ?? []) {
        if (!all && ep.conditions?.ready === false) continue;
        for (const addr of ep.addresses ?? []) {
          if (!isIP(addr)) continue; // FQDN slices have no place in A/AAAA answers
          const host = ep.hostname ? ep.hostname.toLowerCase() : dashed(addr);
          const id = `${host} ${addr}`;
          if (seen.has(id)) continue;
          seen.add(id);
          out.push({ host, ip: addr, ports: slice?.ports ?? [] });
        }
      }
    }
    return out;
  }

  /** Names (relative to svc.<zone>) whose address is ip: Services' ClusterIPs, headless endpoints. */
  ptr(ip: string): string[] {
    if (!this.#ptr) {
      const index = new Map<string, string[]>();
      const add = (addr: string, name: string) => {
        const k = ipKey(addr);
        if (!k) return;
        const list = index.get(k);
        if (!list) index.set(k, [name]);
        else if (!list.includes(name)) list.push(name);
      };
      for (const svc of this.#services.values()) {
        const ns = (svc.metadata?.namespace ?? "default").toLowerCase();
        const name = (svc.metadata?.name ?? "").toLowerCase();
        if (svc.spec?.type === "ExternalName") continue;
        if (isHeadless(svc)) {
          for (const ep of this.endpoints(ns, name)) add(ep.ip, `${ep.host}.${name}.${ns}`);
        } else {
          for (const ip of clusterIPs(svc)) add(ip, `${name}.${ns}`);
        }
      }
      this.#ptr = index;
    }
    const k = ipKey(ip);
    return (k && this.#ptr.get(k)) || [];
  }
}

const isHeadless = (svc: Service) => svc.spec?.clusterIP === "None";

function clusterIPs(svc: Service): string[] {
  const ips = svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : [svc.spec?.clusterIP ?? ""];
  return ips.filter((ip) => isIP(ip));
}

/** A comparable form of an address: IPv4 as is, IPv6 with all eight groups written out. */
function ipKey(ip: string): string | undefined {
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return undefined;
  let s = ip.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => g.padStart(4, "0")).join(":");
}

/** The address a reverse name stands for: 4.3.2.1.in-addr.arpa, or 32 nibbles of ip6.arpa. */
function reverseName(name: string): string | undefined {
  const labels = name.split(".");
  if (name.endsWith(".in-addr.arpa") && labels.length === 6) {
    const ip = labels.slice(0, 4).reverse().join(".");
    return isIPv4(ip) ? ip : undefined;
  }
  if (name.endsWith(".ip6.arpa") && labels.length === 34) {
    const nibbles = labels.slice(0, 32).reverse();
    if (!nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(nibbles.slice(i, i + 4).join(""));
    return groups.join(":");
  }
  return undefined;
}

/** What the cluster zone says about a name: the answer, or that the name does not exist. */
interface Local {
  /** NOERROR or NXDOMAIN (or, after an ExternalName's target was asked, the upstream's). */
  rcode: number;
  answers: Answer[];
  additionals: Answer[];
  /** A CNAME was answered (ExternalName): the records of this name follow it. */
  chase?: string;
}

const nxdomain = (): Local => ({ rcode: RCODE.NXDOMAIN, answers: [], additionals: [] });
const records = (answers: Answer[] = [], additionals: Answer[] = []): Local => ({
  rcode: RCODE.NOERROR,
  answers,
  additionals,
});

/** The answers for the names of the cluster zone (and the reverse names it knows). */
class Zone {
  readonly zone: string;
  readonly ttl: number;
  readonly records: ServiceRecords;

  constructor(records: ServiceRecords, zone: string, ttl: number) {
    this.records = records;
    this.zone = zone.toLowerCase().replace(/^\.+|\.+$/g, "");
    this.ttl = ttl;
  }

  /** A record of this zone (class IN, the zone's TTL). */
  rr<A extends Answer>(a: Omit<A, "ttl" | "class">): A {
    return { ...a, ttl: this.ttl, class: "IN" } as A;
  }

  soa(): SoaAnswer {
    return this.rr<SoaAnswer>({
      name: this.zone,
      type: "SOA",
      data: {
        mname: `ns.dns.${this.zone}`,
        rname: `hostmaster.${this.zone}`,
        serial: this.records.generation,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: this.ttl,
      },
    });
  }

  /** Records whose owner is the name asked, of the type asked, from a list of addresses. */
  addresses(owner: string, type: string, ips: string[]): Answer[] {
    const want = (ip: string) =>
      (type === "A" || type === "ANY") && isIPv4(ip)
        ? "A"
        : (type === "AAAA" || type === "ANY") && isIPv6(ip)
          ? "AAAA"
          : undefined;
    const out: Answer[] = [];
    for (const ip of ips) {
      const t = want(ip);
      if (t) out.push(this.rr<StringAnswer>({ name: owner, type: t, data: ip }));
    }
    return out;
  }

  /**
   * The answer for (name, type), or undefined when the name is not this server's to answer (it
   * is forwarded). owner is the name as the client spelled it, for the answers' owner names.
   */
  lookup(owner: string, type: string): Local | undefined {
    const name = owner.toLowerCase().replace(/\.$/, "");
    if (type === "PTR" && (name.endsWith(".in-addr.arpa") || name.endsWith(".ip6.arpa"))) {
      const ip = reverseName(name);
      const names = ip ? this.records.ptr(ip) : [];
      if (names.length === 0) return undefined;
      return records(
        names.map((n) =>
          this.rr<StringAnswer>({ name: owner, type: "PTR", data: `${n}.svc.${this.zone}` }),
        ),
      );
    }
    if (name !== this.zone && !name.endsWith(`.${this.zone}`)) return undefined;
    const labels = name === this.zone ? [] : name.slice(0, -this.zone.length - 1).split(".");
    if (labels.length === 0) return records(type === "SOA" || type === "ANY" ? [this.soa()] : []);
    if (labels.length === 1 && labels[0] === "dns-version") {
      const txt = { name: owner, type: "TXT" as const, data: [DNS_SCHEMA_VERSION] };
      return records(type === "TXT" || type === "ANY" ? [this.rr(txt)] : []);
    }
    const kind = labels.pop();
    if (kind === "svc") return this.#service(owner, type, labels);
    if (kind === "pod") return this.#pod(owner, type, labels);
    return nxdomain();
  }

  /** Names under svc.<zone>; labels are those before "svc", left to right. */
  #service(owner: string, type: string, labels: string[]): Local {
    if (labels.length === 0) return records(); // svc.<zone>: an empty non-terminal
    if (labels.length === 1) return this.records.hasNamespace(labels[0]) ? records() : nxdomain();
    const [ns, name] = [labels[labels.length - 1], labels[labels.length - 2]];
    const svc = this.records.service(ns, name);
    if (!svc) return nxdomain();
    const fqdn = `${name}.${ns}.svc.${this.zone}`;

    if (labels.length === 2) {
      if (svc.spec?.type === "ExternalName") {
        const target = (svc.spec.externalName ?? "").replace(/\.$/, "").toLowerCase();
        if (!target) return nxdomain();
        const cname = this.rr<StringAnswer>({ name: owner, type: "CNAME", data: target });
        return {
          ...records([cname]),
          chase: type === "CNAME" || type === "ANY" ? undefined : target,
        };
      }
      if (isHeadless(svc)) {
        const ips = this.records.endpoints(ns, name).map((e) => e.ip);
        // The spec: a headless Service without ready endpoints has no name.
        if (ips.length === 0) return nxdomain();
        return records(this.addresses(owner, type, [...new Set(ips)]));
      }
      return records(this.addresses(owner, type, clusterIPs(svc)));
    }

    if (svc.spec?.type === "ExternalName") return nxdomain();
    const first = labels[0];
    if (labels.length === 3 && !first.startsWith("_")) {
      // <hostname>.<service>: a headless Service's endpoint (StatefulSet pods and the like).
      if (!isHeadless(svc)) return nxdomain();
      const ips = this.records
        .endpoints(ns, name)
        .filter((e) => e.host === first)
        .map((e) => e.ip);
      return ips.length ? records(this.addresses(owner, type, ips)) : nxdomain();
    }
    if (labels.length > 4 || !first.startsWith("_")) return nxdomain();
    // _<proto>.<service> (an empty non-terminal) or _<port>._<proto>.<service> (SRV).
    const proto = labels[labels.length - 3];
    if (!proto.startsWith("_")) return nxdomain();
    const port = labels.length === 4 ? first.slice(1) : undefined;
    const srv = this.#srv(owner, svc, ns, name, fqdn, port, proto.slice(1));
    if (srv.answers.length === 0) return nxdomain();
    if (labels.length === 3 || (type !== "SRV" && type !== "ANY")) return records();
    return srv;
  }

  /** SRV records for a Service's named ports (any name when port is undefined). */
  #srv(
    owner: string,
    svc: Service,
    ns: string,
    name: string,
    fqdn: string,
    port: string | undefined,
    proto: string,
  ): Local {
    const matches = (p: { name?: string; protocol?: string }) =>
      !!p.name &&
      (port === undefined || p.name.toLowerCase() === port) &&
      (p.protocol ?? "TCP").toLowerCase() === proto;
    const found: { port: number; target: string; ips: string[] }[] = [];
    if (isHeadless(svc)) {
      // One per (endpoint hostname, port), the port being the endpoint's (the slice's).
      const byTarget = new Map<string, { port: number; target: string; ips: string[] }>();
      for (const ep of this.records.endpoints(ns, name)) {
        for (const p of ep.ports) {
          if (!matches(p) || p.port === undefined) continue;
          const target = `${ep.host}.${fqdn}`;
          const id = `${p.port} ${target}`;
          const entry = byTarget.get(id);
          if (entry) entry.ips.push(ep.ip);
          else byTarget.set(id, { port: p.port, target, ips: [ep.ip] });
        }
      }
      found.push(...byTarget.values());
    } else {
      for (const p of svc.spec?.ports ?? []) {
        if (matches(p)) found.push({ port: p.port, target: fqdn, ips: clusterIPs(svc) });
      }
    }
    const weight = Math.max(1, Math.floor(100 / Math.max(1, found.length)));
    const answers: Answer[] = found.map((f) =>
      this.rr<SrvAnswer>({
        name: owner,
        type: "SRV",
        data: { priority: 0, weight, port: f.port, target: f.target },
      }),
    );
    const additionals: Answer[] = [];
    const targets = new Set<string>();
    for (const f of found) {
      if (targets.has(f.target)) continue;
      targets.add(f.target);
      additionals.push(...this.addresses(f.target, "ANY", f.ips));
    }
    return records(answers, additionals);
  }

  /** <a-b-c-d>.<ns>.pod.<zone> → a.b.c.d for any namespace and address (`pods insecure`). */
  #pod(owner: string, type: string, labels: string[]): Local {
    if (labels.length < 2) return records(); // pod.<zone>, <ns>.pod.<zone>
    if (labels.length > 2) return nxdomain();
    const v4 = labels[0].replace(/-/g, ".");
    const v6 = labels[0].replace(/-/g, ":");
    const ip = isIPv4(v4) ? v4 : isIPv6(v6) ? v6 : undefined;
    return ip ? records(this.addresses(owner, type, [ip])) : nxdomain();
  }
}

export interface DnsOptions {
  /** Address to bind (UDP and TCP), e.g. the cluster DNS address or 127.0.0.1 in tests. */
  host: string;
  /** 53 in production; 0 picks a free port (the same for UDP and TCP). */
  port: number;
  records: ServiceRecords;
  /**
   * Where other names go, tried in order; see upstreamsFromResolvConf. This server's own address
   * and port is left out (it would loop).
   */
  upstreams: Upstream[];
  /** Default cluster.local. */
  clusterDomain?: string;
  /** TTL of the cluster's records; default 5 s. */
  ttl?: number;
  /** How long each upstream gets before the next is tried; default 2000 ms. */
  upstreamTimeoutMs?: number;
  /** Socket-level trouble (not per-query failures, which are answered with SERVFAIL). */
  log?: (msg: string) => void;
}

export interface DnsServer {
  /** The bound address and port (the port picked when 0 was asked). */
  address: string;
  port: number;
  /** For a changed /etc/resolv.conf. */
  setUpstreams(upstreams: Upstream[]): void;
  /** Stops listening, drops TCP clients and abandons queries in flight. */
  close(): Promise<void>;
}

/** Starts the DNS server; resolves once both UDP and TCP are bound on the same port. */
export async function startDns(opts: DnsOptions): Promise<DnsServer> {
  const zone = new Zone(
    opts.records,
    opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
    opts.ttl ?? DEFAULT_TTL,
  );
  const timeoutMs = opts.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  let upstreams: Upstream[] = [];
  const log = opts.log ?? (() => {});
  const family = isIPv6(opts.host) ? "udp6" : "udp4";
  /** Aborts for the upstream exchanges in flight. */
  const inflight = new Set<() => void>();
  const conns = new Set<Socket>();
  let closed = false;

  /** Sends msg to one upstream over UDP (over TCP when tcp) and returns its reply, if any. */
  function exchange(up: Upstream, msg: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    const id = msg.readUInt16BE(0);
    const isReply = (m: Buffer) => m.length >= 12 && m.readUInt16BE(0) === id && m[2] & 0x80;
    return new Promise((resolve) => {
      let finished = false;
      let cleanup = () => {};
      const finish = (reply: Buffer | undefined) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        inflight.delete(abort);
        try {
          cleanup();
        } catch {}
        resolve(reply);
      };
      const abort = () => finish(undefined);
      const timer = setTimeout(abort, timeoutMs);
      inflight.add(abort);
      if (tcp) {
        const sock = connect({ host: up.host, port: up.port });
        cleanup = () => sock.destroy();
        let buf = Buffer.alloc(0);
        sock.on("error", abort);
        sock.on("close", abort);
        sock.on("connect", () => sock.write(frame(msg)));
        sock.on("data", (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            const m = buf.subarray(2, 2 + buf.readUInt16BE(0));
            buf = buf.subarray(2 + m.length);
            if (isReply(m)) return finish(Buffer.from(m));
          }
        });
      } else {
        const sock = createSocket(isIPv6(up.host.replace(/%.*$/, "")) ? "udp6" : "udp4");
        cleanup = () => sock.close();
        sock.on("error", abort); // ICMP port unreachable arrives here on a connected socket
        // A connected socket takes datagrams from that peer only.
        sock.on("message", (m: Buffer) => {
          if (isReply(m)) finish(m);
        });
        sock.connect(up.port, up.host, () => {
          if (!finished) sock.send(msg, (err) => err && abort());
        });
      }
    });
  }

  /**
   * Relays a query to the upstreams in turn under a fresh random id (the reply gets the client's
   * back). A truncated UDP reply is asked again over TCP when the client came over TCP. Returns
   * the first reply that is not SERVFAIL/NOTIMP/REFUSED, else the last such reply, else nothing.
   */
  async function forward(query: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    if (inflight.size >= MAX_INFLIGHT) return undefined;
    const msg = Buffer.from(query);
    msg.writeUInt16BE(randomInt(0, 0x10000), 0);
    let last: Buffer | undefined;
    for (const up of upstreams) {
      if (closed) return undefined;
      let reply = await exchange(up, msg, false);
      if (reply && tcp && reply[2] & 0x02) reply = (await exchange(up, msg, true)) ?? reply;
      if (!reply) continue;
      reply.writeUInt16BE(query.readUInt16BE(0), 0);
      const rcode = reply[3] & 0x0f;
      if (rcode === RCODE.SERVFAIL || rcode === RCODE.NOTIMP || rcode === RCODE.REFUSED) {
        last = reply;
        continue;
      }
      return reply;
    }
    return last;
  }

  /** The records of an ExternalName's target: from the zone, or asked of the upstreams. */
  async function chase(local: Local, type: string, tcp: boolean): Promise<Local> {
    let target = local.chase;
    const out: Local = { ...local, answers: [...local.answers], additionals: [] };
    for (let depth = 0; target && depth < MAX_CHASE; depth++) {
      const next = zone.lookup(target, type);
      if (next) {
        out.answers.push(...next.answers);
        out.rcode = next.rcode;
        target = next.chase;
        continue;
      }
      const q: Packet = {
        type: "query",
        id: randomInt(0, 0x10000),
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name: target, type: type as Question["type"], class: "IN" }],
        additionals: [opt()],
      };
      const reply = await forward(dnsPacket.encode(q), tcp);
      let decoded: DecodedPacket | undefined;
      try {
        decoded = reply && dnsPacket.decode(reply);
      } catch {}
      const rcode = reply ? reply[3] & 0x0f : RCODE.SERVFAIL;
      if (!decoded || (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN)) {
        throw new ChaseFailed();
      }
      out.answers.push(...(decoded.answers ?? []));
      out.rcode = rcode;
      break;
    }
    return out;
  }

  /** The reply to one message, or undefined to drop it (UDP) or end the connection (TCP). */
  async function handle(msg: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    if (query.flag_qr) return undefined; // a response: never answer one
    const reqOpt = query.additionals?.find((a): a is OptAnswer => a.type === "OPT");
    const limit = tcp ? 0xffff : Math.max(512, Math.min(reqOpt?.udpPayloadSize ?? 512, 0xffff));
    const reply = (rcode: number, r: Partial<Local> & { aa?: boolean; opcode?: number } = {}) =>
      respond(query, limit, reqOpt, { rcode, ...r });
    try {
      const opcode = (msg[2] >> 3) & 0x0f;
      if (opcode !== 0) return reply(RCODE.NOTIMP, { opcode });
      if (query.questions?.length !== 1) return reply(RCODE.FORMERR);
      if (reqOpt && reqOpt.ednsVersion > 0) return reply(16); // BADVERS
      const q = query.questions[0];
      // A name that dns-packet cannot spell back the same way (a dot or non-UTF-8 byte inside a
      // label, a compression pointer) is nobody's service name: it is relayed untouched.
      const canonical = dnsPacket.encode({ questions: [q] }).subarray(12);
      const asSent = msg.subarray(12, 12 + canonical.length);
      let local =
        (q.class ?? "IN") === "IN" && asSent.equals(canonical)
          ? zone.lookup(q.name, q.type)
          : undefined;
      if (!local) {
        const relayed = await forward(msg, tcp);
        if (!relayed) return reply(RCODE.SERVFAIL, { aa: false });
        if (relayed.length <= limit) return relayed;
        return truncated(relayed);
      }
      if (local.chase) {
        try {
          local = await chase(local, q.type, tcp);
        } catch (err) {
          if (err instanceof ChaseFailed) return reply(RCODE.SERVFAIL, { aa: false });
          throw err;
        }
      }
      return reply(local.rcode, { ...local, aa: true });
    } catch (err) {
      log(`dns: ${(err as Error).message}`);
      return reply(RCODE.SERVFAIL, { aa: false });
    }
  }

  /** Builds a reply; one too big for the client is cut to its header and question, with TC. */
  function respond(
    query: DecodedPacket,
    limit: number,
    reqOpt: OptAnswer | undefined,
    r: Partial<Local> & { rcode: number; aa?: boolean; opcode?: number },
  ): Buffer {
    // NXDOMAIN and NODATA carry the zone's SOA (RFC 2308), for negative caching.
    const negative =
      !r.answers?.length && (r.rcode === RCODE.NXDOMAIN || r.rcode === RCODE.NOERROR);
    const extended = r.rcode >> 4;
    const optRR = reqOpt ? [opt(extended)] : [];
    const flags =
      (r.aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
      ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
      dnsPacket.RECURSION_AVAILABLE |
      ((r.opcode ?? 0) << 11) |
      (r.rcode & 0x0f);
    const packet: Packet = {
      type: "response",
      id: query.id,
      flags,
      questions: query.questions,
      answers: r.answers ?? [],
      authorities: negative && r.aa ? [zone.soa()] : [],
      additionals: [...(r.additionals ?? []), ...optRR],
    };
    let out = dnsPacket.encode(packet);
    if (out.length > limit) {
      out = dnsPacket.encode({ ...packet, additionals: optRR });
    }
    if (out.length > limit) {
      out = dnsPacket.encode({
        ...packet,
        flags: flags | dnsPacket.TRUNCATED_RESPONSE,
        answers: [],
        authorities: [],
        additionals: optRR,
      });
    }
    return out;
  }

  /** An upstream reply too big for the client: its header and question only, with TC set. */
  function truncated(reply: Buffer): Buffer {
    try {
      const d = dnsPacket.decode(reply);
      return dnsPacket.encode({
        type: "response",
        id: d.id,
        flags: (d.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
        questions: d.questions,
      });
    } catch {
      const head = Buffer.from(reply.subarray(0, 12));
      head[2] |= 0x02;
      head.fill(0, 4);
      return head;
    }
  }

  // Bind UDP, then TCP on the port UDP got; with port 0 another process may hold that TCP port,
  // so a few tries.
  let udp: UdpSocket | undefined;
  let tcp: Server | undefined;
  for (let attempt = 0; ; attempt++) {
    udp = await bindUdp(family, opts.host, opts.port);
    try {
      tcp = await listenTcp(opts.host, udp.address().port);
      break;
    } catch (err) {
      udp.close();
      if (opts.port !== 0 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt > 8)
        throw err;
    }
  }
  const udpSock = udp;
  const tcpServer = tcp;

  udpSock.on("error", (err) => log(`dns: udp: ${err.message}`));
  udpSock.on("message", (msg, rinfo) => {
    handle(msg, false).then(
      (reply) => {
        if (!reply || closed) return;
        try {
          udpSock.send(reply, rinfo.port, rinfo.address, () => {});
        } catch {}
      },
      (err) => log(`dns: ${(err as Error).message}`),
    );
  });

  tcpServer.on("error", (err) => log(`dns: tcp: ${err.message}`));
  tcpServer.maxConnections = MAX_TCP_CONNECTIONS;
  tcpServer.on("connection", (sock) => {
    conns.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on("error", () => {});
    sock.on("close", () => conns.delete(sock));
    let buf = Buffer.alloc(0);
    sock.on("data", (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        handle(msg, true).then(
          (reply) => {
            if (!reply) sock.destroy();
            else if (!sock.destroyed) sock.write(frame(reply));
          },
          () => sock.destroy(),
        );
      }
    });
  });

  const bound = udpSock.address();
  const wildcard = bound.address === "0.0.0.0" || bound.address === "::";
  // Never this server itself: a query would go round until it timed out.
  const setUpstreams = (list: Upstream[]) => {
    upstreams = list.filter(
      (u) => !(u.port === bound.port && (wildcard || u.host === bound.address)),
    );
  };
  setUpstreams(opts.upstreams);
  return {
    address: bound.address,
    port: bound.port,
    setUpstreams,
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const abort of [...inflight]) abort();
      for (const c of conns) c.destroy();
      return new Promise<void>((resolve) => {
        let pending = 2;
        const done = () => --pending === 0 && resolve();
        udpSock.close(done);
        tcpServer.close(done);
      });
    },
  };
}

class ChaseFailed extends Error {}

/** The EDNS OPT record of this server's replies and queries. */
const opt = (extendedRcode = 0): OptAnswer => ({
  name: ".",
  type: "OPT",
  udpPayloadSize: EDNS_PAYLOAD,
  extendedRcode,
  ednsVersion: 0,
  flags: 0,
  flag_do: false,
  options: [],
});

/** RFC 1035 4.2.2: a message over TCP is preceded by its length. */
const frame = (msg: Buffer) => {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
};

function bindUdp(type: "udp4" | "udp6", host: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(type);
    sock.once("error", reject);
    sock.bind(port, host, () => {
      sock.off("error", reject);
      resolve(sock);
    });
  });
}

function listenTcp(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

/** Feeds the records from the agent's watch of Services and EndpointSlices. */
export function recordsWatcher(records: ServiceRecords): ServiceWatcher {
  return {
    onList: (kind, items) =>
      kind === "services" ? records.replaceServices(items) : records.replaceEndpointSlices(items),
    onEvent: (kind, type, obj) => {
      if (kind === "services")
        type === "DELETED" ? records.deleteService(obj) : records.setService(obj);
      else type === "DELETED" ? records.deleteEndpointSlice(obj) : records.setEndpointSlice(obj);
    },
  };
}
