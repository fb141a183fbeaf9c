// kubeflare-agent: the host agent (kubelet, proxy and DNS roles). Joins the cluster once,
// registers its Node, renews its Lease, runs the pods bound to it through containerd, routes to
// the other hosts' pods and Services' addresses to their endpoints, and answers the cluster's
// names.
//   node kubeflare-agent.mjs --server URL (--token T | already joined) [--node-name N]
//     [--data-dir D] [--containerd-address A] [--insecure-skip-tls-verify] [--registries FILE]
//   node kubeflare-agent.mjs killall [--data-dir D] [--containerd-address A]
//     (with the agent stopped: removes its pods' containers and sandboxes, see cleanup.ts)
import "./v8-flags.ts";
import { existsSync, readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Api } from "./api.ts";
import { killall } from "./cleanup.ts";
import { CNI_PATH, ensureBridge } from "./cni.ts";
import { Containerd } from "./containerd.ts";
import {
  type DnsServer,
  recordsWatcher,
  ServiceRecords,
  startDns,
  upstreamsFromResolvConf,
} from "./dns.ts";
import { trimHeapWhenGrown } from "./heap-trim.ts";
import { joinCluster, loadCredential, saveCredential } from "./join.ts";
import { NodeAgent } from "./node.ts";
import { PodManager } from "./pods.ts";
import { ServiceProxy } from "./proxy.ts";
import { loadRegistries } from "./registries.ts";
import { PeerRoutes } from "./routes.ts";
import { DEFAULT_CLUSTER_DNS } from "./sandbox.ts";
import { watchServices } from "./service-watch.ts";
import { startTunnel } from "./tunnel.ts";

const USAGE = `usage: kubeflare-agent --server URL [--token TOKEN] [--node-name NAME]
  [--data-dir DIR] [--containerd-address SOCK] [--insecure-skip-tls-verify] [--registries FILE]
       kubeflare-agent killall [--data-dir DIR] [--containerd-address SOCK]`;

const log = (msg: string) => console.log(`${new Date().toISOString()} ${msg}`);

async function main() {
  const { values: a, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      server: { type: "string" },
      token: { type: "string" },
      "node-name": { type: "string" },
      "data-dir": { type: "string", default: "/var/lib/kubeflare-agent" },
      "containerd-address": { type: "string", default: "/run/containerd/containerd.sock" },
      "insecure-skip-tls-verify": { type: "boolean", default: false },
      registries: { type: "string" },
      /** Development: act with this bearer token (e.g. the admin's) instead of joining. */
      credential: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (a.help) {
    console.log(USAGE);
    return;
  }
  const dataDir = resolve(a["data-dir"] as string);
  if (positionals.length) {
    if (positionals.length > 1 || positionals[0] !== "killall")
      throw new Error(`unknown command ${positionals.join(" ")}\n${USAGE}`);
    const containerd = new Containerd(a["containerd-address"] as string);
    if (!(await containerd.ping()))
      throw new Error(`containerd does not answer on ${containerd.address}`);
    const removed = await killall(containerd, dataDir);
    log(
      `removed ${removed.containers} container(s) and ${removed.sandboxes} pod sandbox(es); ` +
        "the control plane keeps the pods, and the agent runs them again when it starts",
    );
    return;
  }
  const insecure = a["insecure-skip-tls-verify"] as boolean;
  const saved = loadCredential(dataDir);
  const server = a.server ?? saved?.server;
  if (!server) throw new Error(`--server is required\n${USAGE}`);
  let nodeName = (a["node-name"] ?? saved?.nodeName ?? hostname()).toLowerCase();

  let credential: string;
  if (a.credential) credential = a.credential;
  else if (a.token && (!saved || saved.nodeName !== nodeName || a.token !== saved.token)) {
    log(`joining ${server} as ${nodeName}`);
    const joined = await joinCluster({ server, token: a.token, nodeName, insecure });
    saveCredential(dataDir, { ...joined, token: a.token });
    nodeName = joined.nodeName;
    credential = joined.credential;
  } else if (saved) credential = saved.credential;
  else throw new Error(`not joined yet: --token is required\n${USAGE}`);

  checkPrerequisites();
  const api = new Api({ server, credential, insecure });
  const containerd = new Containerd(a["containerd-address"] as string);
  const runtimeVersion = await containerd.version().catch((err: Error) => {
    throw new Error(`containerd at ${containerd.address} does not answer: ${err.message}`);
  });
  const node = new NodeAgent(api, {
    nodeName,
    dataDir,
    runtimeVersion,
    runtimeUp: () => containerd.ping(),
    log,
  });
  await retry(() => node.register(), "register node");
  node.start();
  log(`node ${nodeName} registered (podCIDR ${node.podCIDR ?? "none"}, runtime ${runtimeVersion})`);

  // Services: routed by the proxy role, named by the DNS role (both from one watch). The DNS
  // role answers on the pods' gateway, where the proxy sends the cluster DNS address.
  const podCIDR = node.podCIDR ?? saved?.podCIDR;
  const clusterDNS = await clusterDnsOf(api);
  const records = new ServiceRecords();
  let dns: DnsServer | undefined;
  if (podCIDR)
    dns = await ensureBridge(podCIDR)
      .then((host) => startDns({ host, port: 53, records, upstreams: hostResolvers(), log }))
      .catch((err: Error) => {
        log(`dns: not serving the cluster DNS address: ${err.message}`);
        return undefined;
      });
  const proxy = new ServiceProxy({
    podCIDR,
    clusterDns: dns && { ip: clusterDNS, target: dns.address },
    log,
  });
  const services = watchServices(api, [proxy, recordsWatcher(records)]);
  const routes = new PeerRoutes(api, nodeName, log);
  routes.start();

  const pods = new PodManager({
    api,
    containerd,
    nodeName,
    dataDir,
    podCIDR,
    clusterDNS,
    hostIP: node.hostIP,
    registries: loadRegistries(a.registries),
    log,
  });
  await pods.start();
  // Logs, exec and port-forward reach this host through its outbound tunnel.
  const tunnel = startTunnel({
    server,
    nodeName,
    credential,
    dataDir,
    insecure,
    log,
    exec: (q) => {
      const id = pods.runningContainer(q.uid, q.container);
      return id ? containerd.spawnExec(id, q.command, q.tty) : undefined;
    },
    resize: (pid, size) => containerd.resizeExec(pid, size),
    podNetwork: (uid) => pods.network(uid),
  });

  const shutdown = () => {
    // Pods keep running without the agent; a restarted agent adopts them.
    log("stopping (pods keep running)");
    node.stop();
    pods.stop();
    // The Services' rules stay, as kube-proxy leaves them: traffic keeps flowing meanwhile.
    services.stop();
    proxy.stop();
    routes.stop();
    void dns?.close();
    tunnel.close();
    api.close();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  trimHeapWhenGrown();
}

/** The cluster DNS address as the control plane has it: kube-system/kube-dns's ClusterIP. */
async function clusterDnsOf(api: Api): Promise<string> {
  try {
    const ip = (await api.get("/api/v1/namespaces/kube-system/services/kube-dns")).spec?.clusterIP;
    if (typeof ip === "string" && isIPv4(ip)) return ip;
  } catch {}
  return DEFAULT_CLUSTER_DNS;
}

/** Where names outside the cluster go: the host's own resolvers. */
function hostResolvers() {
  try {
    return upstreamsFromResolvConf(readFileSync("/etc/resolv.conf", "utf8"));
  } catch {
    return [];
  }
}

/** Host commands the agent runs, with the Debian package that has each. */
const COMMANDS: [string, string][] = [
  ["ctr", "containerd"],
  ["ip", "iproute2"],
  ["unshare", "util-linux"],
  ["iptables", "iptables"],
  ["perl", "perl-base"],
];

/** Fails with a message naming what to install when a command or CNI plugin is missing. */
function checkPrerequisites() {
  const path = (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  const missing = COMMANDS.filter(([cmd]) => !path.some((d) => existsSync(join(d, cmd)))).map(
    ([cmd, pkg]) => `${cmd} (${pkg})`,
  );
  for (const plugin of ["bridge", "host-local", "portmap"])
    if (!CNI_PATH.split(":").some((d) => existsSync(join(d, plugin))))
      missing.push(`CNI plugin ${plugin} (containernetworking-plugins)`);
  if (missing.length) throw new Error(`missing on this host: ${missing.join(", ")}`);
}

/** Retry `fn` with back-off (1 s doubling to 30 s) until it succeeds. */
async function retry<T>(fn: () => Promise<T>, what: string): Promise<T> {
  let delay = 1000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      log(`${what}: ${(err as Error).message}; retrying in ${delay / 1000}s`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(30_000, delay * 2);
    }
  }
}

main().catch((err) => {
  console.error(`kubeflare-agent: ${(err as Error).message}`);
  process.exit(1);
});
