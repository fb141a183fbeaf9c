import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, eventually } from "./helpers.ts";
import { heartbeat, leaseKeeper, registerNode, syncPods } from "./hollow.ts";

const NS = "/namespaces/default";
const CRON = `/apis/batch/v1${NS}/cronjobs`;
const JOBS = `/apis/batch/v1${NS}/jobs`;
const NODE = "cron-node";
const STAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp";
const MINUTE = 60_000;

type Obj = any;

const cronJob = (name: string, schedule: string, spec: Obj = {}, jobSpec: Obj = {}) => ({
  apiVersion: "batch/v1",
  kind: "CronJob",
  metadata: { name },
  spec: {
    schedule,
    jobTemplate: {
      metadata: { labels: { cron: name } },
      spec: {
        template: {
          spec: {
            restartPolicy: "Never",
            nodeName: NODE,
            containers: [{ name: "c", image: "busybox", command: ["date"] }],
          },
        },
        ...jobSpec,
      },
    },
    ...spec,
  },
});

/** Create the CronJob; its controller instance exists once the create has poked it. */
async function createCron(body: Obj) {
  const r = await call("POST", CRON, body);
  expect(r.status).toBe(201);
  const stub = env.CRONJOB.getByName(`batch/cronjobs/default/${body.metadata.name}`);
  await eventually(async () => (await stub.reconcileAt(new Date().toISOString())) !== undefined);
  return { cj: r.body, at: (t: number) => stub.reconcileAt(new Date(t).toISOString()) };
}

const jobsOf = async (name: string): Promise<Obj[]> =>
  (await call("GET", `${JOBS}?labelSelector=cron%3D${name}`)).body.items;
const jobNames = async (name: string, from: number) =>
  (await jobsOf(name))
    .map((j: Obj) => j.metadata.name)
    .filter((n: string) => Number(n.slice(name.length + 1)) >= from / MINUTE)
    .sort();
const getCron = async (name: string) => (await call("GET", `${CRON}/${name}`)).body;
const events = async (name: string, reason: string): Promise<Obj[]> =>
  (await call("GET", `/api/v1${NS}/events`)).body.items.filter(
    (e: Obj) => e.involvedObject.name === name && e.reason === reason,
  );
const nextMinute = (t: number) => Math.ceil(t / MINUTE) * MINUTE;
/** An hourly schedule at a minute half an hour away, so the real clock never fires it here. */
const farMinute = () => (new Date().getUTCMinutes() + 30) % 60;
const nextAt = (minute: number, after: number) => {
  let t = nextMinute(after + 1);
  while (new Date(t).getUTCMinutes() !== minute) t += MINUTE;
  return t;
};

/** Run the Job's pods to success and wait for the Job to be Complete. */
async function complete(jobName: string) {
  await eventually(async () => {
    await heartbeat(NODE);
    await syncPods(NODE, { outcome: () => "Succeeded" });
    const j = (await call("GET", `${JOBS}/${jobName}`)).body;
    return (j.status?.conditions ?? []).some((c: Obj) => c.type === "Complete");
  });
}

// Hollow kubelets renew their Leases every second, so no node goes NotReady while a test waits.
const keeper = leaseKeeper();
const alive = keeper.alive;
// The controllers' last passes end before the file does: a CronJob or Job alarm still running at
// teardown finds the test environment gone (an unhandled rejection that failed a CI run).
afterAll(async () => {
  await call("DELETE", CRON);
  await call("DELETE", `${JOBS}?propagationPolicy=Background`);
  await eventually(
    async () =>
      (await call("GET", CRON)).body.items.length === 0 &&
      (await call("GET", JOBS)).body.items.length === 0,
  );
  await keeper.stop();
  await call("DELETE", `/api/v1/nodes/${NODE}`);
}, 30_000);

beforeAll(async () => {
  await registerNode(NODE);
  alive.add(NODE);
});

describe("CronJob", { timeout: 30_000 }, () => {
  it("creates one Job per minute boundary of */1, never twice for the same minute", async () => {
    const { cj, at } = await createCron(cronJob("every", "*/1 * * * *", {}, { suspend: true }));
    // Schedule times well ahead of the real clock, driven through reconcileAt.
    const t0 = nextMinute(Date.parse(cj.metadata.creationTimestamp) + 10 * MINUTE);
    const next = await at(t0 + 500);
    expect(next).toEqual({ after: MINUTE - 500 + 100 });
    expect(await jobNames("every", t0)).toEqual([`every-${t0 / MINUTE}`]);

    await at(t0 + 30_000);
    await at(t0 + 500);
    expect(await jobNames("every", t0)).toHaveLength(1);

    await at(t0 + MINUTE + 200);
    await at(t0 + MINUTE + 200);
    await at(t0 + 2 * MINUTE + 200);
    expect(await jobNames("every", t0)).toEqual([
      `every-${t0 / MINUTE}`,
      `every-${t0 / MINUTE + 1}`,
      `every-${t0 / MINUTE + 2}`,
    ]);

    const job = (await call("GET", `${JOBS}/every-${t0 / MINUTE}`)).body;
    expect(job.metadata.annotations[STAMP]).toBe(new Date(t0).toISOString().replace(".000", ""));
    expect(job.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: "CronJob",
        name: "every",
        uid: cj.metadata.uid,
        controller: true,
      }),
    ]);
    const status = (await getCron("every")).status;
    expect(status.lastScheduleTime).toBe(
      new Date(t0 + 2 * MINUTE).toISOString().replace(".000", ""),
    );
    expect(status.active.map((r: Obj) => r.name)).toEqual(
      expect.arrayContaining([`every-${t0 / MINUTE + 2}`]),
    );
  });

  it("Forbid skips a run while the previous Job is active, then runs again", async () => {
    const m = farMinute();
    const { cj, at } = await createCron(
      cronJob("forbid", `${m} * * * *`, { concurrencyPolicy: "Forbid" }),
    );
    const t0 = nextAt(m, Date.parse(cj.metadata.creationTimestamp));
    const hour = 60 * MINUTE;
    await at(t0 + 1000);
    expect(await jobNames("forbid", 0)).toEqual([`forbid-${t0 / MINUTE}`]);
    await at(t0 + hour + 1000);
    expect(await jobNames("forbid", 0)).toHaveLength(1);
    expect(await events("forbid", "JobAlreadyActive")).toHaveLength(1);

    await complete(`forbid-${t0 / MINUTE}`);
    // The skipped hour is past; the next one runs.
    await at(t0 + 2 * hour + 1000);
    expect(await jobNames("forbid", 0)).toEqual([
      `forbid-${t0 / MINUTE}`,
      `forbid-${(t0 + 2 * hour) / MINUTE}`,
    ]);
    const status = (await getCron("forbid")).status;
    expect(status.lastSuccessfulTime).toBeTruthy();
    expect(status.active.map((r: Obj) => r.name)).toEqual([`forbid-${(t0 + 2 * hour) / MINUTE}`]);
    expect(await events("forbid", "SawCompletedJob")).toHaveLength(1);
  });

  it("Replace deletes the running Job and starts a new one", async () => {
    const m = farMinute();
    const { cj, at } = await createCron(
      cronJob("replace", `${m} * * * *`, { concurrencyPolicy: "Replace" }, { suspend: true }),
    );
    const t0 = nextAt(m, Date.parse(cj.metadata.creationTimestamp));
    await at(t0 + 1000);
    await at(t0 + 60 * MINUTE + 1000);
    await eventually(async () => {
      const names = await jobNames("replace", 0);
      return names.length === 1 && names[0] === `replace-${(t0 + 60 * MINUTE) / MINUTE}`;
    });
    const status = (await getCron("replace")).status;
    expect(status.active.map((r: Obj) => r.name)).toEqual([
      `replace-${(t0 + 60 * MINUTE) / MINUTE}`,
    ]);
  });

  it("keeps successfulJobsHistoryLimit finished Jobs", async () => {
    const m = farMinute();
    const { cj, at } = await createCron(
      cronJob("history", `${m} * * * *`, { successfulJobsHistoryLimit: 1 }),
    );
    const t0 = nextAt(m, Date.parse(cj.metadata.creationTimestamp));
    const names = [0, 1].map((h) => `history-${(t0 + h * 60 * MINUTE) / MINUTE}`);
    await at(t0 + 1000);
    await complete(names[0]);
    await at(t0 + 60 * MINUTE + 1000);
    await complete(names[1]);
    await at(t0 + 60 * MINUTE + 2000);
    await eventually(async () => {
      const left = await jobNames("history", 0);
      return left.length === 1 && left[0] === names[1];
    });
  });

  it("skips runs older than startingDeadlineSeconds", async () => {
    const m = farMinute();
    const { cj, at } = await createCron(
      cronJob("late", `${m} * * * *`, { startingDeadlineSeconds: 10 }, { suspend: true }),
    );
    const t0 = nextAt(m, Date.parse(cj.metadata.creationTimestamp));
    await at(t0 + 30_000);
    expect(await jobNames("late", 0)).toEqual([]);
    await at(t0 + 60 * MINUTE + 5000);
    expect(await jobNames("late", 0)).toEqual([`late-${(t0 + 60 * MINUTE) / MINUTE}`]);
  });

  it("warns after more than 100 missed runs and starts only the latest", async () => {
    const { cj, at } = await createCron(cronJob("missed", "*/1 * * * *", {}, { suspend: true }));
    const t = nextMinute(Date.parse(cj.metadata.creationTimestamp) + 3 * 60 * MINUTE);
    await at(t + 500);
    expect(await jobNames("missed", t - 60 * MINUTE)).toEqual([`missed-${t / MINUTE}`]);
    const [warning] = await events("missed", "TooManyMissedTimes");
    expect(warning.type).toBe("Warning");
    expect(warning.message).toMatch(
      /^too many missed start times: \d+\. Set or decrease \.spec\.startingDeadlineSeconds or check clock skew$/,
    );
  });

  it("does nothing while suspended", async () => {
    const { cj, at } = await createCron(cronJob("off", "*/1 * * * *", { suspend: true }));
    const t0 = nextMinute(Date.parse(cj.metadata.creationTimestamp) + 10 * MINUTE);
    await at(t0 + 500);
    expect(await jobNames("off", 0)).toEqual([]);
    expect((await getCron("off")).status?.lastScheduleTime).toBeUndefined();
  });

  it("runs in its timeZone and stamps the Job with the zoned time", async () => {
    const { cj, at } = await createCron(
      cronJob("tokyo", "0 9 * * *", { timeZone: "Asia/Tokyo" }, { suspend: true }),
    );
    // 09:00 in Tokyo is 00:00 UTC.
    let t = nextMinute(Date.parse(cj.metadata.creationTimestamp) + 1);
    while (new Date(t).getUTCHours() !== 0 || new Date(t).getUTCMinutes() !== 0) t += MINUTE;
    await at(t - 1000);
    expect(await jobNames("tokyo", t)).toEqual([]);
    await at(t + 1000);
    expect(await jobNames("tokyo", t)).toEqual([`tokyo-${t / MINUTE}`]);
    const job = (await call("GET", `${JOBS}/tokyo-${t / MINUTE}`)).body;
    expect(job.metadata.annotations[STAMP]).toMatch(/T09:00:00\+09:00$/);
  });
});
