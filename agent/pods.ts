// The kubelet's pod loop: list+watch the pods bound to this node, one PodWorker per pod, task
// exits from containerd dispatched to their worker, and adoption of what a previous agent run
// left: running containers of current pods are kept, anything else is removed.
import { cpus, totalmem } from "node:os";
import { type Api, informer } from "./api.ts";
import { Backoff } from "./backoff.ts";
import { Cni } from "./cni.ts";
import type { Containerd } from "./containerd.ts";
import type { ObjectSource } from "./env.ts";
import { eventRecorder } from "./events.ts";
import { Images } from "./images.ts";
import { installLogger } from "./logger.ts";
import { type Adopted, LABELS, PodWorker, type Runtime } from "./pod-worker.ts";
import type { PodNetwork } from "./port-forward.ts";
import type { RegistryConfig } from "./registries.ts";
import { tearDownSandbox } from "./sandbox.ts";
import { ServiceAccountTokens } from "./service-account-tokens.ts";

export interface PodManagerOptions {
  api: Api;
  containerd: Containerd;
  nodeName: string;
  dataDir: string;
  podCIDR?: string;
  hostIP: string;
  /** The cluster DNS address (kube-system/kube-dns's ClusterIP). */
  clusterDNS?: string;
  registries: RegistryConfig;
  log: (msg: string) => void;
}

export class PodManager {
  private readonly opts: PodManagerOptions;
  private readonly workers = new Map<string, PodWorker>();
  private readonly byContainer = new Map<string, PodWorker>();
  private readonly rt: Runtime;
  private stopInformer?: () => void;
  private stopEvents?: () => void;
  private sweepTimer?: NodeJS.Timeout;
  /** Containers found at start, by pod uid, until the first list decides their fate. */
  private found?: Map<string, Adopted[]>;

  constructor(opts: PodManagerOptions) {
    this.opts = opts;
    const api = opts.api;
    const get = async (path: string) => {
      const r = await api.raw("GET", path);
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body?.message ?? ""}`);
      return r.body;
    };
    const tokens = new ServiceAccountTokens(api);
    const objects: ObjectSource = {
      configMap: (ns, name) => get(`/api/v1/namespaces/${ns}/configmaps/${name}`),
      secret: (ns, name) => get(`/api/v1/namespaces/${ns}/secrets/${name}`),
      serviceAccountToken: (pod, src) => tokens.get(pod, src),
    };
    this.rt = {
      api,
      containerd: opts.containerd,
      cni: new Cni(opts.dataDir, opts.podCIDR ?? "10.42.0.0/24"),
      images: new Images(opts.containerd, opts.registries, opts.log),
      backoff: new Backoff(),
      objects,
      dataDir: opts.dataDir,
      hostIP: opts.hostIP,
      clusterDNS: opts.clusterDNS,
      logger: installLogger(opts.dataDir),
      nodeCPU: cpus().length,
      nodeMemory: totalmem(),
      log: opts.log,
      event: eventRecorder(api, opts.nodeName),
      track: (id, worker) => {
        if (worker) this.byContainer.set(id, worker);
        else this.byContainer.delete(id);
      },
    };
  }

  /** The running container `name` of pod `uid` on this node, if any. */
  runningContainer(uid: string, name: string): string | undefined {
    return this.workers.get(uid)?.runningContainer(name);
  }

  /** Where a pod running here has its ports (port-forward); undefined when it does not run here. */
  network(uid: string): PodNetwork | undefined {
    return this.workers.get(uid)?.network();
  }

  async start(): Promise<void> {
    const c = this.opts.containerd;
    this.stopEvents = c.onExit((ev) => {
      this.byContainer.get(ev.containerId)?.exited(ev.containerId, ev.exitStatus, ev.exitedAt);
    }, this.opts.log);
    this.found = await this.scan();
    const selector = encodeURIComponent(`spec.nodeName=${this.opts.nodeName}`);
    const inf = informer(this.opts.api, `/api/v1/pods?fieldSelector=${selector}`, {
      onList: (items) => this.onList(items),
      onEvent: (type, pod) => {
        if (type === "DELETED") this.workers.get(pod.metadata.uid)?.removed();
        else this.upsert(pod);
      },
      log: this.opts.log,
    });
    this.stopInformer = inf.stop;
    // Level-triggered safety net: exits missed by the event stream, finished workers.
    this.sweepTimer = setInterval(() => void this.sweep(), 10_000);
  }

  /** Containers of ours that exist now, grouped by pod uid. */
  private async scan(): Promise<Map<string, Adopted[]>> {
    const c = this.opts.containerd;
    const containers = await c.containers();
    const tasks = await c.tasks();
    const out = new Map<string, Adopted[]>();
    for (const [id, labels] of containers) {
      const uid = labels[LABELS.uid] ?? "";
      const task = tasks.get(id);
      const running = task?.status === "RUNNING";
      let exitCode: number | undefined;
      if (task && !running) exitCode = await c.deleteTask(id);
      const list = out.get(uid) ?? [];
      list.push({
        id,
        name: labels[LABELS.container] ?? "",
        restartCount: Number(labels[LABELS.restart] ?? 0),
        running,
        exitCode,
      });
      out.set(uid, list);
    }
    return out;
  }

  private onList(items: any[]) {
    const seen = new Set<string>();
    for (const pod of items) seen.add(pod.metadata.uid);
    if (this.found) {
      const found = this.found;
      this.found = undefined;
      for (const pod of items) {
        const adopted = found.get(pod.metadata.uid);
        if (!adopted || pod.metadata.deletionTimestamp) continue;
        const w = new PodWorker(pod, this.rt);
        w.adopt(adopted);
        this.workers.set(pod.metadata.uid, w);
        this.opts.log(
          `${pod.metadata.namespace}/${pod.metadata.name}: adopted ${adopted.length} container(s)`,
        );
      }
      void this.removeOrphans(found, seen);
    }
    for (const pod of items) this.upsert(pod);
    for (const [uid, w] of this.workers) if (!seen.has(uid)) w.removed();
  }

  /** Containers and sandboxes no current pod owns. */
  private async removeOrphans(found: Map<string, Adopted[]>, live: Set<string>) {
    for (const [uid, list] of found) {
      if (live.has(uid)) continue;
      for (const a of list) await this.opts.containerd.remove(a.id);
    }
    for (const uid of this.rt.cni.sandboxes()) {
      if (live.has(uid) || this.workers.has(uid)) continue;
      this.opts.log(`removing orphaned sandbox ${uid}`);
      await tearDownSandbox(uid, this.opts.dataDir, this.rt.cni).catch((err) =>
        this.opts.log(`orphaned sandbox ${uid}: ${err.message}`),
      );
    }
  }

  private upsert(pod: any) {
    if (pod.spec?.nodeName !== this.opts.nodeName) {
      this.workers.get(pod.metadata.uid)?.removed();
      return;
    }
    const uid = pod.metadata.uid;
    let w = this.workers.get(uid);
    if (w?.done) return;
    if (!w) {
      w = new PodWorker(pod, this.rt);
      this.workers.set(uid, w);
    }
    w.update(pod);
  }

  private async sweep() {
    for (const [uid, w] of this.workers) if (w.done) this.workers.delete(uid);
    try {
      const tasks = await this.opts.containerd.tasks();
      for (const [id, w] of this.byContainer) {
        const t = tasks.get(id);
        if (t && t.status === "STOPPED") {
          const code = await this.opts.containerd.deleteTask(id);
          w.exited(id, code ?? 0, new Date().toISOString());
        }
      }
    } catch (err) {
      this.opts.log(`sweep: ${(err as Error).message}`);
    }
  }

  stop(): void {
    this.stopInformer?.();
    this.stopEvents?.();
    clearInterval(this.sweepTimer);
  }
}
