// Hollow kubelets for Worker tests: nodes that exist only as API objects. They register, renew
// their Lease, and move the pods bound to them along (Running and Ready, Succeeded or Failed on
// request, deletion confirmed) through the public API, as a real kubelet would.
import { call } from "./helpers.ts";

export interface HollowNodeOptions {
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
}

const now = () => `${new Date().toISOString().slice(0, 19)}Z`;
const merge = { "content-type": "application/merge-patch+json" };
const strategic = { "content-type": "application/strategic-merge-patch+json" };

export async function registerNode(name: string, o: HollowNodeOptions = {}) {
  const resources = { cpu: o.cpu ?? "4", memory: o.memory ?? "8Gi", pods: o.pods ?? "110" };
  const node = await call("POST", "/api/v1/nodes", {
    metadata: {
      name,
      labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", ...o.labels },
    },
    spec: { taints: o.taints },
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [readyCondition("True")],
      addresses: [{ type: "Hostname", address: name }],
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
  if (node.status !== 201) throw new Error(`register ${name}: ${JSON.stringify(node.body)}`);
  await call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
    metadata: { name },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microNow() },
  });
  return node.body;
}

const microNow = () => new Date().toISOString().replace("Z", "000Z");

function readyCondition(status: "True" | "False" | "Unknown") {
  return {
    type: "Ready",
    status,
    reason: "KubeletReady",
    message: "hollow kubelet is ready",
    lastHeartbeatTime: now(),
    lastTransitionTime: now(),
  };
}

/** Renew the node's Lease (and its Ready condition), as a kubelet does every 10 s. */
export async function heartbeat(name: string) {
  await call(
    "PATCH",
    `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`,
    { spec: { renewTime: microNow() } },
    merge,
  );
  await call(
    "PATCH",
    `/api/v1/nodes/${name}/status`,
    { status: { conditions: [readyCondition("True")] } },
    strategic,
  );
}

let ipCounter = 2;

export interface SyncOptions {
  /** Pods for which this returns "Succeeded" or "Failed" end that way instead of running on. */
  outcome?: (pod: any) => "Succeeded" | "Failed" | undefined;
  /** Pods for which this returns false stay Running but not Ready. */
  ready?: (pod: any) => boolean;
  /** The exit code of a Failed pod's containers (default 1). */
  exitCode?: (pod: any) => number;
  /** Conditions a Failed pod reports besides the usual ones (e.g. DisruptionTarget). */
  conditions?: (pod: any) => any[];
}

/** One kubelet sync of every pod bound to `node`. Returns how many pods it changed. */
export async function syncPods(node: string, o: SyncOptions = {}): Promise<number> {
  const list = await call("GET", `/api/v1/pods?fieldSelector=spec.nodeName%3D${node}`);
  let changed = 0;
  for (const pod of list.body.items ?? []) {
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    if (pod.metadata.deletionTimestamp) {
      await call("DELETE", path, { gracePeriodSeconds: 0 });
      changed++;
      continue;
    }
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") continue;
    const outcome = o.outcome?.(pod);
    const ready = !outcome && (o.ready ? o.ready(pod) : true);
    const status = podStatus(pod, node, outcome ?? "Running", ready);
    if (outcome === "Failed") {
      const code = o.exitCode?.(pod) ?? 1;
      for (const c of status.containerStatuses) c.state.terminated.exitCode = code;
      status.conditions.push(...(o.conditions?.(pod) ?? []));
    }
    const same =
      phase === status.phase &&
      pod.status?.conditions?.find((c: any) => c.type === "Ready")?.status ===
        (ready ? "True" : "False");
    if (same) continue;
    await call("PUT", `${path}/status`, { ...pod, status });
    changed++;
  }
  return changed;
}

function podStatus(pod: any, node: string, phase: string, ready: boolean) {
  const t = now();
  const r = ready ? "True" : "False";
  const ip = pod.status?.podIP ?? `10.42.0.${ipCounter++ % 250}`;
  const terminated = phase !== "Running";
  return {
    phase,
    hostIP: "192.0.2.1",
    podIP: ip,
    podIPs: [{ ip }],
    startTime: pod.status?.startTime ?? t,
    qosClass: pod.status?.qosClass ?? "BestEffort",
    conditions: [
      { type: "PodScheduled", status: "True", lastTransitionTime: t },
      { type: "Initialized", status: "True", lastTransitionTime: t },
      { type: "ContainersReady", status: r, lastTransitionTime: t },
      { type: "Ready", status: r, lastTransitionTime: t },
    ],
    containerStatuses: (pod.spec.containers ?? []).map((c: any) => ({
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
              reason: phase === "Succeeded" ? "Completed" : "Error",
              startedAt: t,
              finishedAt: t,
            },
          }
        : { running: { startedAt: t } },
    })),
    ...(node ? {} : {}),
  };
}

/**
 * Renew the Leases of the nodes in `alive` every second while a test file runs (node
 * lifecycle's grace is 3 s in tests; the Lease alone: a node status write would sweep every
 * DaemonSet). Steps a test waits on cannot stall the renewals, as heartbeats between steps can
 * on a loaded machine. `stop` waits for the renewals in flight.
 */
export function leaseKeeper(nodes: string[] = []) {
  const alive = new Set<string>(nodes);
  const inFlight = new Set<Promise<unknown>>();
  const timer = setInterval(() => {
    const renewTime = microNow();
    for (const n of alive) {
      const p = call(
        "PATCH",
        `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n}`,
        { spec: { renewTime } },
        merge,
      ).catch(() => undefined);
      inFlight.add(p);
      p.finally(() => inFlight.delete(p));
    }
  }, 1000);
  return {
    alive,
    stop: async () => {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
}
