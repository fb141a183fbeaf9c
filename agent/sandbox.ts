// A pod's sandbox: its network namespace (through CNI), a UTS namespace holding the pod's
// hostname, and /etc/hosts, /etc/hostname and /etc/resolv.conf as Kubernetes writes them; all
// containers of the pod join the namespaces and bind-mount the files.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cni, netnsPath, type PortMapping } from "./cni.ts";
import { exec, run } from "./exec.ts";
import type { Mount } from "./volumes.ts";

/** The cluster DNS address when the control plane names none (kube-system/kube-dns). */
export const DEFAULT_CLUSTER_DNS = "10.43.0.10";
export const CLUSTER_DOMAIN = "cluster.local";

/** The pod's hostname: spec.hostname or its name (at most 63 characters). */
export function podHostname(pod: any): string {
  return String(pod.spec?.hostname || pod.metadata.name).slice(0, 63);
}

export function hostsFile(pod: any, ip: string): string {
  const name = podHostname(pod);
  const sub = pod.spec?.subdomain;
  const fqdn = sub ? `${name}.${sub}.${pod.metadata.namespace}.svc.${CLUSTER_DOMAIN}` : "";
  let s = `# Kubernetes-managed hosts file.
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
${ip}\t${fqdn ? `${fqdn}\t` : ""}${name}
`;
  const aliases = pod.spec?.hostAliases ?? [];
  if (aliases.length) {
    s += "\n# Entries added by HostAliases.\n";
    for (const a of aliases) s += `${a.ip}\t${(a.hostnames ?? []).join("\t")}\n`;
  }
  return s;
}

/** resolv.conf for the pod's dnsPolicy (ClusterFirst by default) and dnsConfig. */
export function resolvConf(pod: any, hostResolv: string, clusterDNS = DEFAULT_CLUSTER_DNS): string {
  const policy = pod.spec?.dnsPolicy ?? "ClusterFirst";
  const ns = pod.metadata.namespace;
  let servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy === "ClusterFirst" || policy === "ClusterFirstWithHostNet") {
    servers = [clusterDNS];
    searches = [`${ns}.svc.${CLUSTER_DOMAIN}`, `svc.${CLUSTER_DOMAIN}`, CLUSTER_DOMAIN];
    options = ["ndots:5"];
  } else if (policy === "Default") {
    for (const line of hostResolv.split("\n")) {
      const [k, ...rest] = line.trim().split(/\s+/);
      if (k === "nameserver") servers.push(...rest);
      else if (k === "search") searches = rest;
      else if (k === "options") options = rest;
    }
  }
  const dc = pod.spec?.dnsConfig ?? {};
  servers = [...servers, ...(dc.nameservers ?? [])];
  searches = [...searches, ...(dc.searches ?? [])];
  for (const o of dc.options ?? []) {
    options = options.filter((x) => x.split(":")[0] !== o.name);
    options.push(o.value !== undefined ? `${o.name}:${o.value}` : o.name);
  }
  let s = "";
  if (searches.length) s += `search ${searches.join(" ")}\n`;
  for (const n of servers) s += `nameserver ${n}\n`;
  if (options.length) s += `options ${options.join(" ")}\n`;
  return s;
}

export interface Sandbox {
  ip: string;
  /** Namespaces the containers join (`--with-ns`), empty for hostNetwork pods. */
  namespaces: string[];
  mounts: Mount[];
  hostNetwork: boolean;
}

export const sandboxDir = (dataDir: string, uid: string) => join(dataDir, "sandboxes", uid);

export function hostPorts(pod: any): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec?.containers ?? [])
    for (const p of c.ports ?? [])
      if (p.hostPort)
        out.push({
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: String(p.protocol ?? "TCP").toLowerCase(),
        });
  return out;
}

/** Creates (or finds) the pod's sandbox. */
export async function setUpSandbox(
  pod: any,
  dataDir: string,
  cni: Cni,
  hostIP: string,
  clusterDNS?: string,
): Promise<Sandbox> {
  const uid = pod.metadata.uid;
  const dir = sandboxDir(dataDir, uid);
  mkdirSync(dir, { recursive: true });
  if (pod.spec?.hostNetwork) return { ip: hostIP, namespaces: [], mounts: [], hostNetwork: true };
  const ip = await cni.setUp(uid, hostPorts(pod));
  const uts = join(dir, "uts");
  if (!(await isMountPoint(uts))) {
    writeFileSync(uts, "");
    await run("unshare", [`--uts=${uts}`, "hostname", podHostname(pod)]);
  }
  let hostResolv = "";
  try {
    hostResolv = readFileSync("/etc/resolv.conf", "utf8");
  } catch {}
  const files: [string, string, string][] = [
    ["hosts", "/etc/hosts", hostsFile(pod, ip)],
    ["hostname", "/etc/hostname", `${podHostname(pod)}\n`],
    ["resolv.conf", "/etc/resolv.conf", resolvConf(pod, hostResolv, clusterDNS)],
  ];
  const mounts: Mount[] = [];
  for (const [name, dest, text] of files) {
    writeFileSync(join(dir, name), text);
    mounts.push({ source: join(dir, name), destination: dest, readOnly: false });
  }
  return {
    ip,
    namespaces: [`network:${netnsPath(uid)}`, `uts:${uts}`],
    mounts,
    hostNetwork: false,
  };
}

/** This process's mount points (from /proc/self/mountinfo: no process to spawn). */
export function mountPoints(): string[] {
  const unoctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8)));
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => unoctal(l.split(" ")[4] ?? ""));
}

/** Whether `path` is a mount point. */
async function isMountPoint(path: string): Promise<boolean> {
  return existsSync(path) && mountPoints().includes(path);
}

/** Releases the pod's IP, deletes its namespaces and its sandbox dir. */
export async function tearDownSandbox(uid: string, dataDir: string, cni: Cni): Promise<void> {
  const dir = sandboxDir(dataDir, uid);
  const uts = join(dir, "uts");
  if (await isMountPoint(uts)) await exec("umount", [uts]);
  try {
    // A failed CNI DEL keeps its saved result, so the next start-up sweep tries again.
    await cni.tearDown(uid);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
