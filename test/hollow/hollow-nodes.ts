// Hollow nodes for Node.js (as kubemark and KWOK): any number of kubelets that exist only as API
// clients of a running control plane, over its public HTTPS API with a bearer token. They
// register Nodes with capacity, renew their Leases every 10 s, watch the pods bound to them and
// move those to Running/Ready (or fail them on request), confirm deletions, and stop
// heartbeating on request. One pod watch and one keep-alive connection pool serve every node;
// each node syncs one pod at a time as a kubelet's status manager does, under a global bound.
// Lease renewals have connections of their own and each node renews on its own clock, one
// renewal in flight at most, as a fleet of real kubelets does: a slow API delays a heartbeat but
// never makes the fleet renew less often.
import { Agent, request } from "node:https";
import { lineSplitter } from "../../src/k8s/lines.ts";
import { httpsJson, type Reply, type Target } from "./https-json.ts";

export interface HollowNodeSpec {
  name: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
  /** Register cordoned (spec.unschedulable). */
  unschedulable?: boolean;
}

export interface HollowOptions {
  server: string;
  token: string;
  /** Seconds between Lease renewals (the kubelet's 10 s). */
  renewSeconds?: number;
  /** Writes in flight at most. */
  concurrency?: number;
  /** Pods for which this returns "Succeeded" or "Failed" end that way instead of running. */
  outcome?: (pod: Pod) => "Succeeded" | "Failed" | undefined;
  /** Pods for which this returns false run but are not Ready. */
  ready?: (pod: Pod) => boolean;
  /** Leave pods as they are (only register, renew Leases and count bindings). */
  runPods?: boolean;
}

/** Pods are plain JSON here. */
export type Pod = any;

const LEASE_NS = "kube-node-lease";
/**
 * Connections kept for Lease renewals: at 100 renewals a second (1,000 nodes), 256 of them keep
 * up with replies as slow as 2.5 s.
 */
const RENEW_SOCKETS = 256;
const merge = "application/merge-patch+json";
const now = () => `${new Date().toISOString().slice(0, 19)}Z`;
const microNow = () => new Date().toISOString().replace("Z", "000Z");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class HollowNodes {
  private readonly url: URL;
  /** Pod writes and everything else, and the Lease renewals' own connections. */
  private readonly target: Target;
  private readonly renewTarget: Target;
  private readonly opts: Required<Omit<HollowOptions, "outcome" | "ready">> &
    Pick<HollowOptions, "outcome" | "ready">;
  /** Our nodes: name → whether its kubelet is alive. */
  private readonly nodes = new Map<string, boolean>();
  private readonly nextRenew = new Map<string, number>();
  /** Pods bound to our nodes, latest version seen, by namespace/name. */
  private readonly pods = new Map<string, Pod>();
  /** uids of pods ever seen bound to one of our nodes. */
  private readonly bound = new Set<string>();
  private readonly failing = new Map<string, string>();
  private readonly queued = new Set<string>();
  /** Pods waiting for a sync, by node, and the nodes in line to run their next one. */
  private readonly queues = new Map<string, string[]>();
  private readonly line: string[] = [];
  private readonly inLine = new Set<string>();
  private readonly busy = new Set<string>();
  private readonly boundListeners = new Set<(count: number) => void>();
  private inflight = 0;
  /** Nodes whose Lease renewal is in flight. */
  private readonly renewing = new Set<string>();
  private closed = false;
  private renewTimer?: NodeJS.Timeout;
  private watchReq?: ReturnType<typeof request>;
  private watching?: Promise<void>;
  private ip = 0;

  constructor(opts: HollowOptions) {
    this.opts = {
      renewSeconds: 10,
      concurrency: 32,
      runPods: true,
      ...opts,
    };
    this.url = new URL(opts.server);
    const target = (maxSockets: number): Target => ({
      agent: new Agent({ keepAlive: true, maxSockets, rejectUnauthorized: false }),
      url: this.url,
      token: opts.token,
      userAgent: "hollow-kubelet/1.0",
    });
    this.target = target(this.opts.concurrency + 8);
    this.renewTarget = target(RENEW_SOCKETS);
  }

  /** How many distinct pods have been seen bound to these nodes. */
  get boundCount(): number {
    return this.bound.size;
  }

  /** Call `fn` with the bound count whenever it grows. */
  onBound(fn: (count: number) => void): () => void {
    this.boundListeners.add(fn);
    return () => this.boundListeners.delete(fn);
  }

  /** Resolves once at least `n` pods have been seen bound to these nodes. */
  waitForBound(n: number, timeoutMs = 600_000): Promise<number> {
    if (this.bound.size >= n) return Promise.resolve(this.bound.size);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`only ${this.bound.size}/${n} pods bound after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onBound((count) => {
        if (count < n) return;
        clearTimeout(timer);
        off();
        resolve(count);
      });
    });
  }

  /** Register nodes (Node with capacity and a Ready condition, plus its Lease). */
  async register(specs: HollowNodeSpec[]): Promise<void> {
    await this.each(specs, async (s) => {
      const resources = { cpu: s.cpu ?? "4", memory: s.memory ?? "8Gi", pods: s.pods ?? "110" };
      const node = await this.call("POST", "/api/v1/nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: s.name,
          labels: { "kubernetes.io/hostname": s.name, "kubernetes.io/os": "linux", ...s.labels },
        },
        spec: { taints: s.taints, unschedulable: s.unschedulable || undefined },
        status: {
          capacity: resources,
          allocatable: resources,
          conditions: [readyCondition()],
          addresses: [{ type: "Hostname", address: s.name }],
          nodeInfo: {
            kubeletVersion: "v1.32.0-hollow",
            containerRuntimeVersion: "hollow://1.0",
            osImage: "hollow",
            kernelVersion: "0",
            operatingSystem: "linux",
            architecture: "amd64",
          },
        },
      });
      if (node.status !== 201 && node.status !== 409)
        throw new Error(`register ${s.name}: ${node.status} ${node.body.slice(0, 300)}`);
      const lease = await this.call(
        "POST",
        `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases`,
        {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: s.name },
          spec: { holderIdentity: s.name, leaseDurationSeconds: 40, renewTime: microNow() },
        },
      );
      if (lease.status !== 201 && lease.status !== 409)
        throw new Error(`lease ${s.name}: ${lease.status} ${lease.body.slice(0, 300)}`);
      this.nodes.set(s.name, true);
      // Spread renewals evenly over the period.
      this.nextRenew.set(s.name, Date.now() + Math.random() * this.opts.renewSeconds * 1000);
    });
  }

  /** Begin renewing Leases and running pods. */
  start(): void {
    if (!this.renewTimer) {
      // Registering 1,000 nodes takes longer than a period, so by now every node would be due
      // at once, and renewing together they would stay together: spread them out again.
      const t = Date.now();
      for (const name of this.nextRenew.keys())
        this.nextRenew.set(name, t + Math.random() * this.opts.renewSeconds * 1000);
    }
    this.renewTimer ??= setInterval(() => this.renewDue(), 100);
    this.watching ??= this.watchLoop();
  }

  /** The kubelet of `name` dies: no more Lease renewals, pods left as they are. */
  stop(name: string): void {
    if (this.nodes.has(name)) this.nodes.set(name, false);
  }

  /** The kubelet of `name` comes back: it posts Ready, renews its Lease and syncs its pods. */
  async resume(name: string): Promise<void> {
    if (!this.nodes.has(name)) return;
    this.nodes.set(name, true);
    await this.call(
      "PATCH",
      `/api/v1/nodes/${name}/status`,
      {
        status: { conditions: [readyCondition()] },
      },
      "application/strategic-merge-patch+json",
    );
    await this.renew(name);
    for (const [key, pod] of this.pods) if (pod.spec?.nodeName === name) this.enqueue(key);
  }

  /** Make a pod on one of these nodes fail (its container exits 1). */
  fail(namespace: string, name: string, reason = "Error"): void {
    const key = `${namespace}/${name}`;
    this.failing.set(key, reason);
    if (this.pods.has(key)) this.enqueue(key);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.watchReq?.destroy();
    await this.watching?.catch(() => {});
    while (this.inflight > 0 || this.renewing.size > 0) await sleep(20);
    this.target.agent.destroy();
    this.renewTarget.agent.destroy();
  }

  // -------------------------------------------------------------------------
  // Leases

  /**
   * Each node renews when its own period is up, whatever the others' renewals are doing: a
   * global bound on renewals in flight made the fleet renew less often as soon as replies
   * slowed (16 in flight at 0.3 s each is 53 renewals a second, not the 100 of 1,000 nodes),
   * and the late renewals took nodes Unknown in the scheduler benchmark.
   */
  private renewDue() {
    const t = Date.now();
    for (const [name, due] of this.nextRenew) {
      if (due > t || !this.nodes.get(name) || this.renewing.has(name)) continue;
      this.nextRenew.set(name, t + this.opts.renewSeconds * 1000);
      this.renewing.add(name);
      void this.renew(name)
        .catch(() => {
          // Try again soon; the grace period is several renewals long.
          this.nextRenew.set(name, Date.now() + 1000);
        })
        .finally(() => this.renewing.delete(name));
    }
  }

  private async renew(name: string) {
    const r = await httpsJson(
      this.renewTarget,
      "PATCH",
      `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases/${name}`,
      { spec: { renewTime: microNow() } },
      merge,
    );
    if (r.status >= 300) throw new Error(`renew ${name}: ${r.status}`);
  }

  // -------------------------------------------------------------------------
  // Pods

  private async watchLoop() {
    let backoff = 200;
    while (!this.closed) {
      try {
        const rv = await this.listBound();
        await this.watchFrom(rv);
        backoff = 200;
      } catch (err) {
        if (this.closed) return;
        console.warn(`hollow nodes: pod watch: ${(err as Error).message}`);
        await sleep(backoff);
        backoff = Math.min(5000, backoff * 2);
      }
    }
  }

  /** List bound pods page by page; returns the list's resourceVersion. */
  private async listBound(): Promise<string> {
    let cont = "";
    let rv = "";
    const seen = new Set<string>();
    for (;;) {
      const q = `fieldSelector=${encodeURIComponent("spec.nodeName!=")}&limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`;
      const r = await this.call("GET", `/api/v1/pods?${q}`);
      if (r.status !== 200) throw new Error(`list pods: ${r.status} ${r.body.slice(0, 200)}`);
      const list = JSON.parse(r.body);
      rv ||= list.metadata.resourceVersion;
      for (const pod of list.items) {
        seen.add(keyOf(pod));
        this.observe(pod);
      }
      cont = list.metadata.continue ?? "";
      if (!cont) break;
    }
    for (const key of this.pods.keys()) if (!seen.has(key)) this.pods.delete(key);
    return rv;
  }

  private watchFrom(rv: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const q = `watch=1&allowWatchBookmarks=true&resourceVersion=${rv}&fieldSelector=${encodeURIComponent("spec.nodeName!=")}`;
      const req = request(
        {
          agent: false,
          host: this.url.hostname,
          port: this.url.port,
          method: "GET",
          path: `/api/v1/pods?${q}`,
          rejectUnauthorized: false,
          headers: { authorization: `Bearer ${this.opts.token}`, accept: "application/json" },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`watch pods: ${res.statusCode}`));
            return;
          }
          res.setEncoding("utf8");
          res.on(
            "data",
            lineSplitter((line) => {
              const ev = JSON.parse(line);
              if (ev.type === "ERROR") {
                req.destroy();
                reject(new Error(`watch pods: ${ev.object?.message ?? "error"}`));
                return false;
              }
              if (ev.type === "BOOKMARK") return;
              if (ev.type === "DELETED") this.pods.delete(keyOf(ev.object));
              else this.observe(ev.object);
            }),
          );
          res.on("end", resolve);
          res.on("error", reject);
        },
      );
      req.on("error", (err) => (this.closed ? resolve() : reject(err)));
      req.end();
      this.watchReq = req;
    });
  }

  private observe(pod: Pod) {
    const node = pod.spec?.nodeName;
    const key = keyOf(pod);
    if (!node || !this.nodes.has(node)) {
      this.pods.delete(key);
      return;
    }
    this.pods.set(key, pod);
    const uid = pod.metadata.uid;
    if (!this.bound.has(uid)) {
      this.bound.add(uid);
      for (const fn of this.boundListeners) fn(this.bound.size);
    }
    if (this.opts.runPods) this.enqueue(key);
  }

  private enqueue(key: string) {
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const node = this.pods.get(key)?.spec?.nodeName ?? "";
    const q = this.queues.get(node) ?? [];
    this.queues.set(node, q);
    q.push(key);
    this.ready(node);
    this.pump();
  }

  /** Put a node in line for its next pod sync, unless it is busy or already in line. */
  private ready(node: string) {
    if (this.busy.has(node) || this.inLine.has(node) || !this.queues.get(node)?.length) return;
    this.inLine.add(node);
    this.line.push(node);
  }

  /**
   * A kubelet's status manager syncs its pods one at a time, so each node has one write in
   * flight at most (and all of them together at most `concurrency`): twenty nodes make twenty
   * writers, as twenty kubelets would, not a pool of 32 hammering the API.
   */
  private pump() {
    while (this.inflight < this.opts.concurrency && this.line.length && !this.closed) {
      const node = this.line.shift() as string;
      this.inLine.delete(node);
      const q = this.queues.get(node) as string[];
      const key = q.shift() as string;
      if (!q.length) this.queues.delete(node);
      this.queued.delete(key);
      this.busy.add(node);
      this.inflight++;
      this.sync(key)
        .catch((err) => console.warn(`hollow nodes: ${key}: ${(err as Error).message}`))
        .finally(() => {
          this.inflight--;
          this.busy.delete(node);
          this.ready(node);
          this.pump();
        });
    }
  }

  /** One kubelet sync of one pod: confirm its deletion, or bring its status where it belongs. */
  private async sync(key: string) {
    const pod = this.pods.get(key);
    if (!pod || !this.nodes.get(pod.spec.nodeName)) return;
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    if (pod.metadata.deletionTimestamp) {
      await this.call("DELETE", path, {
        apiVersion: "v1",
        kind: "DeleteOptions",
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      });
      return;
    }
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") return;
    const failure = this.failing.get(key);
    const outcome = failure ? "Failed" : this.opts.outcome?.(pod);
    const ready = !outcome && (this.opts.ready ? this.opts.ready(pod) : true);
    const want = outcome ?? "Running";
    const readyNow =
      (pod.status?.conditions ?? []).find((c: Pod) => c.type === "Ready")?.status === "True";
    if (phase === want && readyNow === ready) return;
    const status = podStatus(pod, want, ready, failure, () => this.nextIp());
    const r = await this.call("PATCH", `${path}/status`, { status }, merge);
    if (r.status >= 300 && r.status !== 404)
      throw new Error(`status: ${r.status} ${r.body.slice(0, 200)}`);
    if (failure) this.failing.delete(key);
  }

  private nextIp() {
    const n = this.ip++;
    return `10.42.${(n >> 8) & 255}.${n & 255 || 1}`;
  }

  // -------------------------------------------------------------------------
  // HTTP

  private async each<T>(items: T[], fn: (t: T) => Promise<void>) {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(this.opts.concurrency, items.length) }, async () => {
        while (next < items.length) await fn(items[next++]);
      }),
    );
  }

  call(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<Reply> {
    return httpsJson(this.target, method, path, body, contentType);
  }
}

const keyOf = (pod: Pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;

function readyCondition() {
  return {
    type: "Ready",
    status: "True",
    reason: "KubeletReady",
    message: "kubelet is posting ready status",
    lastHeartbeatTime: now(),
    lastTransitionTime: now(),
  };
}

function podStatus(
  pod: Pod,
  phase: string,
  ready: boolean,
  reason: string | undefined,
  ip: () => string,
) {
  const t = now();
  const r = ready ? "True" : "False";
  const terminated = phase !== "Running";
  const podIP = pod.status?.podIP ?? ip();
  return {
    phase,
    hostIP: "192.0.2.1",
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: pod.status?.startTime ?? t,
    conditions: [
      { type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: t },
      { type: "Initialized", status: "True", lastProbeTime: null, lastTransitionTime: t },
      { type: "ContainersReady", status: r, lastProbeTime: null, lastTransitionTime: t },
      { type: "Ready", status: r, lastProbeTime: null, lastTransitionTime: t },
    ],
    containerStatuses: (pod.spec.containers ?? []).map((c: Pod) => ({
      name: c.name,
      image: c.image,
      imageID: `hollow://${c.image}`,
      containerID: `hollow://${pod.metadata.uid}/${c.name}`,
      ready: ready && !terminated,
      started: !terminated,
      restartCount: 0,
      state: terminated
        ? {
            terminated: {
              exitCode: phase === "Succeeded" ? 0 : 1,
              reason: phase === "Succeeded" ? "Completed" : (reason ?? "Error"),
              startedAt: t,
              finishedAt: t,
            },
          }
        : { running: { startedAt: t } },
    })),
  };
}
