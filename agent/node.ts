// The Node object of this host: registration with capacity, addresses and nodeInfo, a status
// heartbeat with the pressure conditions, and the Lease in kube-node-lease renewed every 10 s.
import { readFileSync, statfsSync } from "node:fs";
import { cpus, freemem, hostname, networkInterfaces, release, totalmem } from "node:os";
import { type Api, ApiError, MERGE_PATCH, STRATEGIC_PATCH } from "./api.ts";

const LEASE_NS = "kube-node-lease";
const LEASE_SECONDS = 40;
const RENEW_MS = 10_000;
/** Node status is posted this often, and at once when readiness changes (checked every 10 s). */
const STATUS_MS = 60_000;

export interface NodeOptions {
  nodeName: string;
  dataDir: string;
  runtimeVersion: string;
  /** Whether the container runtime answers; the node is NotReady while it does not. */
  runtimeUp?: () => Promise<boolean>;
  log: (msg: string) => void;
}

const microNow = () => new Date().toISOString().replace("Z", "000Z");
const now = () => `${new Date().toISOString().slice(0, 19)}Z`;

export function osImage(): string {
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text);
    if (m) return m[1];
  } catch {}
  return "Linux";
}

const ARCH: Record<string, string> = { x64: "amd64", ia32: "386", ppc64: "ppc64le" };

/** Node's process.arch in Go's (and Kubernetes') spelling. */
export const goArch = (arch: string = process.arch) => ARCH[arch] ?? arch;

/** The first non-internal IPv4 address of the host (the node's InternalIP). */
export function internalIP(): string {
  const ifs = networkInterfaces();
  for (const [name, addrs] of Object.entries(ifs)) {
    if (name.startsWith("kubeflare") || name.startsWith("veth") || name.startsWith("cni")) continue;
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

function condition(type: string, ok: boolean, reason: string, message: string, since: string) {
  // Ready is the only condition whose "good" value is True.
  const status = type === "Ready" ? (ok ? "True" : "False") : ok ? "False" : "True";
  return {
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now(),
    lastTransitionTime: since,
  };
}

export class NodeAgent {
  readonly opts: NodeOptions;
  private readonly api: Api;
  private leaseTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private readonly since = now();
  private ready = true;
  private readySince = now();
  private lastStatus = Date.now();
  podCIDR?: string;
  hostIP = internalIP();

  constructor(api: Api, opts: NodeOptions) {
    this.api = api;
    this.opts = opts;
  }

  private resources() {
    const memKi = Math.floor(totalmem() / 1024);
    return { cpu: String(cpus().length), memory: `${memKi}Ki`, pods: "110" };
  }

  private conditions() {
    const memOk = freemem() / totalmem() > 0.05;
    let diskOk = true;
    try {
      const fs = statfsSync(this.opts.dataDir);
      diskOk = fs.bavail / fs.blocks > 0.1;
    } catch {}
    return [
      condition(
        "MemoryPressure",
        memOk,
        memOk ? "KubeletHasSufficientMemory" : "KubeletHasInsufficientMemory",
        memOk
          ? "kubelet has sufficient memory available"
          : "kubelet has insufficient memory available",
        this.since,
      ),
      condition(
        "DiskPressure",
        diskOk,
        diskOk ? "KubeletHasNoDiskPressure" : "KubeletHasDiskPressure",
        diskOk ? "kubelet has no disk pressure" : "kubelet has disk pressure",
        this.since,
      ),
      condition(
        "PIDPressure",
        true,
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
        this.since,
      ),
      this.ready
        ? condition(
            "Ready",
            true,
            "KubeletReady",
            "kubelet is posting ready status",
            this.readySince,
          )
        : condition(
            "Ready",
            false,
            "KubeletNotReady",
            "container runtime is down: containerd does not answer",
            this.readySince,
          ),
    ];
  }

  private status() {
    const r = this.resources();
    return {
      capacity: r,
      allocatable: r,
      conditions: this.conditions(),
      addresses: [
        { type: "InternalIP", address: this.hostIP },
        { type: "Hostname", address: hostname() },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        machineID: readId("/etc/machine-id"),
        systemUUID: readId("/sys/class/dmi/id/product_uuid"),
        bootID: readId("/proc/sys/kernel/random/boot_id"),
        kernelVersion: release(),
        osImage: osImage(),
        containerRuntimeVersion: this.opts.runtimeVersion,
        kubeletVersion: "v1.32.0-kubeflare",
        kubeProxyVersion: "v1.32.0-kubeflare",
        operatingSystem: "linux",
        architecture: goArch(),
      },
    };
  }

  /** Create the Node (or update it when it exists), then its Lease; returns spec.podCIDR. */
  async register(): Promise<void> {
    const name = this.opts.nodeName;
    const labels = {
      "kubernetes.io/hostname": name,
      "kubernetes.io/os": "linux",
      "kubernetes.io/arch": goArch(),
    };
    const body = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels },
      spec: {},
      status: this.status(),
    };
    let node: any;
    const r = await this.api.raw("POST", "/api/v1/nodes", body);
    if (r.status === 201 || r.status === 200) node = r.body;
    else if (r.status === 409) {
      await this.api.call("PATCH", `/api/v1/nodes/${name}`, { metadata: { labels } }, MERGE_PATCH);
      node = await this.postStatus();
    } else throw new ApiError("POST", "/api/v1/nodes", r.status, r.body);
    // The control plane may set the podCIDR right after create; read it back.
    if (!node?.spec?.podCIDR) node = await this.api.get(`/api/v1/nodes/${name}`);
    this.podCIDR = node?.spec?.podCIDR;
    await this.renewLease();
  }

  async postStatus(): Promise<any> {
    return this.api.call(
      "PATCH",
      `/api/v1/nodes/${this.opts.nodeName}/status`,
      { status: this.status() },
      STRATEGIC_PATCH,
    );
  }

  async renewLease(): Promise<void> {
    const name = this.opts.nodeName;
    const path = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases/${name}`;
    const r = await this.api.raw(
      "PATCH",
      path,
      {
        spec: { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime: microNow() },
      },
      MERGE_PATCH,
    );
    if (r.status === 404) {
      await this.api.call("POST", `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases`, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace: LEASE_NS },
        spec: {
          holderIdentity: name,
          leaseDurationSeconds: LEASE_SECONDS,
          renewTime: microNow(),
        },
      });
    } else if (r.status >= 300) throw new ApiError("PATCH", path, r.status, r.body);
  }

  /** Lease every 10 s and Node status every minute; failures are logged and retried. */
  start(): void {
    this.leaseTimer = setInterval(() => {
      this.renewLease().catch((err) => this.opts.log(`lease: ${err.message}`));
    }, RENEW_MS);
    this.statusTimer = setInterval(() => void this.heartbeat(), RENEW_MS);
  }

  private async heartbeat() {
    const up = this.opts.runtimeUp ? await this.opts.runtimeUp().catch(() => false) : true;
    const changed = up !== this.ready;
    if (changed) {
      this.ready = up;
      this.readySince = now();
      this.opts.log(
        up ? "container runtime is back: node Ready" : "container runtime is down: node NotReady",
      );
    }
    if (!changed && Date.now() - this.lastStatus < STATUS_MS) return;
    try {
      await this.postStatus();
      this.lastStatus = Date.now();
    } catch (err) {
      this.opts.log(`node status: ${(err as Error).message}`);
    }
  }

  stop(): void {
    clearInterval(this.leaseTimer);
    clearInterval(this.statusTimer);
  }
}

function readId(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}
