// One worker per pod, syncs serialised: sandbox, init containers in order, containers with
// restart policy and back-off, probes, status through pods/status, and graceful termination
// ending with the kubelet's final DELETE.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseQuantity } from "../src/k8s/quantity.ts";
import { type Api, ApiError, MERGE_PATCH } from "./api.ts";
import type { Backoff } from "./backoff.ts";
import { type Cni, netnsPath } from "./cni.ts";
import type { Containerd } from "./containerd.ts";
import { ConfigError, expand, type ObjectSource, resolveEnv } from "./env.ts";
import type { Recorder } from "./events.ts";
import { ImageError, type Images, type PulledImage } from "./images.ts";
import { containerLogFile, logUri, podLogDir } from "./logger.ts";
import type { PodNetwork } from "./port-forward.ts";
import { ContainerProbes, probeOnce } from "./probes.ts";
import { type Sandbox, setUpSandbox, tearDownSandbox } from "./sandbox.ts";
import { heldCapabilities, needsImageUser, securityArgs } from "./security-context.ts";
import {
  buildStatus,
  type ContainerRecord,
  type ContainerState,
  isRunning,
  podPhase,
  shouldRestart,
} from "./status.ts";
import { containerMounts, prepareVolumes } from "./volumes.ts";

export const LABELS = {
  uid: "io.kubernetes.pod.uid",
  name: "io.kubernetes.pod.name",
  namespace: "io.kubernetes.pod.namespace",
  container: "io.kubernetes.container.name",
  restart: "io.kubernetes.container.restartCount",
};

/** What every worker shares. */
export interface Runtime {
  api: Api;
  containerd: Containerd;
  cni: Cni;
  images: Images;
  backoff: Backoff;
  objects: ObjectSource;
  dataDir: string;
  hostIP: string;
  /** The cluster DNS address pods resolve with. */
  clusterDNS?: string;
  logger: string;
  nodeCPU: number;
  nodeMemory: number;
  log(msg: string): void;
  event: Recorder;
  /** Register/unregister a containerd id → worker mapping for exit events. */
  track(id: string, worker: PodWorker | undefined): void;
}

/** An existing containerd container found at start-up. */
export interface Adopted {
  id: string;
  name: string;
  restartCount: number;
  running: boolean;
  exitCode?: number;
}

/** How long ErrImagePull shows before the wait is reported as ImagePullBackOff. */
const PULL_ERROR_SHOWN_MS = 3000;
/** How often API-backed volumes (configMap, secret, downwardAPI, projected) are rewritten. */
const VOLUME_REFRESH_MS = 60_000;
const now = () => `${new Date().toISOString().slice(0, 19)}Z`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** containerd id of one run: readable, unique per pod and attempt, at most 76 characters. */
export function containerId(pod: any, name: string, restart: number): string {
  const trim = (s: string, n: number) => s.slice(0, n).replace(/[^A-Za-z0-9]+$/, "");
  const uid = String(pod.metadata.uid).replace(/-/g, "").slice(0, 8);
  return `${trim(pod.metadata.name, 30)}-${uid}-${trim(name, 25)}-${restart}`;
}

export class PodWorker {
  pod: any;
  readonly uid: string;
  /** True once the pod is gone and everything of it removed. */
  done = false;
  private readonly rt: Runtime;
  private readonly records = new Map<string, ContainerRecord>();
  private readonly probes = new Map<string, ContainerProbes>();
  private readonly exitWaiters = new Map<string, () => void>();
  /** Exits of tasks whose `ctr run` had not returned yet. */
  private readonly pullFailedAt = new Map<string, number>();
  private readonly earlyExits = new Map<string, { code: number; at: string }>();
  private sandbox?: Sandbox;
  private volumes?: Map<string, string>;
  private startTime?: string;
  private lastSent = "";
  private gone = false;
  private torn = false;
  private syncing = false;
  private again = false;
  private wakeAt = 0;
  private timer?: NodeJS.Timeout;
  private readonly seenAt = Date.now();
  private volumesAt = 0;
  /** Whether the pod has volumes whose content comes from the API. */
  private readonly refreshes: boolean;

  constructor(pod: any, rt: Runtime) {
    this.pod = pod;
    this.uid = pod.metadata.uid;
    this.rt = rt;
    this.startTime = pod.status?.startTime;
    this.refreshes = (pod.spec.volumes ?? []).some(
      (v: any) => v.configMap || v.secret || v.downwardAPI || v.projected,
    );
  }

  /** The pod's network namespace once its sandbox is up (none for a hostNetwork pod). */
  network(): PodNetwork | undefined {
    if (!this.sandbox || this.torn || this.gone) return undefined;
    const ip = this.sandbox.ip;
    return this.sandbox.hostNetwork ? { ip } : { ip, netns: netnsPath(this.uid) };
  }

  /** The id of the container `name` while it runs (what `kubectl exec` enters). */
  runningContainer(name: string): string | undefined {
    const r = this.records.get(name);
    return r && isRunning(r) ? r.containerId : undefined;
  }

  private get key() {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  update(pod: any): void {
    this.pod = pod;
    this.kick();
  }

  /** The pod was deleted from the API (no final DELETE needed). */
  removed(): void {
    this.gone = true;
    this.kick();
  }

  /** Takes over containers a previous agent run started (found by their labels). */
  adopt(found: Adopted[]): void {
    const old = new Map<string, any>(
      [
        ...(this.pod.status?.containerStatuses ?? []),
        ...(this.pod.status?.initContainerStatuses ?? []),
      ].map((s: any) => [s.name, s]),
    );
    // Newest run of each container wins; older runs are removed.
    const newest = new Map<string, Adopted>();
    for (const f of found) {
      const cur = newest.get(f.name);
      if (!cur || f.restartCount > cur.restartCount) newest.set(f.name, f);
    }
    for (const f of found) if (newest.get(f.name) !== f) void this.rt.containerd.remove(f.id);
    // Containers whose network namespace is gone cannot be reached: restart them in a new one.
    const lost = !this.pod.spec.hostNetwork && !existsSync(netnsPath(this.uid));
    for (const [name, f] of newest) {
      const spec = this.specOf(name);
      if (lost && f.running) {
        this.rt.log(`${this.key}: sandbox of ${name} is gone; restarting it`);
        void this.rt.containerd.remove(f.id);
        f.running = false;
        f.exitCode = 137;
      }
      if (!spec) {
        void this.rt.containerd.remove(f.id);
        continue;
      }
      const prev = old.get(name);
      const sameRun = prev?.containerID === `containerd://${f.id}`;
      const startedAt =
        (sameRun && (prev.state?.running?.startedAt ?? prev.state?.terminated?.startedAt)) || now();
      const state: ContainerState = f.running
        ? { running: { startedAt } }
        : {
            terminated: {
              exitCode: f.exitCode ?? 0,
              reason: (f.exitCode ?? 0) === 0 ? "Completed" : "Error",
              startedAt,
              finishedAt: now(),
              containerID: `containerd://${f.id}`,
            },
          };
      this.records.set(name, {
        name,
        image: spec.image,
        imageID: (sameRun && prev.imageID) || "",
        containerId: f.id,
        state,
        lastState: sameRun ? prev.lastState : undefined,
        restartCount: f.restartCount,
        ready: false,
        started: f.running,
      });
      this.rt.track(f.id, this);
      if (f.running) this.startProbes(spec, f.id);
    }
    // Adopted containers that finished: their init predecessors are done.
    const inits = this.pod.spec.initContainers ?? [];
    if (newest.size && [...newest.keys()].some((n) => !inits.some((c: any) => c.name === n))) {
      for (const c of inits)
        if (!this.records.has(c.name))
          this.records.set(c.name, {
            ...this.newRecord(c),
            state: { terminated: { exitCode: 0, reason: "Completed", finishedAt: now() } },
          });
    }
  }

  private specOf(name: string): any {
    return [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers].find(
      (c: any) => c.name === name,
    );
  }

  /**
   * A container the agent has not run (yet): the reported status carries over what an earlier
   * agent run knew (restart count, last state, a finished init container).
   */
  private newRecord(c: any): ContainerRecord {
    const st = this.pod.status ?? {};
    const prev = [...(st.containerStatuses ?? []), ...(st.initContainerStatuses ?? [])].find(
      (s: any) => s.name === c.name,
    );
    const isInit = (this.pod.spec.initContainers ?? []).some((x: any) => x.name === c.name);
    const doneInit = isInit && prev?.state?.terminated?.exitCode === 0;
    const ran = prev?.containerID?.startsWith("containerd://");
    return {
      name: c.name,
      image: c.image,
      imageID: prev?.imageID ?? "",
      containerId: ran ? prev.containerID.slice("containerd://".length) : undefined,
      state: doneInit ? prev.state : { waiting: { reason: "ContainerCreating" } },
      lastState: prev?.lastState?.terminated ? prev.lastState : undefined,
      restartCount: prev?.restartCount ?? 0,
      ready: false,
      started: false,
    };
  }

  private record(c: any): ContainerRecord {
    let r = this.records.get(c.name);
    if (!r) {
      r = this.newRecord(c);
      this.records.set(c.name, r);
    }
    return r;
  }

  /** A task of this pod exited (from containerd's event stream). */
  exited(id: string, code: number, exitedAt: string): void {
    const r = [...this.records.values()].find((x) => x.containerId === id);
    if (!r) this.earlyExits.set(id, { code, at: exitedAt });
    if (r && isRunning(r)) {
      this.probes.get(r.name)?.stop();
      this.probes.delete(r.name);
      const startedAt = "running" in r.state ? r.state.running.startedAt : undefined;
      r.state = {
        terminated: {
          exitCode: code,
          reason: code === 0 ? "Completed" : "Error",
          startedAt,
          finishedAt: /^\d{4}-/.test(exitedAt) ? `${exitedAt.slice(0, 19)}Z` : now(),
          // Kept with the state: it names this run once the state becomes lastState.
          containerID: `containerd://${id}`,
        },
      };
      r.ready = false;
      this.rt.log(`${this.key}: container ${r.name} exited with ${code}`);
    }
    // Free the shim; the container (and its log) stays until it is replaced.
    void this.rt.containerd.deleteTask(id);
    this.exitWaiters.get(id)?.();
    this.kick();
  }

  /** Run sync soon; runs are serialised and coalesced. */
  kick(): void {
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = true;
    this.again = false;
    this.sync()
      .catch((err) => {
        this.rt.log(`${this.key}: sync: ${(err as Error).message}`);
        this.wake(5000);
      })
      .finally(() => {
        this.syncing = false;
        if (this.again && !this.done) this.kick();
      });
  }

  /** Sync again after `ms` (the earliest request wins). */
  private wake(ms: number): void {
    const at = Date.now() + ms;
    if (this.timer && this.wakeAt <= at) return;
    clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
  }

  private async sync(): Promise<void> {
    if (this.done) return;
    if (this.gone || this.pod.metadata.deletionTimestamp) return this.terminate();
    // A pod reported finished never runs again (e.g. a Job pod seen by a restarted agent).
    const reported = this.pod.status?.phase;
    if (
      (reported === "Succeeded" || reported === "Failed") &&
      ![...this.records.values()].some(isRunning)
    )
      return this.finish();
    const spec = this.pod.spec;
    const inits: any[] = spec.initContainers ?? [];
    const mains: any[] = spec.containers ?? [];
    this.startTime ??= now();
    const phase = this.phase();
    if (phase === "Succeeded" || phase === "Failed") {
      await this.finish();
      return this.report();
    }
    if (!this.sandbox) {
      try {
        this.sandbox = await setUpSandbox(
          this.pod,
          this.rt.dataDir,
          this.rt.cni,
          this.rt.hostIP,
          this.rt.clusterDNS,
        );
      } catch (err) {
        this.rt.log(`${this.key}: sandbox: ${(err as Error).message}`);
        this.rt.event(
          this.pod,
          "Warning",
          "FailedCreatePodSandBox",
          `Failed to create pod sandbox: ${(err as Error).message}`,
        );
        this.wake(5000);
        return this.report();
      }
    }
    // Volumes are written once, then refreshed every minute (ConfigMap and Secret updates reach
    // running containers, as with the kubelet).
    if (!this.volumes || (this.refreshes && Date.now() >= this.volumesAt + VOLUME_REFRESH_MS)) {
      try {
        this.volumes = await prepareVolumes(
          this.pod,
          join(this.rt.dataDir, "sandboxes", this.uid),
          this.rt.objects,
          this.ctx(),
        );
        this.volumesAt = Date.now();
        if (this.refreshes) this.wake(VOLUME_REFRESH_MS);
      } catch (err) {
        if (this.volumes) this.rt.log(`${this.key}: refreshing volumes: ${(err as Error).message}`);
        else {
          for (const c of [...inits, ...mains])
            this.record(c).state = {
              waiting: { reason: "CreateContainerConfigError", message: (err as Error).message },
            };
          this.wake(10_000);
          return this.report();
        }
      }
    }
    let initDone = true;
    for (const c of inits) {
      const r = this.record(c);
      if ("terminated" in r.state && r.state.terminated.exitCode === 0) continue;
      initDone = false;
      if (isRunning(r)) break;
      if ("terminated" in r.state && !shouldRestart(spec.restartPolicy, 1)) break;
      await this.startWithBackoff(c, r);
      break;
    }
    if (initDone) {
      for (const c of mains) {
        const r = this.record(c);
        if (isRunning(r)) continue;
        if (
          "terminated" in r.state &&
          !shouldRestart(spec.restartPolicy, r.state.terminated.exitCode)
        )
          continue;
        await this.startWithBackoff(c, r);
      }
    }
    await this.report();
    if (["Succeeded", "Failed"].includes(this.phase())) this.kick();
  }

  private phase() {
    const spec = this.pod.spec;
    const recs = (cs: any[] | undefined) => (cs ?? []).map((c: any) => this.record(c));
    return podPhase(spec.restartPolicy, recs(spec.initContainers), recs(spec.containers));
  }

  private ctx() {
    return {
      podIP: this.sandbox?.ip,
      hostIP: this.rt.hostIP,
      nodeCPU: this.rt.nodeCPU,
      nodeMemory: this.rt.nodeMemory,
    };
  }

  /** (Re)starts a container unless its back-off still runs; a terminated run becomes lastState. */
  private async startWithBackoff(c: any, r: ContainerRecord): Promise<void> {
    const key = `${this.uid}/${c.name}`;
    let ranFor = 0;
    if ("terminated" in r.state) {
      const t = r.state.terminated;
      ranFor = t.startedAt ? Date.parse(t.finishedAt) - Date.parse(t.startedAt) : 0;
      r.lastState = r.state;
      r.state = { waiting: { reason: "ContainerCreating" } };
    }
    const at = this.rt.backoff.readyAt(key, ranFor);
    if (at > Date.now() && r.lastState) {
      if (!("waiting" in r.state && r.state.waiting.reason === "CrashLoopBackOff"))
        this.rt.event(
          this.pod,
          "Warning",
          "BackOff",
          "Back-off restarting failed container",
          c.name,
        );
      r.state = {
        waiting: {
          reason: "CrashLoopBackOff",
          message: `back-off ${this.rt.backoff.delaySeconds(key)}s restarting failed container=${c.name} pod=${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.uid})`,
        },
      };
      this.wake(at - Date.now());
      return;
    }
    const pullKey = `${this.uid}/pull/${c.name}`;
    const pullAt = this.rt.backoff.readyAt(pullKey);
    if (pullAt > Date.now()) {
      // As the kubelet shows it: ErrImagePull right after a failed pull, then ImagePullBackOff.
      const failedAt = this.pullFailedAt.get(c.name) ?? 0;
      if (Date.now() - failedAt >= PULL_ERROR_SHOWN_MS)
        r.state = {
          waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${c.image}"` },
        };
      else this.wake(failedAt + PULL_ERROR_SHOWN_MS - Date.now());
      this.wake(pullAt - Date.now());
      return;
    }
    await this.start(c, r, key, pullKey);
  }

  private async start(c: any, r: ContainerRecord, key: string, pullKey: string): Promise<void> {
    const rt = this.rt;
    let image: PulledImage;
    try {
      image = await rt.images.ensure(c.image, c.imagePullPolicy, () =>
        rt.event(this.pod, "Normal", "Pulling", `Pulling image "${c.image}"`, c.name),
      );
      rt.backoff.forget(pullKey);
      rt.event(
        this.pod,
        "Normal",
        "Pulled",
        image.pulledMs === undefined
          ? `Container image "${c.image}" already present on machine`
          : `Successfully pulled image "${c.image}" in ${image.pulledMs}ms`,
        c.name,
      );
    } catch (err) {
      const reason = err instanceof ImageError ? err.reason : "ErrImagePull";
      rt.backoff.started(pullKey);
      this.pullFailedAt.set(c.name, Date.now());
      rt.event(this.pod, "Warning", "Failed", (err as Error).message, c.name);
      r.state = {
        waiting: {
          reason,
          message: (err as Error).message,
        },
      };
      this.wake(rt.backoff.readyAt(pullKey) - Date.now());
      return;
    }
    r.image = c.image;
    r.imageID = image.imageID;
    const restart = r.containerId ? r.restartCount + 1 : r.restartCount;
    let args: string[];
    try {
      args = await this.runArgs(c, image.ref, restart);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      r.state = { waiting: { reason: "CreateContainerConfigError", message: err.message } };
      rt.event(this.pod, "Warning", "Failed", `Error: ${err.message}`, c.name);
      this.wake(10_000);
      return;
    }
    const id = containerId(this.pod, c.name, restart);
    if (r.containerId) {
      rt.track(r.containerId, undefined);
      await rt.containerd.remove(r.containerId);
    }
    rt.track(id, this);
    let res = await rt.containerd.ctr(args);
    if (res.code !== 0 && /already exists/.test(res.stderr)) {
      await rt.containerd.remove(id);
      res = await rt.containerd.ctr(args);
    }
    if (res.code !== 0) {
      rt.track(id, undefined);
      await rt.containerd.remove(id);
      const msg = res.stderr.trim().split("\n").pop() ?? "";
      if (/image.*not found|not found.*image/i.test(msg)) rt.images.forget(c.image);
      rt.log(`${this.key}: start ${c.name}: ${msg}`);
      rt.event(this.pod, "Warning", "Failed", `Error: ${msg}`, c.name);
      r.state = { waiting: { reason: "RunContainerError", message: msg } };
      rt.backoff.started(key);
      r.lastState ??= {
        terminated: { exitCode: 128, reason: "StartError", message: msg, finishedAt: now() },
      };
      this.wake(rt.backoff.readyAt(key) - Date.now());
      return;
    }
    // The first start is free; each restart lengthens the next wait.
    if (r.containerId) rt.backoff.started(key);
    r.containerId = id;
    r.restartCount = restart;
    r.state = { running: { startedAt: now() } };
    const since = restart === 0 ? ` ${Date.now() - this.seenAt} ms after the pod was seen` : "";
    rt.log(`${this.key}: started container ${c.name} (${id})${since}`);
    rt.event(this.pod, "Normal", "Created", `Created container ${c.name}`, c.name);
    rt.event(this.pod, "Normal", "Started", `Started container ${c.name}`, c.name);
    this.startProbes(c, id);
    const early = this.earlyExits.get(id);
    if (early) {
      this.earlyExits.delete(id);
      this.exited(id, early.code, early.at);
    }
  }

  private startProbes(c: any, id: string) {
    const r = this.records.get(c.name) as ContainerRecord;
    this.probes.get(c.name)?.stop();
    const isInit = (this.pod.spec.initContainers ?? []).some((x: any) => x.name === c.name);
    if (isInit) {
      r.started = true;
      return;
    }
    const p = new ContainerProbes(
      {
        podIP: this.sandbox?.ip ?? this.rt.cni.ip(this.uid) ?? "127.0.0.1",
        container: c,
        exec: (cmd, timeoutMs) => this.execIn(id, cmd, timeoutMs),
      },
      {
        onChange: () => {
          if (r.containerId !== id) return;
          if (r.ready && !p.ready)
            this.rt.event(this.pod, "Warning", "Unhealthy", "Readiness probe failed", c.name);
          r.ready = p.ready;
          r.started = p.started;
          this.kick();
        },
        onLivenessFailure: (message) => {
          if (r.containerId !== id || !isRunning(r)) return;
          this.rt.log(`${this.key}: ${c.name}: ${message}; restarting it`);
          this.rt.event(this.pod, "Warning", "Unhealthy", message, c.name);
          this.rt.event(
            this.pod,
            "Normal",
            "Killing",
            `Container ${c.name} failed liveness probe, will be restarted`,
            c.name,
          );
          p.stop();
          void this.stopContainer(id, this.gracePeriod(false));
        },
      },
    );
    this.probes.set(c.name, p);
    r.started = p.started;
    r.ready = p.ready;
    p.start();
  }

  private async execIn(id: string, cmd: string[], timeoutMs: number): Promise<boolean> {
    const execId = `probe-${Math.random().toString(36).slice(2, 10)}`;
    const r = await this.rt.containerd.execIn(id, execId, cmd, timeoutMs);
    return r.code === 0;
  }

  /** The ctr run arguments for one run of container `c`. */
  private async runArgs(c: any, ref: string, restart: number): Promise<string[]> {
    const rt = this.rt;
    const pod = this.pod;
    const env = await resolveEnv(pod, c, rt.objects, this.ctx());
    const vars = new Map(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
    const id = containerId(pod, c.name, restart);
    const logFile = containerLogFile(rt.dataDir, pod, c.name, restart);
    mkdirSync(join(podLogDir(rt.dataDir, pod), c.name), { recursive: true });
    const args = ["run", "-d", "--log-uri", logUri(rt.logger, logFile)];
    const labels: Record<string, string> = {
      [LABELS.uid]: this.uid,
      [LABELS.name]: pod.metadata.name,
      [LABELS.namespace]: pod.metadata.namespace,
      [LABELS.container]: c.name,
      [LABELS.restart]: String(restart),
    };
    for (const [k, v] of Object.entries(labels)) args.push("--label", `${k}=${v}`);
    const sb = this.sandbox as Sandbox;
    if (sb.hostNetwork) args.push("--net-host");
    for (const ns of sb.namespaces) args.push("--with-ns", ns);
    const mounts = [...sb.mounts, ...containerMounts(c, this.volumes ?? new Map())];
    for (const m of mounts)
      args.push(
        "--mount",
        `type=bind,src=${m.source},dst=${m.destination},options=rbind:${m.readOnly ? "ro" : "rw"}`,
      );
    for (const e of env) args.push("--env", e);
    if (c.workingDir) args.push("--cwd", c.workingDir);
    const limits = c.resources?.limits ?? {};
    if (limits.memory)
      args.push("--memory-limit", String(parseQuantity(String(limits.memory)).value()));
    if (limits.cpu) args.push("--cpus", String(parseQuantity(String(limits.cpu)).toNumber()));
    // The image config is read only when the user or the args need it.
    let cfg: any;
    const imageConfig = async () => (cfg ??= await rt.containerd.imageConfig(ref));
    args.push(
      ...securityArgs(pod, c, {
        imageUser: needsImageUser(pod, c) ? ((await imageConfig()).User ?? "") : undefined,
        allCapabilities: heldCapabilities,
        seccompRoot: join(rt.dataDir, "seccomp"),
      }),
    );
    if (c.tty) args.push("--tty");
    args.push(ref, id);
    // command replaces the image's entrypoint, args its cmd; both expand $(VAR).
    const x = (list: string[]) => list.map((a) => expand(String(a), vars));
    if (c.command?.length) args.push(...x(c.command), ...x(c.args ?? []));
    else if (c.args?.length) args.push(...((await imageConfig()).Entrypoint ?? []), ...x(c.args));
    return args;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the task is gone. */
  private async stopContainer(id: string, graceMs: number): Promise<void> {
    const exited = new Promise<void>((resolve) => this.exitWaiters.set(id, resolve));
    const rec = [...this.records.values()].find((r) => r.containerId === id);
    if (!rec || !isRunning(rec)) return;
    if (!(await this.rt.containerd.kill(id, "SIGTERM"))) return;
    const timedOut = await Promise.race([
      exited.then(() => false),
      sleep(graceMs).then(() => true),
    ]);
    if (timedOut) {
      await this.rt.containerd.kill(id, "SIGKILL");
      await Promise.race([exited, sleep(5000)]);
    }
    this.exitWaiters.delete(id);
  }

  private gracePeriod(deleting: boolean): number {
    const md = this.pod.metadata;
    const s =
      deleting && md.deletionGracePeriodSeconds !== undefined
        ? md.deletionGracePeriodSeconds
        : (this.pod.spec.terminationGracePeriodSeconds ?? 30);
    return Math.max(0, s) * 1000;
  }

  /** A pod that finished (Succeeded/Failed): stop probes, free the sandbox and containers. */
  private async finish(): Promise<void> {
    if (this.torn) return;
    this.torn = true;
    for (const p of this.probes.values()) p.stop();
    this.probes.clear();
    for (const r of this.records.values())
      if (r.containerId) {
        this.rt.track(r.containerId, undefined);
        await this.rt.containerd.remove(r.containerId);
      }
    await tearDownSandbox(this.uid, this.rt.dataDir, this.rt.cni).catch((err) =>
      this.rt.log(`${this.key}: tear down: ${err.message}`),
    );
  }

  /** Graceful termination, clean-up, then the final DELETE. */
  private async terminate(): Promise<void> {
    const grace = this.gracePeriod(true);
    const deadline = Date.now() + grace;
    for (const p of this.probes.values()) p.stop();
    this.probes.clear();
    const running = [...this.records.values()].filter((r) => isRunning(r) && r.containerId);
    await Promise.all(
      running.map(async (r) => {
        const spec = this.specOf(r.name);
        const preStop = spec?.lifecycle?.preStop;
        if (preStop && grace > 0) {
          const left = Math.max(0, deadline - Date.now());
          const target = {
            podIP: this.sandbox?.ip ?? "127.0.0.1",
            container: spec,
            exec: (cmd: string[], t: number) => this.execIn(r.containerId as string, cmd, t),
          };
          await Promise.race([
            probeOnce({ ...preStop, timeoutSeconds: left / 1000 }, target),
            sleep(left),
          ]);
        }
        this.rt.event(this.pod, "Normal", "Killing", `Stopping container ${r.name}`, r.name);
        await this.stopContainer(r.containerId as string, Math.max(0, deadline - Date.now()));
      }),
    );
    this.torn = false;
    await this.finish();
    await this.cleanupRemains();
    rmSync(podLogDir(this.rt.dataDir, this.pod), { recursive: true, force: true });
    if (!this.gone) {
      const md = this.pod.metadata;
      const r = await this.rt.api.raw(
        "DELETE",
        `/api/v1/namespaces/${md.namespace}/pods/${md.name}`,
        {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0,
          preconditions: { uid: this.uid },
        },
      );
      if (r.status >= 300 && r.status !== 404 && r.status !== 409)
        throw new ApiError("DELETE", md.name, r.status, r.body);
    }
    this.rt.log(`${this.key}: removed`);
    this.done = true;
    clearTimeout(this.timer);
  }

  /** Containers of this pod that the records do not know (left by an earlier run). */
  private async cleanupRemains(): Promise<void> {
    const all = await this.rt.containerd.containers();
    for (const [id, labels] of all)
      if (labels[LABELS.uid] === this.uid) await this.rt.containerd.remove(id);
  }

  private async report(): Promise<void> {
    const spec = this.pod.spec;
    const recs = (cs: any[] | undefined) => (cs ?? []).map((c: any) => this.record(c));
    const status = buildStatus({
      pod: this.pod,
      init: recs(spec.initContainers),
      main: recs(spec.containers),
      podIP: this.sandbox?.ip,
      hostIP: this.rt.hostIP,
      startTime: this.startTime ?? now(),
      now: now(),
    });
    const json = JSON.stringify(status);
    if (json === this.lastSent) return;
    const md = this.pod.metadata;
    const r = await this.rt.api.raw(
      "PATCH",
      `/api/v1/namespaces/${md.namespace}/pods/${md.name}/status`,
      { status },
      MERGE_PATCH,
    );
    if (r.status === 404) return;
    if (r.status >= 300) {
      this.wake(2000);
      throw new ApiError("PATCH", `${md.name}/status`, r.status, r.body);
    }
    this.lastSent = json;
    if (r.body?.metadata) this.pod = r.body;
  }
}
