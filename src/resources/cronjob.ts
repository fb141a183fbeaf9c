// batch/v1 CronJob: SetDefaults_CronJob, validateCronJobSpec (schedule, timeZone, job template),
// cronjob/strategy.go, printCronJob.
import { CronError, parseStandard, timeZoneError } from "../k8s/cron.ts";
import { type FieldError, invalid, notSupported, required } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { validateJobSpec } from "./job.ts";
import { age, ageColumn, column, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";
import {
  child,
  containerColumns,
  defaultTemplate,
  formatLabelSelector,
  integerColumn,
  nonNegative,
  selectorValue,
  stringColumn,
} from "./workload.ts";

function defaults(o: KObject): void {
  const spec = child(o, "spec");
  spec.concurrencyPolicy ||= "Allow";
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  // Only the pod inside the job template is defaulted; the JobSpec around it is not.
  const jobSpec = child(child(spec, "jobTemplate"), "spec");
  jobSpec.template ??= {};
  defaultTemplate(jobSpec.template);
}

/** validateScheduleFormat. */
function validateSchedule(schedule: string, allowTZ: boolean, timeZone: unknown): FieldError[] {
  const path = "spec.schedule";
  const errs: FieldError[] = [];
  try {
    parseStandard(schedule);
  } catch (e) {
    if (!(e instanceof CronError)) throw e;
    errs.push(invalid(path, schedule, e.message));
  }
  if (allowTZ && schedule.includes("TZ") && timeZone != null)
    errs.push(
      invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"),
    );
  else if (!allowTZ && schedule.includes("TZ"))
    errs.push(
      invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
    );
  return errs;
}

// https://data.iana.org/time-zones/theory.html#naming, plus 0-9 and + for legacy names.
const timeZoneChars = /^[A-Za-z.\-_0-9+]{1,14}$/;

/** validateTimeZone. */
export function validateTimeZone(tz: unknown): FieldError[] {
  const path = "spec.timeZone";
  if (tz === undefined || tz === null) return [];
  const name = String(tz);
  if (name === "") return [invalid(path, name, "timeZone must be nil or non-empty string")];
  for (const part of name.split("/"))
    if (part === "." || part === ".." || part.startsWith("-") || !timeZoneChars.test(part))
      return [invalid(path, name, `unknown time zone ${name}`)];
  const errs: FieldError[] = [];
  if (name.toLowerCase() === "local")
    errs.push(
      invalid(
        path,
        name,
        "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
      ),
    );
  // Go's LoadLocation knows "Local" itself; any other name must be a zone.
  const err = name === "Local" ? undefined : timeZoneError(name);
  if (err) errs.push(invalid(path, name, err));
  return errs;
}

/** validateCronJobSpec without the schedule and time zone, which depend on the old object. */
function validateSpec(spec: KObject): FieldError[] {
  const errs: FieldError[] = [];
  errs.push(...nonNegative(spec.startingDeadlineSeconds, "spec.startingDeadlineSeconds"));
  const policy = spec.concurrencyPolicy ?? "";
  if (policy === "") errs.push(required("spec.concurrencyPolicy"));
  else if (!["Allow", "Forbid", "Replace"].includes(policy))
    errs.push(notSupported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]));
  // ValidateJobTemplateSpec: the CronJob controller generates the selector.
  const jobSpec = spec.jobTemplate?.spec ?? {};
  errs.push(...validateJobSpec(jobSpec, "spec.jobTemplate.spec"));
  if (jobSpec.selector != null)
    errs.push(
      invalid(
        "spec.jobTemplate.spec.selector",
        selectorValue(jobSpec.selector),
        "`selector` will be auto-generated",
      ),
    );
  if (jobSpec.manualSelector === true)
    errs.push(notSupported("spec.jobTemplate.spec.manualSelector", true, ["nil", "false"]));
  errs.push(
    ...nonNegative(spec.successfulJobsHistoryLimit, "spec.successfulJobsHistoryLimit"),
    ...nonNegative(spec.failedJobsHistoryLimit, "spec.failedJobsHistoryLimit"),
  );
  return errs;
}

function scheduleErrors(spec: KObject, allowTZ: boolean): FieldError[] {
  const schedule = spec.schedule ?? "";
  return schedule === ""
    ? [required("spec.schedule")]
    : validateSchedule(schedule, allowTZ, spec.timeZone);
}

/** ValidateCronJobCreate; on update the old object decides (validateUpdate). */
function validate(o: KObject, old?: KObject): FieldError[] {
  const spec = o.spec ?? {};
  if (old !== undefined) return validateSpec(spec);
  const errs = [
    ...scheduleErrors(spec, false),
    ...validateSpec(spec),
    ...validateTimeZone(spec.timeZone),
  ];
  // Job names are <cronjob>-<11 characters>, and must stay a 63-character label.
  const name = o.metadata?.name ?? "";
  if (name.length > 52)
    errs.push(invalid("metadata.name", name, "must be no more than 52 characters"));
  return errs;
}

/** ValidateCronJobUpdate: TZ= may stay in a schedule that had it; the zone is checked when it changes. */
function validateUpdate(o: KObject, old: KObject): FieldError[] {
  const spec = o.spec ?? {};
  const prev = old.spec ?? {};
  const errs = scheduleErrors(spec, String(prev.schedule ?? "").includes("TZ"));
  if ((spec.timeZone ?? null) !== (prev.timeZone ?? null))
    errs.push(...validateTimeZone(spec.timeZone));
  return errs;
}

const printBool = (v: unknown): string => (v === true ? "True" : v === false ? "False" : "<unset>");

export const cronJobs = defineStrategy(findInfo("batch", "cronjobs"), {
  defaults,
  validate,
  validateUpdate,
  columns: [
    nameColumn,
    stringColumn(
      "Schedule",
      "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
      (o) => o.spec?.schedule ?? "",
    ),
    stringColumn(
      "Timezone",
      "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
      (o) => o.spec?.timeZone ?? "<none>",
    ),
    column("Suspend", (o) => printBool(o.spec?.suspend), {
      type: "boolean",
      description:
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
    }),
    integerColumn(
      "Active",
      "A list of pointers to currently running jobs.",
      (o) => (o.status?.active ?? []).length,
    ),
    stringColumn(
      "Last Schedule",
      "Information when was the last time the job was successfully scheduled.",
      (o, now) => (o.status?.lastScheduleTime ? age(o.status.lastScheduleTime, now) : "<none>"),
    ),
    ageColumn,
    ...containerColumns((o) => o.spec?.jobTemplate?.spec?.template?.spec),
    {
      ...wide("Selector", (o) => formatLabelSelector(o.spec?.jobTemplate?.spec?.selector)),
      description:
        "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    },
  ],
});
