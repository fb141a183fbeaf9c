// batch/v1 Job: SetDefaults_Job, pkg/apis/batch/validation (ValidateJob, ValidateJobSpecUpdate),
// pkg/registry/batch/job/strategy.go (generated selector), printJob.
import {
  type FieldError,
  invalid,
  isDNS1123Label,
  isDNS1123Subdomain,
  notSupported,
  regexError,
  required,
  tooLong,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { validatePodFailurePolicy, validateSuccessPolicy } from "./job-policies.ts";
import { age, ageColumn, humanDuration, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";
import {
  asSelector,
  child,
  containerColumns,
  count,
  defaultTemplate,
  formatLabelSelector,
  immutable,
  nonNegative,
  selectorValue,
  semanticEqual,
  sortedMap,
  stringColumn,
  validateLabelSelector,
  validateTemplate,
} from "./workload.ts";

/** Label on a Job's pods naming the Job's uid; the generated selector selects it. */
export const CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid";
/** Label on a Job's pods naming the Job. */
export const JOB_NAME_LABEL = "batch.kubernetes.io/job-name";
/** Unprefixed forms Kubernetes still sets for older clients (batch.LegacyControllerUidLabel). */
export const LEGACY_CONTROLLER_UID_LABEL = "controller-uid";
/** batch.LegacyJobNameLabel. */
export const LEGACY_JOB_NAME_LABEL = "job-name";

const MAX_INT32 = 2_147_483_647;

/** SetDefaults_Job (plus the pod defaults inside the template). */
function defaults(o: KObject): void {
  const spec = child(o, "spec");
  if (spec.completions == null && spec.parallelism == null) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= spec.backoffLimitPerIndex != null ? MAX_INT32 : 6;
  const labels = spec.template?.metadata?.labels;
  if (labels && Object.keys(o.metadata?.labels ?? {}).length === 0)
    o.metadata.labels = { ...labels };
  spec.completionMode ??= "NonIndexed";
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= spec.podFailurePolicy ? "Failed" : "TerminatingOrFailed";
  spec.manualSelector ??= false;
  for (const rule of spec.podFailurePolicy?.rules ?? [])
    for (const pattern of rule.onPodConditions ?? []) pattern.status ||= "True";
  spec.template ??= {};
  defaultTemplate(spec.template);
}

/** generateSelector: pods carry the Job's name and uid; the selector picks the uid. */
function generateSelector(o: KObject): void {
  const t = child(o.spec, "template");
  const meta = child(t, "metadata");
  const labels = child(meta, "labels");
  for (const key of [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL]) labels[key] ??= o.metadata.name;
  for (const key of [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL])
    labels[key] ??= o.metadata.uid;
  const sel = child(o.spec, "selector");
  const matchLabels = child(sel, "matchLabels");
  matchLabels[CONTROLLER_UID_LABEL] ??= o.metadata.uid;
}

/** apivalidation.ValidateHasLabel. */
function hasLabel(
  meta: KObject | undefined,
  path: string,
  key: string,
  expected: string,
): FieldError[] {
  const labels: Record<string, string> = meta?.labels ?? {};
  const at = `${path}.labels[${key}]`;
  if (!Object.hasOwn(labels, key)) return [required(at, expected)];
  if (labels[key] !== expected) return [invalid(at, sortedMap(labels), `must be '${expected}'`)];
  return [];
}

/** validateGeneratedSelector. */
function validateGeneratedSelector(o: KObject, prefixed: boolean): FieldError[] {
  const spec = o.spec ?? {};
  if (spec.manualSelector === true || !spec.selector) return [];
  const errs: FieldError[] = [];
  const uid = o.metadata?.uid ?? "";
  const name = o.metadata?.name ?? "";
  if (!uid) errs.push(required("metadata.uid"));
  const meta = spec.template?.metadata;
  const at = "spec.template.metadata";
  errs.push(
    ...hasLabel(meta, at, LEGACY_CONTROLLER_UID_LABEL, uid),
    ...hasLabel(meta, at, LEGACY_JOB_NAME_LABEL, name),
  );
  const expected: Record<string, string> = {};
  if (prefixed) {
    errs.push(
      ...hasLabel(meta, at, CONTROLLER_UID_LABEL, uid),
      ...hasLabel(meta, at, JOB_NAME_LABEL, name),
    );
    expected[CONTROLLER_UID_LABEL] = uid;
    expected[JOB_NAME_LABEL] = name;
  }
  expected[LEGACY_CONTROLLER_UID_LABEL] = uid;
  expected[LEGACY_JOB_NAME_LABEL] = name;
  const selector = asSelector(spec.selector);
  if (selector && !selector.matches(expected))
    errs.push(
      invalid("spec.selector", selectorValue(spec.selector), "`selector` not auto-generated"),
    );
  return errs;
}

const httpPathFmt = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";
const httpPathRe = new RegExp(`^${httpPathFmt}$`);

/** validation.IsDomainPrefixedPath. */
function domainPrefixedPath(path: string, value: string): FieldError[] {
  if (value === "") return [required(path)];
  const slash = value.indexOf("/");
  const host = slash < 0 ? value : value.slice(0, slash);
  const rest = slash < 0 ? "" : value.slice(slash + 1);
  if (slash < 0 || host === "" || rest === "")
    return [invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')];
  const errs = isDNS1123Subdomain(host).map((m) => invalid(path, host, m));
  if (!httpPathRe.test(rest))
    errs.push(invalid(path, rest, regexError("Invalid path", httpPathFmt)));
  return errs;
}

/** validateJobSpec: everything but the selector, shared with CronJob's job template. */
export function validateJobSpec(spec: KObject, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of [
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "backoffLimit",
    "ttlSecondsAfterFinished",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
  ])
    errs.push(...nonNegative(spec[f], `${path}.${f}`));
  if (spec.maxFailedIndexes != null && spec.backoffLimitPerIndex == null)
    errs.push(required(`${path}.backoffLimitPerIndex`, "when maxFailedIndexes is specified"));
  if (typeof spec.managedBy === "string") {
    errs.push(...domainPrefixedPath(`${path}.managedBy`, spec.managedBy));
    if (spec.managedBy.length > 63) errs.push(tooLong(`${path}.managedBy`, 63));
  }
  const mode = spec.completionMode;
  if (mode != null && mode !== "NonIndexed" && mode !== "Indexed")
    errs.push(notSupported(`${path}.completionMode`, mode, ["NonIndexed", "Indexed"]));
  if (mode === "Indexed") {
    if (spec.completions == null)
      errs.push(required(`${path}.completions`, "when completion mode is Indexed"));
    if (typeof spec.parallelism === "number" && spec.parallelism > 100_000)
      errs.push(
        invalid(
          `${path}.parallelism`,
          spec.parallelism,
          "must be less than or equal to 100000 when completion mode is Indexed",
        ),
      );
    if (
      spec.completions != null &&
      spec.maxFailedIndexes != null &&
      spec.maxFailedIndexes > spec.completions
    )
      errs.push(
        invalid(
          `${path}.maxFailedIndexes`,
          spec.maxFailedIndexes,
          "must be less than or equal to completions",
        ),
      );
  } else {
    for (const f of ["backoffLimitPerIndex", "maxFailedIndexes"])
      if (spec[f] != null)
        errs.push(invalid(`${path}.${f}`, spec[f], "requires indexed completion mode"));
  }
  if (spec.successPolicy != null && mode !== "Indexed")
    errs.push(
      invalid(`${path}.successPolicy`, spec.successPolicy, "requires indexed completion mode"),
    );
  else if (spec.successPolicy != null)
    errs.push(...validateSuccessPolicy(spec, `${path}.successPolicy`));
  if (spec.podFailurePolicy != null)
    errs.push(...validatePodFailurePolicy(spec, `${path}.podFailurePolicy`));
  const replacement = spec.podReplacementPolicy;
  if (replacement != null) {
    if (spec.podFailurePolicy) {
      if (replacement !== "Failed")
        errs.push(notSupported(`${path}.podReplacementPolicy`, replacement, ["Failed"]));
    } else if (replacement !== "Failed" && replacement !== "TerminatingOrFailed") {
      errs.push(
        notSupported(`${path}.podReplacementPolicy`, replacement, [
          "Failed",
          "TerminatingOrFailed",
        ]),
      );
    }
  }
  errs.push(...validateTemplate(spec.template, `${path}.template`));
  // The pod default makes a missing restartPolicy "Always", so both read as unset.
  const policy = spec.template?.spec?.restartPolicy ?? "";
  const at = `${path}.template.spec.restartPolicy`;
  if (policy === "Always" || policy === "")
    errs.push(required(at, 'valid values: "OnFailure", "Never"'));
  else if (policy !== "OnFailure" && policy !== "Never")
    errs.push(notSupported(at, policy, ["OnFailure", "Never"]));
  else if (spec.podFailurePolicy && policy !== "Never")
    errs.push(invalid(at, policy, 'only "Never" is supported when podFailurePolicy is specified'));
  return errs;
}

/** ValidateJob (metadata aside) and, for status writes, validateJobStatus's counters. */
function validate(o: KObject, old?: KObject): FieldError[] {
  const spec = o.spec ?? {};
  const labels = spec.template?.metadata?.labels ?? {};
  // Jobs made before the prefixed labels existed keep validating without them.
  const prefixed =
    old === undefined || (JOB_NAME_LABEL in labels && CONTROLLER_UID_LABEL in labels);
  const errs = [...validateGeneratedSelector(o, prefixed), ...validateJobSpec(spec, "spec")];
  if (!spec.selector) errs.push(required("spec.selector"));
  else errs.push(...validateLabelSelector(spec.selector, "spec.selector"));
  const selector = asSelector(spec.selector);
  if (selector && !selector.matches(labels))
    errs.push(
      invalid(
        "spec.template.metadata.labels",
        sortedMap(labels),
        "`selector` does not match template `labels`",
      ),
    );
  const name = o.metadata?.name ?? "";
  if (
    spec.completionMode === "Indexed" &&
    typeof spec.completions === "number" &&
    spec.completions > 0
  ) {
    const host = `${name}-${spec.completions - 1}`;
    if (isDNS1123Label(host).length)
      errs.push(
        invalid(
          "metadata.name",
          name,
          `will not able to create pod with invalid DNS label: ${host}`,
        ),
      );
  }
  for (const f of ["active", "succeeded", "failed", "ready", "terminating"])
    errs.push(...nonNegative(o.status?.[f], `status.${f}`));
  return errs;
}

/** Scheduling directives of a suspended Job that never started may change (validatePodTemplateUpdate). */
function templateForComparison(
  next: KObject | undefined,
  old: KObject | undefined,
  mutable: boolean,
) {
  if (!mutable) return old;
  const t = structuredClone(old ?? {});
  const n = next ?? {};
  t.spec ??= {};
  const nAffinity = n.spec?.affinity;
  const oAffinity = t.spec.affinity;
  if (!nAffinity && oAffinity) {
    delete oAffinity.nodeAffinity;
    if (Object.keys(oAffinity).length === 0) delete t.spec.affinity;
  } else if (nAffinity && !oAffinity) {
    t.spec.affinity = nAffinity.nodeAffinity ? { nodeAffinity: nAffinity.nodeAffinity } : {};
  } else if (nAffinity && oAffinity) {
    oAffinity.nodeAffinity = nAffinity.nodeAffinity;
  }
  t.spec.nodeSelector = n.spec?.nodeSelector;
  t.spec.tolerations = n.spec?.tolerations;
  t.spec.schedulingGates = n.spec?.schedulingGates;
  t.metadata = { ...t.metadata, annotations: n.metadata?.annotations, labels: n.metadata?.labels };
  return t;
}

/** ValidateJobSpecUpdate, beyond what `validate` already checks. */
function validateUpdate(o: KObject, old: KObject): FieldError[] {
  const spec = o.spec ?? {};
  const prev = old.spec ?? {};
  const errs: FieldError[] = [];
  // Completions of an Indexed Job may change together with parallelism (elastic Indexed Jobs).
  if (spec.completionMode !== "Indexed")
    errs.push(...immutable(spec.completions, prev.completions, "spec.completions"));
  else if (
    spec.completions != null &&
    spec.completions !== prev.completions &&
    spec.completions !== spec.parallelism
  )
    errs.push(
      invalid(
        "spec.completions",
        spec.completions,
        "can only be modified in tandem with spec.parallelism",
      ),
    );
  if (!semanticEqual(spec.selector, prev.selector))
    errs.push(invalid("spec.selector", selectorValue(spec.selector), "field is immutable"));
  const schedulingMutable = prev.suspend === true && !old.status?.startTime;
  errs.push(
    ...immutable(
      spec.template,
      templateForComparison(spec.template, prev.template, schedulingMutable),
      "spec.template",
    ),
  );
  for (const f of [
    "completionMode",
    "podFailurePolicy",
    "backoffLimitPerIndex",
    "managedBy",
    "successPolicy",
  ])
    errs.push(...immutable(spec[f], prev[f], `spec.${f}`));
  return errs;
}

const hasCondition = (o: KObject, type: string) =>
  (o.status?.conditions ?? []).some((c: KObject) => c.type === type && c.status === "True");

/** printJob's STATUS cell. */
function jobStatus(o: KObject): string {
  if (hasCondition(o, "Complete")) return "Complete";
  if (hasCondition(o, "Failed")) return "Failed";
  if (o.metadata?.deletionTimestamp) return "Terminating";
  if (hasCondition(o, "Suspended")) return "Suspended";
  if (hasCondition(o, "FailureTarget")) return "FailureTarget";
  if (hasCondition(o, "SuccessCriteriaMet")) return "SuccessCriteriaMet";
  return "Running";
}

function completions(o: KObject): string {
  const succeeded = count(o.status?.succeeded);
  if (o.spec?.completions != null) return `${succeeded}/${o.spec.completions}`;
  const parallelism = count(o.spec?.parallelism);
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function duration(o: KObject, now: number): string {
  const start = o.status?.startTime;
  if (!start) return "";
  const end = o.status?.completionTime;
  return end ? humanDuration(Date.parse(end) - Date.parse(start)) : age(start, now);
}

export const jobs = defineStrategy(findInfo("batch", "jobs"), {
  defaults,
  prepareForCreate(o) {
    if (o.spec?.manualSelector !== true) generateSelector(o);
  },
  validate,
  validateUpdate,
  fields: (o) => ({ "status.successful": String(count(o.status?.succeeded)) }),
  columns: [
    nameColumn,
    stringColumn("Status", "Status of the job.", jobStatus),
    stringColumn(
      "Completions",
      "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
      completions,
    ),
    stringColumn("Duration", "Time required to complete the job.", duration),
    ageColumn,
    ...containerColumns((o) => o.spec?.template?.spec),
    {
      ...wide("Selector", (o) => formatLabelSelector(o.spec?.selector)),
      description:
        "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    },
  ],
});
