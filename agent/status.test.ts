import { describe, expect, it } from "vitest";
import { buildStatus, type ContainerRecord, podPhase, qosClass } from "./status.ts";

const rec = (
  name: string,
  state: ContainerRecord["state"],
  extra: Partial<ContainerRecord> = {},
): ContainerRecord => ({
  name,
  image: "busybox",
  imageID: "docker.io/library/busybox@sha256:1",
  containerId: `${name}-0`,
  state,
  restartCount: 0,
  ready: false,
  started: false,
  ...extra,
});
const running = (name: string, ready = true) =>
  rec(name, { running: { startedAt: "2026-01-01T00:00:00Z" } }, { ready, started: true });
const exited = (name: string, exitCode: number) =>
  rec(name, {
    terminated: {
      exitCode,
      reason: exitCode ? "Error" : "Completed",
      finishedAt: "2026-01-01T00:00:01Z",
    },
  });
const waiting = (name: string, reason = "ContainerCreating") =>
  rec(name, { waiting: { reason } }, { containerId: undefined });

describe("pod phase", () => {
  it("is Pending until init containers succeeded and containers started", () => {
    expect(podPhase("Always", [waiting("i")], [waiting("c")])).toBe("Pending");
    expect(podPhase("Always", [running("i")], [waiting("c")])).toBe("Pending");
    expect(podPhase("Always", [exited("i", 0)], [waiting("c")])).toBe("Pending");
    expect(podPhase("Always", [exited("i", 0)], [running("c")])).toBe("Running");
  });

  it("ends Succeeded or Failed only when the restart policy lets containers stay down", () => {
    expect(podPhase("Never", [], [exited("a", 0), exited("b", 0)])).toBe("Succeeded");
    expect(podPhase("Never", [], [exited("a", 0), exited("b", 1)])).toBe("Failed");
    expect(podPhase("OnFailure", [], [exited("a", 0)])).toBe("Succeeded");
    expect(podPhase("OnFailure", [], [exited("a", 2)])).toBe("Running");
    expect(podPhase("Always", [], [exited("a", 0)])).toBe("Running");
    expect(podPhase("Never", [], [exited("a", 0), running("b")])).toBe("Running");
  });

  it("a failed init container fails a Never pod and is retried otherwise", () => {
    expect(podPhase("Never", [exited("i", 1)], [waiting("c")])).toBe("Failed");
    expect(podPhase("Always", [exited("i", 1)], [waiting("c")])).toBe("Pending");
  });

  it("a container in back-off keeps the pod Running", () => {
    const backoff = rec(
      "c",
      { waiting: { reason: "CrashLoopBackOff" } },
      {
        restartCount: 2,
        lastState: { terminated: { exitCode: 1, reason: "Error", finishedAt: "x" } },
      },
    );
    expect(podPhase("Always", [], [backoff])).toBe("Running");
  });
});

describe("pod status", () => {
  const pod = {
    metadata: { name: "p" },
    spec: { restartPolicy: "Always", containers: [{ name: "c" }] },
    status: {
      conditions: [{ type: "Ready", status: "False", lastTransitionTime: "2026-01-01T00:00:00Z" }],
    },
  };
  const build = (main: ContainerRecord[], init: ContainerRecord[] = []) =>
    buildStatus({
      pod,
      init,
      main,
      podIP: "10.42.0.5",
      hostIP: "192.0.2.2",
      startTime: "2026-01-01T00:00:00Z",
      now: "2026-01-02T00:00:00Z",
    });

  it("reports ready containers, pod IP, host IP and containerd container IDs", () => {
    const s = build([running("c")]);
    expect(s.phase).toBe("Running");
    expect(s.podIP).toBe("10.42.0.5");
    expect(s.podIPs).toEqual([{ ip: "10.42.0.5" }]);
    expect(s.hostIP).toBe("192.0.2.2");
    const cond = Object.fromEntries(s.conditions.map((c: any) => [c.type, c.status]));
    expect(cond).toMatchObject({
      Initialized: "True",
      ContainersReady: "True",
      Ready: "True",
      PodScheduled: "True",
    });
    expect(s.containerStatuses[0]).toMatchObject({
      name: "c",
      ready: true,
      started: true,
      restartCount: 0,
      containerID: "containerd://c-0",
      imageID: "docker.io/library/busybox@sha256:1",
      state: { running: { startedAt: "2026-01-01T00:00:00Z" } },
    });
  });

  it("keeps a condition's lastTransitionTime while its status is unchanged", () => {
    const notReady = build([running("c", false)]);
    const ready = build([running("c", true)]);
    const t = (s: any) => s.conditions.find((c: any) => c.type === "Ready");
    expect(t(notReady)).toMatchObject({
      status: "False",
      reason: "ContainersNotReady",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    });
    expect(t(ready)).toMatchObject({ status: "True", lastTransitionTime: "2026-01-02T00:00:00Z" });
  });

  it("puts the containerID on terminated states and lists init container statuses", () => {
    const s = build([waiting("c")], [exited("i", 0)]);
    expect(s.initContainerStatuses?.[0].state.terminated).toMatchObject({
      exitCode: 0,
      reason: "Completed",
      containerID: "containerd://i-0",
    });
    expect(s.phase).toBe("Pending");
  });

  it("derives the QoS class from requests and limits", () => {
    expect(qosClass({ spec: { containers: [{}] } })).toBe("BestEffort");
    expect(
      qosClass({ spec: { containers: [{ resources: { limits: { cpu: "1", memory: "1Gi" } } }] } }),
    ).toBe("Guaranteed");
    expect(qosClass({ spec: { containers: [{ resources: { requests: { cpu: "1" } } }] } })).toBe(
      "Burstable",
    );
  });
});
