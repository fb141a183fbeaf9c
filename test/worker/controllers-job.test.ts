import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, eventually } from "./helpers.ts";
import { heartbeat, leaseKeeper, registerNode, type SyncOptions, syncPods } from "./hollow.ts";

const JOBS = "/apis/batch/v1/namespaces/default/jobs";
const PODS = "/api/v1/namespaces/default/pods";
const NODE = "job-node";
const INDEX = "batch.kubernetes.io/job-completion-index";

type Obj = any;

// Pods are pinned to the hollow node through the template, so these tests do not depend on
// the scheduler; the last test lets the scheduler bind them.
const job = (name: string, spec: Obj = {}, podSpec: Obj = { nodeName: NODE }) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name },
  spec: {
    template: {
      spec: {
        restartPolicy: "Never",
        containers: [{ name: "c", image: "busybox", command: ["true"] }],
        ...podSpec,
      },
    },
    ...spec,
  },
});

const getJob = async (name: string) => (await call("GET", `${JOBS}/${name}`)).body;
const podsOf = async (name: string): Promise<Obj[]> =>
  (await call("GET", `${PODS}?labelSelector=batch.kubernetes.io/job-name%3D${name}`)).body.items;
const condition = (j: Obj, type: string) =>
  (j.status?.conditions ?? []).find((c: Obj) => c.type === type && c.status === "True");

/** One kubelet round on the hollow node, then the Job's state. */
async function step(name: string, o: SyncOptions = {}) {
  await heartbeat(NODE);
  await syncPods(NODE, o);
  return getJob(name);
}

const succeed: SyncOptions = { outcome: () => "Succeeded" };
const fail: SyncOptions = { outcome: () => "Failed" };

// Hollow kubelets renew their Leases every second, so no node goes NotReady while a test waits.
const keeper = leaseKeeper();
const alive = keeper.alive;
afterAll(() => keeper.stop());

beforeAll(async () => {
  await registerNode(NODE);
  alive.add(NODE);
});

describe("Job", { timeout: 30_000 }, () => {
  it("runs completions with bounded parallelism and completes", async () => {
    await call("POST", JOBS, job("count", { completions: 3, parallelism: 2 }));
    const started = await eventually(async () => {
      const j = await step("count");
      return j.status?.active === 2 && j.status?.ready === 2 && j;
    });
    expect(started.status.startTime).toBeTruthy();
    expect(started.status.ready).toBe(2);
    const pods = await podsOf("count");
    expect(pods).toHaveLength(2);
    expect(pods[0].metadata.finalizers).toContain("batch.kubernetes.io/job-tracking");
    expect(pods[0].metadata.ownerReferences[0]).toMatchObject({ kind: "Job", name: "count" });

    const done = await eventually(async () => {
      const j = await step("count", succeed);
      return condition(j, "Complete") && j;
    });
    expect(done.status.succeeded).toBe(3);
    expect(done.status.failed).toBeUndefined();
    expect(done.status.active).toBeUndefined();
    expect(done.status.completionTime).toBeTruthy();
    expect(condition(done, "SuccessCriteriaMet")?.reason).toBe("CompletionsReached");
    expect(condition(done, "Complete")?.reason).toBe("CompletionsReached");
    const finished = await podsOf("count");
    expect(finished).toHaveLength(3);
    for (const p of finished) {
      expect(p.status.phase).toBe("Succeeded");
      expect(p.metadata.finalizers ?? []).not.toContain("batch.kubernetes.io/job-tracking");
    }
    const table = await call("GET", `${JOBS}/count`, undefined, {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
    });
    expect(table.body.rows[0].cells.slice(1, 3)).toEqual(["Complete", "3/3"]);
  });

  it("gives Indexed pods their index, hostname and completedIndexes", async () => {
    await call(
      "POST",
      JOBS,
      job("idx", { completions: 3, parallelism: 3, completionMode: "Indexed" }),
    );
    const pods = await eventually(async () => {
      await step("idx");
      const p = await podsOf("idx");
      return p.length === 3 && p;
    });
    const byIndex = pods.sort(
      (a: Obj, b: Obj) =>
        Number(a.metadata.annotations[INDEX]) - Number(b.metadata.annotations[INDEX]),
    );
    byIndex.forEach((p: Obj, i: number) => {
      expect(p.metadata.annotations[INDEX]).toBe(String(i));
      expect(p.metadata.labels[INDEX]).toBe(String(i));
      expect(p.metadata.name.startsWith(`idx-${i}-`)).toBe(true);
      expect(p.spec.hostname).toBe(`idx-${i}`);
      expect(p.spec.containers[0].env).toContainEqual({
        name: "JOB_COMPLETION_INDEX",
        valueFrom: {
          fieldRef: { apiVersion: "v1", fieldPath: `metadata.annotations['${INDEX}']` },
        },
      });
    });
    // Index 1 succeeds first.
    const one = byIndex[1].metadata.name;
    const partial = await eventually(async () => {
      const j = await step("idx", {
        outcome: (p) => (p.metadata.name === one ? "Succeeded" : undefined),
      });
      return j.status?.completedIndexes === "1" && j;
    });
    expect(partial.status.succeeded).toBe(1);
    const done = await eventually(async () => {
      const j = await step("idx", succeed);
      return condition(j, "Complete") && j;
    });
    expect(done.status.completedIndexes).toBe("0-2");
    expect(done.status.succeeded).toBe(3);
  });

  it("backs off between failed pods and fails past backoffLimit", async () => {
    await call("POST", JOBS, job("flaky", { backoffLimit: 1 }));
    const failed = await eventually(async () => {
      const j = await step("flaky", fail);
      return condition(j, "Failed") && j;
    }, 40_000);
    expect(failed.status.failed).toBe(2);
    expect(condition(failed, "FailureTarget")?.reason).toBe("BackoffLimitExceeded");
    expect(condition(failed, "Failed")).toMatchObject({
      reason: "BackoffLimitExceeded",
      message: "Job has reached the specified backoff limit",
    });
    expect(failed.status.completionTime).toBeUndefined();
    const pods = (await podsOf("flaky")).sort((a: Obj, b: Obj) =>
      a.metadata.creationTimestamp < b.metadata.creationTimestamp ? -1 : 1,
    );
    expect(pods).toHaveLength(2);
    // The replacement waited out the back-off after the first failure.
    const base = Number((env as Obj).JOB_BACKOFF_BASE_SECONDS ?? 10) * 1000;
    const firstFinished = Date.parse(
      pods[0].status.containerStatuses[0].state.terminated.finishedAt,
    );
    expect(Date.parse(pods[1].metadata.creationTimestamp)).toBeGreaterThanOrEqual(
      firstFinished + base,
    );
  }, 60_000);

  it("fails with DeadlineExceeded after activeDeadlineSeconds and removes its pods", async () => {
    await call(
      "POST",
      JOBS,
      job("slow", { activeDeadlineSeconds: 1, parallelism: 2, completions: 4 }),
    );
    const failed = await eventually(async () => {
      const j = await step("slow");
      return condition(j, "Failed") && j;
    });
    expect(condition(failed, "Failed")).toMatchObject({
      reason: "DeadlineExceeded",
      message: "Job was active longer than specified deadline",
    });
    expect(failed.status.active).toBeUndefined();
    expect(failed.status.failed).toBe(2);
    await eventually(async () => {
      await step("slow");
      return (await podsOf("slow")).length === 0;
    });
  });

  it("suspend keeps pods away, resume starts them, suspending again removes them", async () => {
    await call("POST", JOBS, job("paused", { suspend: true, parallelism: 2, completions: 2 }));
    const suspended = await eventually(async () => {
      const j = await getJob("paused");
      return condition(j, "Suspended") && j;
    });
    expect(condition(suspended, "Suspended").reason).toBe("JobSuspended");
    expect(suspended.status.startTime).toBeUndefined();
    expect(await podsOf("paused")).toHaveLength(0);

    const patch = { "content-type": "application/merge-patch+json" };
    await call("PATCH", `${JOBS}/paused`, { spec: { suspend: false } }, patch);
    const resumed = await eventually(async () => {
      const j = await step("paused");
      return j.status?.active === 2 && j;
    });
    expect(resumed.status.startTime).toBeTruthy();
    const cond = resumed.status.conditions.find((c: Obj) => c.type === "Suspended");
    expect(cond).toMatchObject({ status: "False", reason: "JobResumed" });

    await call("PATCH", `${JOBS}/paused`, { spec: { suspend: true } }, patch);
    const again = await eventually(async () => {
      const j = await step("paused");
      return !j.status?.active && (await podsOf("paused")).length === 0 && j;
    });
    expect(condition(again, "Suspended")).toBeTruthy();
    // Pods removed by suspension are not failures.
    expect(again.status.failed).toBeUndefined();
  });

  it("deletes a finished Job and its pods after ttlSecondsAfterFinished", async () => {
    await call("POST", JOBS, job("brief", { ttlSecondsAfterFinished: 0 }));
    await eventually(async () => (await podsOf("brief")).length === 1);
    await eventually(async () => {
      await step("brief", succeed);
      return (await call("GET", `${JOBS}/brief`)).status === 404;
    });
    await eventually(async () => {
      await syncPods(NODE);
      return (await podsOf("brief")).length === 0;
    });
  });

  it("deleting a running Job takes its pods along, tracking finalizer and all", async () => {
    await call("POST", JOBS, job("doomed", { parallelism: 2, completions: 2 }));
    await eventually(async () => (await step("doomed")).status?.active === 2);
    const del = await call("DELETE", `${JOBS}/doomed`, { propagationPolicy: "Background" });
    expect(del.status).toBe(200);
    await eventually(async () => {
      await syncPods(NODE);
      return (await podsOf("doomed")).length === 0;
    });
  });

  it("releases the pods of a Job deleted with orphan propagation", async () => {
    await call("POST", JOBS, job("orphaner", { parallelism: 1, completions: 1 }));
    await eventually(async () => (await step("orphaner")).status?.ready === 1);
    await call("DELETE", `${JOBS}/orphaner`, { propagationPolicy: "Orphan" });
    const [pod] = await eventually(async () => {
      const pods = await podsOf("orphaner");
      return (
        pods.length === 1 &&
        !pods[0].metadata.ownerReferences &&
        !(pods[0].metadata.finalizers ?? []).includes("batch.kubernetes.io/job-tracking") &&
        pods
      );
    });
    expect(pod.status.phase).toBe("Running");
    expect((await call("DELETE", `${PODS}/${pod.metadata.name}`)).status).toBe(200);
    await eventually(async () => {
      await syncPods(NODE);
      return (await podsOf("orphaner")).length === 0;
    });
  });

  it("runs pods the scheduler binds", async () => {
    await call("POST", JOBS, job("scheduled", {}, {}));
    await eventually(async () => {
      await env.SCHEDULER.getByName("scheduler").reconcileNow();
      const j = await step("scheduled", succeed);
      return condition(j, "Complete");
    }, 20_000);
    const [pod] = await podsOf("scheduled");
    expect(pod.spec.nodeName).toBe(NODE);
  }, 30_000);
});

describe("Job policies", { timeout: 40_000 }, () => {
  const main = { nodeName: NODE, containers: [{ name: "main", image: "busybox" }] };
  const failedBy = (code: number, extra: Obj[] = []): SyncOptions => ({
    outcome: () => "Failed",
    exitCode: () => code,
    conditions: () => extra,
  });

  it("podFailurePolicy FailJob fails the Job at the first matching exit code", async () => {
    const created = await call(
      "POST",
      JOBS,
      job(
        "exit42",
        {
          backoffLimit: 6,
          podFailurePolicy: {
            rules: [{ action: "FailJob", onExitCodes: { operator: "In", values: [42] } }],
          },
        },
        main,
      ),
    );
    expect(created.status).toBe(201);
    expect(created.body.spec.podReplacementPolicy).toBe("Failed");
    await eventually(async () => (await step("exit42")).status?.active === 1);
    const pod = (await podsOf("exit42"))[0].metadata.name;
    const failed = await eventually(async () => {
      const j = await step("exit42", failedBy(42));
      return condition(j, "Failed") && j;
    });
    const message = `Container main for pod default/${pod} failed with exit code 42 matching FailJob rule at index 0`;
    expect(condition(failed, "FailureTarget")).toMatchObject({
      reason: "PodFailurePolicy",
      message,
    });
    expect(condition(failed, "Failed")).toMatchObject({ reason: "PodFailurePolicy", message });
    expect(failed.status.failed).toBe(1);
    expect(await podsOf("exit42")).toHaveLength(1);
  });

  it("Ignore leaves a disrupted pod uncounted; Count counts against backoffLimit", async () => {
    await call(
      "POST",
      JOBS,
      job(
        "tolerant",
        {
          backoffLimit: 1,
          podFailurePolicy: {
            rules: [
              { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget" }] },
              { action: "Count", onExitCodes: { operator: "NotIn", values: [0] } },
            ],
          },
        },
        main,
      ),
    );
    // First pod: disrupted (ignored). Second: exit 3 (counted). Third: succeeds.
    const disrupted = [
      { type: "DisruptionTarget", status: "True", reason: "PreemptionByScheduler" },
    ];
    const seen: string[] = [];
    const outcome: SyncOptions = {
      outcome: (p) => {
        if (!seen.includes(p.metadata.name)) seen.push(p.metadata.name);
        return seen.indexOf(p.metadata.name) < 2 ? "Failed" : "Succeeded";
      },
      exitCode: () => 3,
      conditions: (p) => (seen.indexOf(p.metadata.name) === 0 ? disrupted : []),
    };
    const done = await eventually(async () => {
      const j = await step("tolerant", outcome);
      return (condition(j, "Complete") || condition(j, "Failed")) && j;
    });
    expect(condition(done, "Complete")).toBeTruthy();
    expect(done.status.failed).toBe(1);
    expect(done.status.succeeded).toBe(1);
    expect(seen).toHaveLength(3);
  });

  it("FailIndex with backoffLimitPerIndex fails one index and the Job once the rest is done", async () => {
    await call(
      "POST",
      JOBS,
      job(
        "perindex",
        {
          completions: 3,
          parallelism: 3,
          completionMode: "Indexed",
          backoffLimitPerIndex: 2,
          podFailurePolicy: {
            rules: [{ action: "FailIndex", onExitCodes: { operator: "In", values: [7] } }],
          },
        },
        main,
      ),
    );
    const index = (p: Obj) => p.metadata.annotations[INDEX];
    const failed = await eventually(async () => {
      const j = await step("perindex", {
        outcome: (p) => (index(p) === "1" ? "Failed" : "Succeeded"),
        exitCode: () => 7,
      });
      return condition(j, "Failed") && j;
    });
    expect(condition(failed, "Failed")).toMatchObject({
      reason: "FailedIndexes",
      message: "Job has failed indexes",
    });
    expect(failed.status).toMatchObject({ failedIndexes: "1", completedIndexes: "0,2", failed: 1 });
    // The failed index was not retried, backoffLimitPerIndex notwithstanding.
    const pods = await podsOf("perindex");
    expect(pods.filter((p) => index(p) === "1")).toHaveLength(1);
    expect(pods[0].metadata.annotations["batch.kubernetes.io/job-index-failure-count"]).toBe("0");

    const bad = await call(
      "POST",
      JOBS,
      job("noperindex", {
        podFailurePolicy: {
          rules: [{ action: "FailIndex", onExitCodes: { operator: "In", values: [0, 7] } }],
        },
      }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain(
      'spec.podFailurePolicy.rules[0].action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set',
    );
    expect(bad.body.message).toContain(
      "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
    );
  });

  it("successPolicy completes an Indexed Job once its rule is met and stops the rest", async () => {
    await call(
      "POST",
      JOBS,
      job(
        "leader",
        {
          completions: 3,
          parallelism: 3,
          completionMode: "Indexed",
          successPolicy: { rules: [{ succeededIndexes: "0" }] },
        },
        main,
      ),
    );
    await eventually(async () => (await step("leader")).status?.active === 3);
    const done = await eventually(async () => {
      const j = await step("leader", {
        outcome: (p) => (p.metadata.annotations[INDEX] === "0" ? "Succeeded" : undefined),
      });
      return condition(j, "Complete") && j;
    });
    for (const type of ["SuccessCriteriaMet", "Complete"])
      expect(condition(done, type)).toMatchObject({
        reason: "SuccessPolicy",
        message: "Matched rules at index 0",
      });
    expect(done.status).toMatchObject({ succeeded: 1, completedIndexes: "0" });
    expect(done.status.active).toBeUndefined();
    // The other indexes' pods were stopped, not left running.
    const others = (await podsOf("leader")).filter((p) => p.metadata.annotations[INDEX] !== "0");
    expect(others.every((p) => p.metadata.deletionTimestamp)).toBe(true);

    const bad = await call(
      "POST",
      JOBS,
      job("badpolicy", {
        completions: 2,
        completionMode: "Indexed",
        successPolicy: { rules: [{ succeededIndexes: "0-5", succeededCount: 3 }, {}] },
      }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain(
      'spec.successPolicy.rules[0].succeededIndexes: Invalid value: "0-5": error parsing succeededIndexes: too large index: "5"',
    );
    expect(bad.body.message).toContain(
      "spec.successPolicy.rules[1]: Required value: at least one of succeededCount or succeededIndexes must be specified",
    );
  });
});
