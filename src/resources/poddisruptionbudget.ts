// policy/v1 PodDisruptionBudget: ValidatePodDisruptionBudget(Spec|StatusUpdate),
// pkg/registry/policy/poddisruptionbudget/strategy.go and printPodDisruptionBudget.
import { type FieldError, invalid, notSupported } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";
import {
  count,
  integerColumn,
  nonNegative,
  notMoreThan100Percent,
  positiveIntOrPercent,
  stringColumn,
  validateLabelSelector,
} from "./workload.ts";

const EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"];

function validateSpec(spec: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const { minAvailable, maxUnavailable } = spec;
  if (minAvailable != null && maxUnavailable != null)
    errs.push(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"));
  for (const [name, v] of [
    ["minAvailable", minAvailable],
    ["maxUnavailable", maxUnavailable],
  ] as const) {
    if (v == null) continue;
    errs.push(...positiveIntOrPercent(v, `spec.${name}`));
    errs.push(...notMoreThan100Percent(v, `spec.${name}`));
  }
  errs.push(...validateLabelSelector(spec.selector, "spec.selector"));
  const policy = spec.unhealthyPodEvictionPolicy;
  if (policy != null && !EVICTION_POLICIES.includes(policy))
    errs.push(notSupported("spec.unhealthyPodEvictionPolicy", policy, EVICTION_POLICIES));
  return errs;
}

function validateStatus(status: KObject | undefined): FieldError[] {
  if (!status) return [];
  return ["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"].flatMap((f) =>
    nonNegative(status[f], `status.${f}`),
  );
}

const intOrPercent = (v: unknown) => (v == null ? "N/A" : String(v));

export const podDisruptionBudgets = defineStrategy(findInfo("policy", "poddisruptionbudgets"), {
  validate: (o) => [...validateSpec(o.spec ?? {}), ...validateStatus(o.status)],
  columns: [
    nameColumn,
    stringColumn("Min Available", "The minimum number of pods that must be available.", (o) =>
      intOrPercent(o.spec?.minAvailable),
    ),
    stringColumn("Max Unavailable", "The maximum number of pods that may be unavailable.", (o) =>
      intOrPercent(o.spec?.maxUnavailable),
    ),
    integerColumn(
      "Allowed Disruptions",
      "Calculated number of pods that may be disrupted at this time.",
      (o) => count(o.status?.disruptionsAllowed),
    ),
    ageColumn,
  ],
});
