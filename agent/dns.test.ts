// The agent's DNS server on loopback: real UDP and TCP sockets, queries encoded by dns-packet, and
// a fake upstream resolver (UDP + TCP on one loopback port) for the names the cluster does not own.
import { createSocket } from "node:dgram";
import { connect, createServer, type Server } from "node:net";
import type { Answer, DecodedPacket, Packet, RecordType, SrvAnswer } from "dns-packet";
import * as dnsPacket from "dns-packet";
import type { Service } from "kubernetes-types/core/v1";
import type { EndpointSlice } from "kubernetes-types/discovery/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DnsServer, ServiceRecords, startDns, upstreamsFromResolvConf } from "./dns.ts";

// ---------------------------------------------------------------- wire helpers

let nextId = 1;
const query = (name: string, type: RecordType, extra: Partial<Packet> = {}): Packet => ({
  type: "query",
  id: nextId++,
  flags: dnsPacket.RECURSION_DESIRED,
  questions: [{ name, type, class: "IN" }],
  ...extra,
});

/** One datagram to the port; the reply decoded, or undefined if none came within ms. */
function udpSend(port: number, msg: Buffer, ms = 2000): Promise<DecodedPacket | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket("udp4");
    const done = (r: DecodedPacket | undefined) => {
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => done(undefined), ms);
    sock.on("message", (m) => done(dnsPacket.decode(m)));
    sock.send(msg, port, "127.0.0.1");
  });
}

async function udp(port: number, p: Packet): Promise<DecodedPacket> {
  const reply = await udpSend(port, dnsPacket.encode(p));
  if (!reply) throw new Error("no reply");
  expect(reply.id).toBe(p.id);
  expect(reply.questions).toEqual(p.questions); // the question echoed, as sent
  return reply;
}

const frame = (msg: Buffer) =>
  Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 0xff]), msg]);

/** Messages over one TCP connection: the replies, and whether the server closed it. */
function tcpSend(port: number, msgs: Buffer[], want: number, ms = 2000) {
  return new Promise<{ replies: DecodedPacket[]; closed: boolean }>((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    const replies: DecodedPacket[] = [];
    let buf = Buffer.alloc(0);
    const done = (closed: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ replies, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    sock.on("connect", () => {
      for (const m of msgs) sock.write(frame(m));
    });
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        if (replies.length === want) done(false);
      }
    });
    sock.on("close", () => done(true));
    sock.on("error", () => {});
  });
}

const rcode = (p: DecodedPacket) => (p as DecodedPacket & { rcode: string }).rcode;
const data = (answers: Answer[] | undefined, type: string) =>
  (answers ?? []).filter((a) => a.type === type).map((a) => (a as { data: unknown }).data);
const sorted = <T>(xs: T[]) => [...xs].sort();

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(r));
  return port;
}

// ---------------------------------------------------------------- fake upstream

interface Upstream {
  port: number;
  seen: { name: string; id: number; tcp: boolean }[];
  close(): Promise<void>;
}

/** A resolver on loopback: example.org → 192.0.2.1, ext.example.org → 192.0.2.7, big.example.org
 * (truncated over UDP, three addresses over TCP), anything else NXDOMAIN. */
async function fakeUpstream(): Promise<Upstream> {
  const seen: Upstream["seen"] = [];
  const answer = (msg: Buffer, tcp: boolean): Buffer => {
    const q = dnsPacket.decode(msg);
    const { name, type } = q.questions?.[0] ?? { name: "", type: "A" };
    seen.push({ name, id: q.id ?? 0, tcp });
    const a = (ip: string): Answer => ({ name, type: "A", ttl: 300, class: "IN", data: ip });
    const base = { type: "response" as const, id: q.id, questions: q.questions };
    const flags = dnsPacket.RECURSION_AVAILABLE;
    const lower = name.toLowerCase();
    if (type === "A" && lower === "example.org")
      return dnsPacket.encode({ ...base, flags, answers: [a("192.0.2.1")] });
    if (type === "A" && lower === "ext.example.org")
      return dnsPacket.encode({ ...base, flags, answers: [a("192.0.2.7")] });
    if (lower === "big.example.org") {
      if (!tcp) return dnsPacket.encode({ ...base, flags: flags | dnsPacket.TRUNCATED_RESPONSE });
      return dnsPacket.encode({
        ...base,
        flags,
        answers: [a("192.0.2.11"), a("192.0.2.12"), a("192.0.2.13")],
      });
    }
    return dnsPacket.encode({ ...base, flags: flags | 3 }); // NXDOMAIN
  };
  const u = createSocket("udp4");
  await new Promise<void>((r) => u.bind(0, "127.0.0.1", r));
  const port = u.address().port;
  u.on("message", (m, rinfo) => u.send(answer(m, false), rinfo.port, rinfo.address));
  const t: Server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.write(frame(answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), true)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    sock.on("error", () => {});
  });
  await new Promise<void>((r) => t.listen(port, "127.0.0.1", r));
  return {
    port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        u.close();
        t.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------- cluster objects

const service = (ns: string, name: string, spec: Service["spec"]): Service => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { namespace: ns, name },
  spec,
});

const slice = (
  ns: string,
  name: string,
  svc: string,
  endpoints: EndpointSlice["endpoints"],
  ports: EndpointSlice["ports"] = [],
): EndpointSlice => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { namespace: ns, name, labels: { "kubernetes.io/service-name": svc } },
  addressType: "IPv4",
  endpoints,
  ports,
});

const web = service("default", "web", {
  type: "ClusterIP",
  clusterIP: "10.43.0.20",
  clusterIPs: ["10.43.0.20"],
  ports: [
    { name: "http", port: 80, protocol: "TCP" },
    { name: "dns", port: 53, protocol: "UDP" },
  ],
});
const db = service("data", "db", {
  clusterIP: "None",
  clusterIPs: ["None"],
  ports: [{ name: "pg", port: 5432, protocol: "TCP" }],
});
const dbSlice = slice(
  "data",
  "db-abc12",
  "db",
  [
    { addresses: ["10.42.1.5"], hostname: "db-0", conditions: { ready: true } },
    { addresses: ["10.42.1.6"], hostname: "db-1", conditions: { ready: true } },
    { addresses: ["10.42.2.7"], conditions: { ready: true } }, // no hostname
    { addresses: ["10.42.2.8"], hostname: "db-3", conditions: { ready: false } },
  ],
  [{ name: "pg", port: 15432, protocol: "TCP" }], // the endpoints' port (targetPort)
);

const ZONE = "cluster.local";
const allServices = [
  web,
  db,
  service("default", "ext", { type: "ExternalName", externalName: "ext.example.org" }),
  service("default", "alias", { type: "ExternalName", externalName: `web.default.svc.${ZONE}.` }),
  service("default", "empty", { clusterIP: "None", clusterIPs: ["None"] }),
  service("default", "dual", {
    clusterIP: "10.43.0.30",
    clusterIPs: ["10.43.0.30", "fd00:43::30"],
    ipFamilies: ["IPv4", "IPv6"],
  }),
];
let records: ServiceRecords;
let upstream: Upstream;
let dns: DnsServer;
const others: DnsServer[] = [];

beforeAll(async () => {
  upstream = await fakeUpstream();
  records = new ServiceRecords();
  records.replaceServices(allServices);
  records.replaceEndpointSlices([dbSlice]);
  dns = await startDns({
    host: "127.0.0.1",
    port: 0,
    records,
    upstreams: [{ host: "127.0.0.1", port: upstream.port }],
    upstreamTimeoutMs: 1000,
  });
});

afterAll(async () => {
  await Promise.all([dns?.close(), ...others.map((o) => o.close())]);
  await upstream?.close();
});

// ---------------------------------------------------------------- tests

describe("cluster names", () => {
  it("answers a ClusterIP Service's A record, authoritative, TTL 5", async () => {
    const r = await udp(dns.port, query(`web.default.svc.${ZONE}`, "A"));
    expect(rcode(r)).toBe("NOERROR");
    expect(r.flag_aa).toBe(true);
    expect(r.flag_rd).toBe(true);
    expect(r.answers).toEqual([
      {
        name: `web.default.svc.${ZONE}`,
        type: "A",
        ttl: 5,
        class: "IN",
        flush: false,
        data: "10.43.0.20",
      },
    ]);
    expect(dns.address).toBe("127.0.0.1");
  });

  it("matches names case-insensitively and echoes the question as asked", async () => {
    const r = await udp(dns.port, query("WeB.DeFault.SVC.Cluster.LOCAL", "A"));
    expect(data(r.answers, "A")).toEqual(["10.43.0.20"]);
    expect(r.answers?.[0].name).toBe("WeB.DeFault.SVC.Cluster.LOCAL");
  });

  it("NODATA for a type the name lacks, with the SOA in authority", async () => {
    const r = await udp(dns.port, query(`web.default.svc.${ZONE}`, "AAAA"));
    expect(rcode(r)).toBe("NOERROR");
    expect(r.flag_aa).toBe(true);
    expect(r.answers).toEqual([]);
    expect(r.authorities?.map((a) => [a.name, a.type, (a as { ttl?: number }).ttl])).toEqual([
      [ZONE, "SOA", 5],
    ]);
  });

  it("NXDOMAIN, authoritative with the SOA, for names in the zone that do not exist", async () => {
    for (const name of [
      `nope.default.svc.${ZONE}`,
      `web.other.svc.${ZONE}`,
      `nope.${ZONE}`,
      `x.web.default.svc.${ZONE}`, // endpoint names exist for headless Services only
      `empty.default.svc.${ZONE}`, // headless without ready endpoints
      `google.com.default.svc.${ZONE}`, // what a search path makes of an outside name
    ]) {
      const r = await udp(dns.port, query(name, "A"));
      expect(rcode(r), name).toBe("NXDOMAIN");
      expect(r.flag_aa).toBe(true);
      expect(r.answers).toEqual([]);
      expect(data(r.authorities, "SOA")).toHaveLength(1);
    }
  });

  it("answers the zone's SOA, empty non-terminals and the schema version", async () => {
    const soa = await udp(dns.port, query(ZONE, "SOA"));
    expect(data(soa.answers, "SOA")).toMatchObject([
      { mname: `ns.dns.${ZONE}`, rname: `hostmaster.${ZONE}`, minimum: 5 },
    ]);
    for (const name of [`svc.${ZONE}`, `default.svc.${ZONE}`, `_tcp.web.default.svc.${ZONE}`]) {
      const r = await udp(dns.port, query(name, "A"));
      expect([name, rcode(r), r.answers]).toEqual([name, "NOERROR", []]);
    }
    const v = await udp(dns.port, query(`dns-version.${ZONE}`, "TXT"));
    expect(data(v.answers, "TXT")).toEqual([[Buffer.from("1.1.0")]]);
  });

  it("answers a headless Service with all its ready endpoints", async () => {
    const r = await udp(dns.port, query(`db.data.svc.${ZONE}`, "A"));
    expect(r.flag_aa).toBe(true);
    expect(sorted(data(r.answers, "A"))).toEqual(["10.42.1.5", "10.42.1.6", "10.42.2.7"]);
  });

  it("answers a headless endpoint by hostname, or by dashed address without one", async () => {
    const pet = await udp(dns.port, query(`db-0.db.data.svc.${ZONE}`, "A"));
    expect(data(pet.answers, "A")).toEqual(["10.42.1.5"]);
    const dashed = await udp(dns.port, query(`10-42-2-7.db.data.svc.${ZONE}`, "A"));
    expect(data(dashed.answers, "A")).toEqual(["10.42.2.7"]);
    const notReady = await udp(dns.port, query(`db-3.db.data.svc.${ZONE}`, "A"));
    expect(rcode(notReady)).toBe("NXDOMAIN");
  });

  it("answers SRV for a ClusterIP Service's named ports, targeting the Service", async () => {
    const r = await udp(dns.port, query(`_http._tcp.web.default.svc.${ZONE}`, "SRV"));
    expect(r.flag_aa).toBe(true);
    expect(data(r.answers, "SRV")).toEqual([
      { priority: 0, weight: 100, port: 80, target: `web.default.svc.${ZONE}` },
    ]);
    expect(r.additionals?.map((a) => [a.name, a.type, (a as { data: string }).data])).toEqual([
      [`web.default.svc.${ZONE}`, "A", "10.43.0.20"],
    ]);
    const u = await udp(dns.port, query(`_DNS._UDP.web.default.svc.${ZONE}`, "SRV"));
    expect(data(u.answers, "SRV")).toMatchObject([{ port: 53 }]);
    for (const name of [
      `_http._udp.web.default.svc.${ZONE}`,
      `_ftp._tcp.web.default.svc.${ZONE}`,
    ]) {
      expect(rcode(await udp(dns.port, query(name, "SRV"))), name).toBe("NXDOMAIN");
    }
    const a = await udp(dns.port, query(`_http._tcp.web.default.svc.${ZONE}`, "A"));
    expect([rcode(a), a.answers]).toEqual(["NOERROR", []]);
  });

  it("answers SRV for a headless Service per ready endpoint, with the endpoint port", async () => {
    const r = await udp(dns.port, query(`_pg._tcp.db.data.svc.${ZONE}`, "SRV"));
    const srv = data(r.answers, "SRV") as SrvAnswer["data"][];
    expect(sorted(srv.map((s) => `${s.port} ${s.target}`))).toEqual([
      `15432 10-42-2-7.db.data.svc.${ZONE}`,
      `15432 db-0.db.data.svc.${ZONE}`,
      `15432 db-1.db.data.svc.${ZONE}`,
    ]);
    expect(
      sorted((r.additionals ?? []).map((a) => `${a.name} ${(a as { data: string }).data}`)),
    ).toEqual([
      `10-42-2-7.db.data.svc.${ZONE} 10.42.2.7`,
      `db-0.db.data.svc.${ZONE} 10.42.1.5`,
      `db-1.db.data.svc.${ZONE} 10.42.1.6`,
    ]);
  });

  it("answers an ExternalName Service with a CNAME, then the target's records from upstream", async () => {
    const r = await udp(dns.port, query(`ext.default.svc.${ZONE}`, "A"));
    expect(rcode(r)).toBe("NOERROR");
    expect(r.flag_aa).toBe(true);
    expect(r.answers?.map((a) => [a.name, a.type, (a as { data: string }).data])).toEqual([
      [`ext.default.svc.${ZONE}`, "CNAME", "ext.example.org"],
      ["ext.example.org", "A", "192.0.2.7"],
    ]);
    const cname = await udp(dns.port, query(`ext.default.svc.${ZONE}`, "CNAME"));
    expect(cname.answers?.map((a) => a.type)).toEqual(["CNAME"]);
    // A target inside the cluster is answered from the cache.
    const alias = await udp(dns.port, query(`alias.default.svc.${ZONE}`, "A"));
    expect(alias.answers?.map((a) => [a.type, (a as { data: string }).data])).toEqual([
      ["CNAME", `web.default.svc.${ZONE}`],
      ["A", "10.43.0.20"],
    ]);
  });

  it("answers pod records for any dashed address (pods insecure)", async () => {
    const r = await udp(dns.port, query(`10-42-0-9.default.pod.${ZONE}`, "A"));
    expect(r.flag_aa).toBe(true);
    expect(data(r.answers, "A")).toEqual(["10.42.0.9"]);
    const six = await udp(dns.port, query(`fd00--9.default.pod.${ZONE}`, "AAAA"));
    expect(data(six.answers, "AAAA")).toEqual(["fd00::9"]);
    const bad = await udp(dns.port, query(`10-42-0-999.default.pod.${ZONE}`, "A"));
    expect(rcode(bad)).toBe("NXDOMAIN");
  });

  it("answers PTR for ClusterIPs and headless endpoints", async () => {
    const svc = await udp(dns.port, query("20.0.43.10.in-addr.arpa", "PTR"));
    expect(svc.flag_aa).toBe(true);
    expect(data(svc.answers, "PTR")).toEqual([`web.default.svc.${ZONE}`]);
    const pet = await udp(dns.port, query("5.1.42.10.in-addr.arpa", "PTR"));
    expect(data(pet.answers, "PTR")).toEqual([`db-0.db.data.svc.${ZONE}`]);
    // fd00:43::30, nibble by nibble.
    const nibbles = "fd000043000000000000000000000030".split("").reverse().join(".");
    const six = await udp(dns.port, query(`${nibbles}.ip6.arpa`, "PTR"));
    expect(data(six.answers, "PTR")).toEqual([`dual.default.svc.${ZONE}`]);
  });

  it("answers a dual-stack Service's A and AAAA records", async () => {
    const a = await udp(dns.port, query(`dual.default.svc.${ZONE}`, "A"));
    expect(data(a.answers, "A")).toEqual(["10.43.0.30"]);
    const aaaa = await udp(dns.port, query(`dual.default.svc.${ZONE}`, "AAAA"));
    expect(data(aaaa.answers, "AAAA")).toEqual(["fd00:43::30"]);
  });

  it("sets TC on a UDP answer too big for 512 bytes; the same query over TCP has it all", async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({
      addresses: [`10.42.3.${i + 1}`],
      conditions: { ready: true },
    }));
    records.setService(service("default", "many", { clusterIP: "None" }));
    records.setEndpointSlice(slice("default", "many-1", "many", many));
    const name = `many.default.svc.${ZONE}`;
    const r = await udp(dns.port, query(name, "A"));
    expect(r.flag_tc).toBe(true);
    expect(r.answers).toEqual([]);
    // With EDNS the client takes more over UDP.
    const edns = query(name, "A", {
      additionals: [
        {
          name: ".",
          type: "OPT",
          udpPayloadSize: 4096,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ],
    });
    const big = await udp(dns.port, edns);
    expect([big.flag_tc, data(big.answers, "A").length]).toEqual([false, 40]);
    expect(big.additionals?.map((a) => a.type)).toEqual(["OPT"]);
    const q = query(name, "A");
    const { replies } = await tcpSend(dns.port, [dnsPacket.encode(q)], 1);
    expect(replies[0].id).toBe(q.id);
    expect(replies[0].flag_tc).toBe(false);
    expect(data(replies[0].answers, "A")).toHaveLength(40);
    records.deleteService({ metadata: { namespace: "default", name: "many" } });
    records.deleteEndpointSlice({ metadata: { namespace: "default", name: "many-1" } });
  });
});

describe("record changes", () => {
  it("a Service update, endpoint change and delete are seen by the next query", async () => {
    const name = `web.default.svc.${ZONE}`;
    records.setService({
      ...web,
      spec: { ...web.spec, clusterIP: "10.43.0.99", clusterIPs: ["10.43.0.99"] },
    });
    expect(data((await udp(dns.port, query(name, "A"))).answers, "A")).toEqual(["10.43.0.99"]);
    records.deleteService(web);
    expect(rcode(await udp(dns.port, query(name, "A")))).toBe("NXDOMAIN");
    records.setService(web);
    expect(data((await udp(dns.port, query(name, "A"))).answers, "A")).toEqual(["10.43.0.20"]);

    const headless = `db.data.svc.${ZONE}`;
    records.setEndpointSlice({
      ...dbSlice,
      endpoints: [{ addresses: ["10.42.1.50"], hostname: "db-0", conditions: { ready: true } }],
    });
    expect(data((await udp(dns.port, query(headless, "A"))).answers, "A")).toEqual(["10.42.1.50"]);
    // A second slice of the same Service adds to it.
    const second = slice("data", "db-xyz", "db", [{ addresses: ["10.42.1.51"] }]);
    records.setEndpointSlice(second);
    expect(sorted(data((await udp(dns.port, query(headless, "A"))).answers, "A"))).toEqual([
      "10.42.1.50",
      "10.42.1.51",
    ]);
    records.deleteEndpointSlice(second);
    records.deleteEndpointSlice(dbSlice);
    expect(rcode(await udp(dns.port, query(headless, "A")))).toBe("NXDOMAIN");
    records.setEndpointSlice(dbSlice);
    expect(data((await udp(dns.port, query(headless, "A"))).answers, "A")).toHaveLength(3);

    // A relist forgets what is no longer there.
    records.replaceServices([web]);
    expect(rcode(await udp(dns.port, query(headless, "A")))).toBe("NXDOMAIN");
    expect(rcode(await udp(dns.port, query(`default.svc.${ZONE}`, "A")))).toBe("NOERROR");
    expect(rcode(await udp(dns.port, query(`data.svc.${ZONE}`, "A")))).toBe("NXDOMAIN");
    records.replaceServices(allServices);
    expect(data((await udp(dns.port, query(headless, "A"))).answers, "A")).toHaveLength(3);
  });
});

describe("forwarding", () => {
  it("relays other names to the upstream, under the client's id", async () => {
    const before = upstream.seen.length;
    const q = query("Example.ORG", "A");
    const r = await udp(dns.port, q);
    expect(rcode(r)).toBe("NOERROR");
    expect(r.flag_aa).toBe(false);
    expect(data(r.answers, "A")).toEqual(["192.0.2.1"]);
    const seen = upstream.seen.slice(before);
    expect(seen.map((s) => [s.name, s.tcp])).toEqual([["Example.ORG", false]]);
    const nx = await udp(dns.port, query("nothing.example.org", "A"));
    expect([rcode(nx), nx.flag_aa]).toEqual(["NXDOMAIN", false]);
    // Reverse names the cluster does not know go upstream too.
    const ptr = await udp(dns.port, query("1.2.0.192.in-addr.arpa", "PTR"));
    expect(rcode(ptr)).toBe("NXDOMAIN");
    expect(upstream.seen.at(-1)?.name).toBe("1.2.0.192.in-addr.arpa");
  });

  it("over TCP, asks a truncated upstream reply again over TCP", async () => {
    const q = query("big.example.org", "A");
    const { replies } = await tcpSend(dns.port, [dnsPacket.encode(q)], 1);
    expect(replies[0].id).toBe(q.id);
    expect(replies[0].flag_tc).toBe(false);
    expect(data(replies[0].answers, "A")).toHaveLength(3);
    expect(upstream.seen.slice(-2).map((s) => s.tcp)).toEqual([false, true]);
    // Over UDP the client gets the truncated reply, to come back over TCP.
    const r = await udp(dns.port, query("big.example.org", "A"));
    expect(r.flag_tc).toBe(true);
  });

  it("SERVFAIL when no upstream answers; falls back to the next upstream", async () => {
    const dead = await closedPort();
    const down = await startDns({
      host: "127.0.0.1",
      port: 0,
      records,
      upstreams: [{ host: "127.0.0.1", port: dead }],
      upstreamTimeoutMs: 200,
    });
    others.push(down);
    const r = await udp(down.port, query("example.org", "A"));
    expect(rcode(r)).toBe("SERVFAIL");
    // An ExternalName whose target cannot be resolved fails the same way.
    const ext = await udp(down.port, query(`ext.default.svc.${ZONE}`, "A"));
    expect(rcode(ext)).toBe("SERVFAIL");
    // Cluster names do not need the upstream.
    const web = await udp(down.port, query(`web.default.svc.${ZONE}`, "A"));
    expect(data(web.answers, "A")).toEqual(["10.43.0.20"]);

    down.setUpstreams([
      { host: "127.0.0.1", port: dead },
      { host: "127.0.0.1", port: upstream.port },
    ]);
    const ok = await udp(down.port, query("example.org", "A"));
    expect(data(ok.answers, "A")).toEqual(["192.0.2.1"]);
  });
});

describe("bad input", () => {
  it("drops a malformed UDP packet and answers the next query", async () => {
    const good = query(`web.default.svc.${ZONE}`, "A");
    // A header that promises a question whose name runs off the end, then plain junk.
    const broken = Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 30, 97, 98]);
    expect(await udpSend(dns.port, broken, 300)).toBeUndefined();
    expect(await udpSend(dns.port, Buffer.from("hi"), 300)).toBeUndefined();
    // A response sent to the server is not answered either.
    const response = dnsPacket.encode({ ...good, type: "response" });
    expect(await udpSend(dns.port, response, 300)).toBeUndefined();
    const r = await udp(dns.port, good);
    expect(data(r.answers, "A")).toEqual(["10.43.0.20"]);
  });

  it("closes a TCP connection that sends a malformed message", async () => {
    const broken = Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 30, 97, 98]);
    const { replies, closed } = await tcpSend(dns.port, [broken], 1);
    expect([replies, closed]).toEqual([[], true]);
    const { replies: ok } = await tcpSend(
      dns.port,
      [dnsPacket.encode(query(`web.default.svc.${ZONE}`, "A"))],
      1,
    );
    expect(data(ok[0].answers, "A")).toEqual(["10.43.0.20"]);
  });

  it("answers FORMERR without one question and NOTIMP for other opcodes", async () => {
    const none = await udpSend(
      dns.port,
      dnsPacket.encode({ type: "query", id: 77, questions: [] }),
    );
    expect([none?.id, none && rcode(none)]).toEqual([77, "FORMERR"]);
    const msg = dnsPacket.encode(query(`web.default.svc.${ZONE}`, "A"));
    msg[2] |= 2 << 3; // opcode STATUS
    const status = await udpSend(dns.port, msg);
    expect(status && rcode(status)).toBe("NOTIMP");
  });
});

describe("upstreamsFromResolvConf", () => {
  it("reads the name servers in order, skipping comments and junk", () => {
    const text = [
      "# Generated by NetworkManager",
      "search example.internal",
      "nameserver 127.0.0.53",
      "; nameserver 1.1.1.1",
      "nameserver   fe80::1%eth0 # link-local",
      "nameserver not-an-ip",
      "nameserver 192.0.2.53",
      "nameserver 192.0.2.54",
      "options edns0 trust-ad",
    ].join("\n");
    expect(upstreamsFromResolvConf(text)).toEqual([
      { host: "127.0.0.53", port: 53 },
      { host: "fe80::1%eth0", port: 53 },
      { host: "192.0.2.53", port: 53 },
    ]);
    expect(upstreamsFromResolvConf("")).toEqual([]);
  });
});
