// The pod status the kubelet reports: phase, conditions and container statuses, computed from
// what the worker knows of each container. Pure functions.

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        signal?: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
        containerID?: string;
      };
    };

export interface ContainerRecord {
  name: string;
  image: string;
  imageID: string;
  /** containerd container id of the current (or last) run. */
  containerId?: string;
  state: ContainerState;
  lastState?: ContainerState;
  restartCount: number;
  ready: boolean;
  started: boolean;
}

export const isRunning = (c: ContainerRecord) => "running" in c.state;
export const exitCode = (c: ContainerRecord) =>
  "terminated" in c.state ? c.state.terminated.exitCode : undefined;

/** Whether restartPolicy restarts a container that exited with `code`. */
export function shouldRestart(policy: string | undefined, code: number): boolean {
  if (policy === "Never") return false;
  if (policy === "OnFailure") return code !== 0;
  return true;
}

/** Kubernetes' pod phase from its containers. */
export function podPhase(
  policy: string | undefined,
  init: ContainerRecord[],
  main: ContainerRecord[],
): "Pending" | "Running" | "Succeeded" | "Failed" {
  // A failed init container that will not be retried fails the pod.
  if (policy === "Never" && init.some((c) => (exitCode(c) ?? 0) !== 0 && "terminated" in c.state))
    return "Failed";
  const initDone = init.every((c) => exitCode(c) === 0);
  if (!initDone) return "Pending";
  const everRan = (c: ContainerRecord) =>
    isRunning(c) || "terminated" in c.state || c.restartCount > 0 || !!c.lastState;
  if (main.some(isRunning)) return "Running";
  if (!main.every(everRan)) return "Pending";
  // Every container has run and none runs now.
  const terminated = main.every((c) => "terminated" in c.state);
  if (terminated && main.every((c) => !shouldRestart(policy, exitCode(c) as number))) {
    return main.every((c) => exitCode(c) === 0) ? "Succeeded" : "Failed";
  }
  // Restarting (back-off): Kubernetes reports Running.
  return "Running";
}

const containerID = (id?: string) => (id ? `containerd://${id}` : undefined);

export function containerStatus(c: ContainerRecord) {
  const state: any = structuredClone(c.state);
  if (state.terminated && !state.terminated.containerID && c.containerId)
    state.terminated.containerID = containerID(c.containerId);
  return {
    name: c.name,
    state,
    lastState: c.lastState ?? {},
    ready: c.ready,
    restartCount: c.restartCount,
    image: c.image,
    imageID: c.imageID,
    ...(c.containerId ? { containerID: containerID(c.containerId) } : {}),
    started: c.started,
  };
}

export interface StatusInput {
  pod: any;
  init: ContainerRecord[];
  main: ContainerRecord[];
  podIP?: string;
  hostIP: string;
  startTime: string;
  now: string;
}

/** The full status to PATCH; conditions keep their lastTransitionTime while unchanged. */
export function buildStatus(s: StatusInput) {
  const policy = s.pod.spec?.restartPolicy;
  const phase = podPhase(policy, s.init, s.main);
  const initialized = s.init.every((c) => exitCode(c) === 0);
  const terminal = phase === "Succeeded" || phase === "Failed";
  const containersReady = !terminal && s.main.every((c) => c.ready);
  const old = new Map<string, any>((s.pod.status?.conditions ?? []).map((c: any) => [c.type, c]));
  const cond = (type: string, ok: boolean, reason?: string) => {
    const status = ok ? "True" : "False";
    const prev = old.get(type);
    return {
      type,
      status,
      ...(reason && !ok ? { reason } : {}),
      lastProbeTime: null,
      lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : s.now,
    };
  };
  const notReady = terminal ? "PodCompleted" : "ContainersNotReady";
  const conditions = [
    cond("PodReadyToStartContainers", !!s.podIP || terminal),
    cond("Initialized", initialized, terminal ? "PodCompleted" : "ContainersNotInitialized"),
    cond("Ready", containersReady, notReady),
    cond("ContainersReady", containersReady, notReady),
    cond("PodScheduled", true),
  ];
  return {
    phase,
    conditions,
    hostIP: s.hostIP,
    hostIPs: [{ ip: s.hostIP }],
    ...(s.podIP ? { podIP: s.podIP, podIPs: [{ ip: s.podIP }] } : {}),
    startTime: s.startTime,
    ...(s.init.length ? { initContainerStatuses: s.init.map(containerStatus) } : {}),
    containerStatuses: s.main.map(containerStatus),
    qosClass: qosClass(s.pod),
  };
}

/** Guaranteed, Burstable or BestEffort, from the containers' requests and limits. */
export function qosClass(pod: any): string {
  const cs = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of cs) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ["cpu", "memory"]) {
      if (!lim[r] || (req[r] !== undefined && req[r] !== lim[r])) guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}
