// ClusterIP and NodePort allocation for Services. Values are picked from what is free and
// written in the object's own batch; the table's primary key makes two winners impossible.
import type { Env } from "../env.ts";
import { ApiError } from "../k8s/errors.ts";
import type { DB } from "../store/db.ts";
import { type Allocation, allocated, type KObject } from "../store/objects.ts";
import type { Strategy } from "./types.ts";

export function parseCidr(cidr: string): { base: number; size: number } {
  const [ip, bits] = cidr.split("/");
  const base = ip.split(".").reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const size = 2 ** (32 - Number(bits));
  return { base: (base & ~(size - 1)) >>> 0, size };
}

export const ipString = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");

export function parseRange(range: string): { lo: number; hi: number } {
  const [lo, hi] = range.split("-").map(Number);
  return { lo, hi };
}

const serviceCidr = (env: Env) => env.SERVICE_CIDR ?? "10.43.0.0/16";
const clusterCidr = (env: Env) => env.CLUSTER_CIDR ?? "10.42.0.0/16";
/** Each node gets a /24 of the cluster CIDR (Kubernetes' default --node-cidr-mask-size). */
const NODE_CIDR_BITS = 24;
const nodePortRange = (env: Env) => env.NODE_PORT_RANGE ?? "30000-32767";

/** The address the `kubernetes` Service takes: the first in the service range. */
export const kubernetesServiceIp = (env: Env) => ipString(parseCidr(serviceCidr(env)).base + 1);

/** The cluster DNS address (kube-dns), the tenth, as k3s has it: pods' resolv.conf names it. */
export const clusterDnsIp = (env: Env) => ipString(parseCidr(serviceCidr(env)).base + 10);

function pick(taken: Set<string>, candidates: () => Iterable<string>): string | undefined {
  for (const v of candidates()) if (!taken.has(v)) return v;
  return undefined;
}

/** Random start, then walk: concurrent creates rarely collide, and a collision just retries. */
function* walk(lo: number, count: number, fmt: (n: number) => string) {
  const start = Math.floor(Math.random() * count);
  for (let i = 0; i < count; i++) yield fmt(lo + ((start + i) % count));
}

export async function allocateFor(
  db: DB,
  env: Env,
  s: Strategy,
  o: KObject,
  old: KObject | undefined,
): Promise<Allocation[] | undefined> {
  if (s.info.kind !== "Service") return undefined;
  const out: Allocation[] = [];
  const spec = o.spec ?? {};
  const type = spec.type ?? "ClusterIP";
  if (type !== "ExternalName" && spec.clusterIP !== "None" && !old?.spec?.clusterIP) {
    if (spec.clusterIP) {
      out.push({ kind: "clusterip", value: spec.clusterIP, requested: true });
    } else {
      // .0 is the network, .1 belongs to the kubernetes Service, .10 to the cluster DNS, the
      // last is broadcast.
      const { base, size } = parseCidr(serviceCidr(env));
      const dns = clusterDnsIp(env);
      const ip = pick(await allocated(db, "clusterip"), function* () {
        for (const ip of walk(base + 2, size - 3, ipString)) if (ip !== dns) yield ip;
      });
      if (!ip)
        throw new ApiError(
          500,
          "InternalError",
          "Internal error occurred: failed to allocate a serviceIP: range is full",
        );
      spec.clusterIP = ip;
      out.push({ kind: "clusterip", value: ip });
    }
    spec.clusterIPs = [spec.clusterIP];
  }
  if (type === "NodePort" || type === "LoadBalancer") {
    const { lo, hi } = parseRange(nodePortRange(env));
    const had = new Set((old?.spec?.ports ?? []).map((p: KObject) => p.nodePort).filter(Boolean));
    let taken: Set<string> | undefined;
    for (const p of spec.ports ?? []) {
      if (p.nodePort && had.has(p.nodePort)) continue;
      if (p.nodePort) {
        out.push({ kind: "nodeport", value: String(p.nodePort), requested: true });
        continue;
      }
      taken ??= await allocated(db, "nodeport");
      const port = pick(taken, () => walk(lo, hi - lo + 1, String));
      if (!port)
        throw new ApiError(
          500,
          "InternalError",
          "Internal error occurred: failed to allocate a nodePort: range is full",
        );
      taken.add(port);
      p.nodePort = Number(port);
      out.push({ kind: "nodeport", value: port });
    }
  }
  return out.length ? out : undefined;
}

/**
 * The first free /24 of CLUSTER_CIDR for a joining node. In order, as k3s hands them out; two
 * joins picking the same one is settled by the allocations key (the loser picks again).
 */
export async function freePodCidr(db: DB, env: Env): Promise<string> {
  const cidr = clusterCidr(env);
  const { base, size } = parseCidr(cidr);
  const block = 2 ** (32 - NODE_CIDR_BITS);
  const taken = await allocated(db, "podcidr");
  const free = pick(taken, function* () {
    for (let n = base; n < base + size; n += block) yield `${ipString(n)}/${NODE_CIDR_BITS}`;
  });
  if (!free)
    throw new ApiError(
      503,
      "ServiceUnavailable",
      `no pod CIDR left for a new node: every /${NODE_CIDR_BITS} of the cluster CIDR ${cidr} is allocated`,
    );
  return free;
}
