// The CronJob controller (Kubernetes' pkg/controller/cronjob, v2): at each schedule time it
// creates a Job named <cronjob>-<scheduled minutes since the epoch>, so a repeated pass for the
// same time finds the Job already there instead of making a second one. The next run is this
// object's alarm. concurrencyPolicy, startingDeadlineSeconds, suspend and the history limits
// behave as in Kubernetes.
import { CronError, parseStandard, type Schedule, timeZoneError } from "../k8s/cron.ts";
import { ApiError } from "../k8s/errors.ts";
import { isControlledBy } from "../k8s/owner-refs.ts";
import { type Ctx, create, get, remove, timestamp } from "../resources/rest.ts";
import { getObject, type Key, type KObject } from "../store/objects.ts";
import {
  controllerRefTo,
  event,
  ignoreGone,
  isConflict,
  jobCondition,
  jobFinished,
  ownedBy,
  SerialReconciler,
  strategy,
  writeStatus,
} from "./job.ts";
import type { Next } from "./reconciler.ts";
import { soon } from "./reconciler.ts";

/** Annotation on each Job: its scheduled time, RFC 3339 in the CronJob's time zone. */
export const SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp";
const COMPONENT = "cronjob-controller";
/** nextScheduleDelta: wake a little after the schedule time, never just before it. */
const NEXT_DELTA_MS = 100;
const MAX_MISSED = 100;

const JOBS = () => strategy("batch", "jobs");
const CRONJOBS = () => strategy("batch", "cronjobs");

/** getJobName: the scheduled time in minutes since the epoch makes the name deterministic. */
export const jobName = (cronJob: string, scheduled: Date) =>
  `${cronJob}-${Math.floor(scheduled.getTime() / 60_000)}`;

/** time.Time.In(zone).Format(time.RFC3339). */
export function rfc3339In(d: Date, tz: string): string {
  const whole = Math.floor(d.getTime() / 1000) * 1000;
  if (tz === "UTC") return `${new Date(whole).toISOString().slice(0, 19)}Z`;
  const p: Record<string, number> = {};
  const f = new Intl.DateTimeFormat("en-US", {
    timeZone: tz,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  });
  for (const { type, value } of f.formatToParts(new Date(whole))) p[type] = Number(value);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const offsetMin = Math.round((wall - whole) / 60_000);
  const local = new Date(wall).toISOString().slice(0, 19);
  if (offsetMin === 0) return `${local}Z`;
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${local}${sign}${hh}:${mm}`;
}

/**
 * mostRecentScheduleTime: the latest schedule time in (earliest, now], and how many there were.
 * Walking stops past MAX_MISSED; the latest one is then found from just before `now`.
 */
export function mostRecent(
  sched: Schedule,
  earliest: Date,
  now: Date,
): { time?: Date; missed: number } {
  const first = sched.next(earliest);
  if (!first || first > now) return { missed: 0 };
  let last = first;
  let missed = 1;
  for (;;) {
    const n = sched.next(last);
    if (!n || n > now) return { time: last, missed };
    last = n;
    if (++missed > MAX_MISSED) break;
  }
  // Too many to walk: estimate the count from the period, find the latest near `now`.
  const second = sched.next(first) ?? last;
  const period = Math.max(1000, second.getTime() - first.getTime());
  const estimate = Math.floor((now.getTime() - first.getTime()) / period) + 1;
  for (const back of [60e3, 3600e3, 86400e3, 32 * 86400e3, 367 * 86400e3, 5 * 367 * 86400e3]) {
    const start = new Date(Math.max(last.getTime(), now.getTime() - back));
    let t = sched.next(start);
    if (!t || t > now) continue;
    for (let n = sched.next(t); n && n <= now; n = sched.next(t)) t = n;
    return { time: t, missed: Math.max(estimate, missed) };
  }
  return { time: last, missed };
}

interface JobRef {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  apiVersion: string;
  resourceVersion?: string;
}

const refTo = (job: KObject): JobRef => ({
  kind: "Job",
  namespace: job.metadata.namespace,
  name: job.metadata.name,
  uid: job.metadata.uid,
  apiVersion: "batch/v1",
  resourceVersion: job.metadata.resourceVersion,
});

const startOf = (j: KObject) => Date.parse(j.status?.startTime ?? "") || Number.POSITIVE_INFINITY;

export class CronJobController extends SerialReconciler {
  /**
   * Run one pass as if the clock read `at` (an ISO time): tests drive schedules with it, since
   * the storage simulators ignore fake timers. The production alarm always uses the real clock.
   */
  async reconcileAt(at: string): Promise<Next | undefined> {
    const key = await this.ctx.storage.get<Key>("key");
    if (!key) return undefined;
    return this.serially(() => this.sync(this.writeCtx(), key, new Date(at)));
  }

  protected async sync(ctx: Ctx, key: Key, now: Date): Promise<Next> {
    const found = await getObject(ctx.db, key);
    if (!found) return "gone";
    try {
      return await this.syncCronJob(ctx, found.object, now);
    } catch (err) {
      if (isConflict(err)) return soon(100);
      throw err;
    }
  }

  private async syncCronJob(ctx: Ctx, cj: KObject, now: Date): Promise<Next> {
    const spec = cj.spec ?? {};
    const status: KObject = structuredClone(cj.status ?? {});
    const before = JSON.stringify(status);
    let active: JobRef[] = status.active ?? [];
    const jobs = await ownedBy(ctx, "batch/jobs", cj.metadata.namespace, cj.metadata.uid);
    const children = new Set(jobs.map((j) => j.metadata.uid));
    const saw = (uid: string) => active.some((r) => r.uid === uid);
    for (const j of jobs) {
      const finished = jobFinished(j);
      if (!finished && !saw(j.metadata.uid)) {
        // A Job we made but did not record (a pass that stopped between the two writes).
        active = [...active, refTo(j)];
      } else if (finished && saw(j.metadata.uid)) {
        active = active.filter((r) => r.uid !== j.metadata.uid);
        const type = jobCondition(j, "Complete") ? "Complete" : "Failed";
        await event(
          ctx,
          cj,
          "Normal",
          "SawCompletedJob",
          `Saw completed job: ${j.metadata.name}, condition: ${type}`,
          COMPONENT,
        );
      }
      const completed = jobCondition(j, "Complete") && Date.parse(j.status?.completionTime ?? "");
      if (completed && !(completed <= Date.parse(status.lastSuccessfulTime ?? "")))
        status.lastSuccessfulTime = j.status.completionTime;
    }
    for (const r of active)
      if (!children.has(r.uid))
        await event(
          ctx,
          cj,
          "Normal",
          "MissingJob",
          `Active job went missing: ${r.name}`,
          COMPONENT,
        );
    active = active.filter((r) => children.has(r.uid));

    const deleted = await this.cleanupFinished(ctx, cj, jobs);
    active = active.filter((r) => !deleted.has(r.uid));
    const finish = async (next: Next): Promise<Next> => {
      if (active.length) status.active = active;
      else delete status.active;
      if (JSON.stringify(status) !== before) await writeStatus(ctx, CRONJOBS(), cj, status);
      return next;
    };

    if (cj.metadata.deletionTimestamp) return finish("resync");
    const tz: string = spec.timeZone ?? "UTC";
    if (spec.timeZone != null && timeZoneError(tz)) {
      await event(ctx, cj, "Warning", "UnknownTimeZone", `invalid timeZone: "${tz}"`, COMPONENT);
      return finish("resync");
    }
    if (spec.suspend === true) return finish("resync");
    let sched: Schedule;
    try {
      sched = parseStandard(spec.schedule ?? "", tz);
    } catch (err) {
      if (!(err instanceof CronError)) throw err;
      await event(
        ctx,
        cj,
        "Warning",
        "UnparseableSchedule",
        `unparseable schedule: "${spec.schedule}" : ${err.message}`,
        COMPONENT,
      );
      return finish("resync");
    }
    const next = (): Next => {
      const t = sched.next(now);
      return t ? soon(t.getTime() - now.getTime() + NEXT_DELTA_MS) : "resync";
    };

    // nextScheduleTime: the latest unmet time since the last run (or creation), within the deadline.
    let earliest = Date.parse(status.lastScheduleTime ?? cj.metadata.creationTimestamp);
    const deadline = spec.startingDeadlineSeconds;
    if (typeof deadline === "number")
      earliest = Math.max(earliest, now.getTime() - deadline * 1000);
    const { time: scheduled, missed } = mostRecent(sched, new Date(earliest), now);
    if (missed > MAX_MISSED)
      await event(
        ctx,
        cj,
        "Warning",
        "TooManyMissedTimes",
        `too many missed start times: ${missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew`,
        COMPONENT,
      );
    if (!scheduled) return finish(next());
    if (typeof deadline === "number" && scheduled.getTime() + deadline * 1000 < now.getTime()) {
      await event(
        ctx,
        cj,
        "Warning",
        "MissSchedule",
        `Missed scheduled time to start a job: ${scheduled.toUTCString().replace("GMT", "+0000")}`,
        COMPONENT,
      );
      return finish(next());
    }
    const name = jobName(cj.metadata.name, scheduled);
    if (
      active.some((r) => r.name === name) ||
      Date.parse(status.lastScheduleTime ?? "") === scheduled.getTime()
    )
      return finish(next());
    const policy = spec.concurrencyPolicy ?? "Allow";
    if (policy === "Forbid" && active.length) {
      await event(
        ctx,
        cj,
        "Normal",
        "JobAlreadyActive",
        "Not starting job because prior execution is running and concurrency policy is Forbid",
        COMPONENT,
      );
      return finish(next());
    }
    if (policy === "Replace")
      for (const r of active) {
        const j = jobs.find((x) => x.metadata.uid === r.uid);
        if (j) await this.deleteJob(ctx, cj, j);
        active = active.filter((x) => x.uid !== r.uid);
      }

    const made = await this.createJob(ctx, cj, name, scheduled, tz);
    if (!made) return finish(next());
    if (!saw(made.metadata.uid)) active = [...active, refTo(made)];
    status.lastScheduleTime = timestamp(scheduled);
    return finish(next());
  }

  /** The Job for `scheduled`, or the one already there; undefined when it is someone else's. */
  private async createJob(
    ctx: Ctx,
    cj: KObject,
    name: string,
    scheduled: Date,
    tz: string,
  ): Promise<KObject | undefined> {
    const template = cj.spec?.jobTemplate ?? {};
    const body = {
      metadata: {
        name,
        labels: { ...template.metadata?.labels },
        annotations: {
          ...template.metadata?.annotations,
          [SCHEDULED_TIMESTAMP]: rfc3339In(scheduled, tz),
        },
        ownerReferences: [controllerRefTo(cj)],
      },
      spec: structuredClone(template.spec ?? {}),
    };
    try {
      const { object } = await create(ctx, JOBS(), cj.metadata.namespace, body);
      await event(ctx, cj, "Normal", "SuccessfulCreate", `Created job ${name}`, COMPONENT);
      return object;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.code === 409) {
        const { object } = await get(ctx, JOBS(), cj.metadata.namespace, name);
        return isControlledBy(object, cj.metadata.uid) ? object : undefined;
      }
      // The namespace is going away: nothing more will be created here.
      if (err.code === 403) return undefined;
      await event(
        ctx,
        cj,
        "Warning",
        "FailedCreate",
        `Error creating job: ${err.message}`,
        COMPONENT,
      );
      throw err;
    }
  }

  private async deleteJob(ctx: Ctx, cj: KObject, job: KObject) {
    await ignoreGone(
      remove(ctx, JOBS(), job.metadata.namespace, job.metadata.name, {
        propagationPolicy: "Background",
        preconditions: { uid: job.metadata.uid },
      }),
    );
    await event(
      ctx,
      cj,
      "Normal",
      "SuccessfulDelete",
      `Deleted job ${job.metadata.name}`,
      COMPONENT,
    );
  }

  /** cleanupFinishedJobs: keep the newest successful/failed Jobs up to the history limits. */
  private async cleanupFinished(ctx: Ctx, cj: KObject, jobs: KObject[]): Promise<Set<string>> {
    const deleted = new Set<string>();
    const byStart = (a: KObject, b: KObject) =>
      startOf(a) - startOf(b) ||
      (Date.parse(a.metadata.creationTimestamp) || 0) -
        (Date.parse(b.metadata.creationTimestamp) || 0) ||
      (a.metadata.name < b.metadata.name ? -1 : 1);
    const limits: [string, number | undefined][] = [
      ["Complete", cj.spec?.successfulJobsHistoryLimit],
      ["Failed", cj.spec?.failedJobsHistoryLimit],
    ];
    for (const [type, limit] of limits) {
      if (typeof limit !== "number") continue;
      const done = jobs
        .filter((j) => jobCondition(j, type) && !j.metadata.deletionTimestamp)
        .sort(byStart);
      for (const j of done.slice(0, Math.max(0, done.length - limit))) {
        await this.deleteJob(ctx, cj, j);
        deleted.add(j.metadata.uid);
      }
    }
    return deleted;
  }
}
