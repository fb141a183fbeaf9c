// apps/v1 Deployment: pkg/apis/apps/v1/defaults.go, pkg/apis/apps/validation,
// pkg/registry/apps/deployment/strategy.go, printDeployment.
import { type FieldError, forbidden, invalid, notSupported, required } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";
import {
  child,
  containerColumns,
  count,
  defaultTemplate,
  intOrPercentValue,
  nonNegative,
  notMoreThan100Percent,
  positiveIntOrPercent,
  selectorString,
  semanticEqual,
  stringColumn,
  validateAlwaysRestart,
  validateSelectorUpdate,
  validateTemplate,
  validateWorkloadSelector,
} from "./workload.ts";

function defaults(o: KObject): void {
  const spec = child(o, "spec");
  spec.replicas ??= 1;
  const strategy = child(spec, "strategy");
  strategy.type ||= "RollingUpdate";
  if (strategy.type === "RollingUpdate") {
    const ru = child(strategy, "rollingUpdate");
    ru.maxUnavailable ??= "25%";
    ru.maxSurge ??= "25%";
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  spec.template ??= {};
  defaultTemplate(spec.template);
}

/** ValidateDeploymentStrategy and ValidateRollingUpdateDeployment. */
function validateStrategy(strategy: KObject | undefined, path: string): FieldError[] {
  const s = strategy ?? {};
  const errs: FieldError[] = [];
  if (s.type === "Recreate") {
    if (s.rollingUpdate)
      errs.push(
        forbidden(
          `${path}.rollingUpdate`,
          "may not be specified when strategy `type` is 'Recreate'",
        ),
      );
  } else if (s.type === "RollingUpdate") {
    const ru = s.rollingUpdate;
    if (!ru)
      errs.push(required(`${path}.rollingUpdate`, "this should be defaulted and never be nil"));
    else {
      const at = `${path}.rollingUpdate`;
      errs.push(
        ...positiveIntOrPercent(ru.maxUnavailable, `${at}.maxUnavailable`),
        ...positiveIntOrPercent(ru.maxSurge, `${at}.maxSurge`),
      );
      if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0)
        errs.push(
          invalid(`${at}.maxUnavailable`, ru.maxUnavailable, "may not be 0 when `maxSurge` is 0"),
        );
      errs.push(...notMoreThan100Percent(ru.maxUnavailable, `${at}.maxUnavailable`));
    }
  } else {
    errs.push(notSupported(path, s, ["Recreate", "RollingUpdate"]));
  }
  return errs;
}

/** ValidateDeploymentSpec. */
function validate(o: KObject): FieldError[] {
  const spec = o.spec ?? {};
  const errs = [
    ...nonNegative(spec.replicas, "spec.replicas"),
    ...validateWorkloadSelector(spec, "spec", {
      noun: "deployment",
      required: true,
      unconvertible: "invalid label selector",
    }),
    ...validateTemplate(spec.template, "spec.template"),
    ...validateAlwaysRestart(spec, "spec", "ReplicaSet"),
    ...validateStrategy(spec.strategy, "spec.strategy"),
    ...nonNegative(spec.minReadySeconds, "spec.minReadySeconds"),
    ...nonNegative(spec.revisionHistoryLimit, "spec.revisionHistoryLimit"),
  ];
  const pds = spec.progressDeadlineSeconds;
  if (typeof pds === "number") {
    errs.push(...nonNegative(pds, "spec.progressDeadlineSeconds"));
    if (pds <= (spec.minReadySeconds ?? 0))
      errs.push(
        invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"),
      );
  }
  return [...errs, ...validateStatus(o.status)];
}

/** ValidateDeploymentStatus (the pipeline keeps the old status on spec writes). */
function validateStatus(status: KObject | undefined): FieldError[] {
  if (!status) return [];
  const errs: FieldError[] = [];
  for (const f of [
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
    "collisionCount",
  ])
    errs.push(...nonNegative(status[f], `status.${f}`));
  const replicas = count(status.replicas);
  const msg = "cannot be greater than status.replicas";
  for (const f of ["updatedReplicas", "readyReplicas", "availableReplicas"])
    if (count(status[f]) > replicas) errs.push(invalid(`status.${f}`, status[f], msg));
  if (count(status.availableReplicas) > count(status.readyReplicas))
    errs.push(
      invalid(
        "status.availableReplicas",
        status.availableReplicas,
        "cannot be greater than readyReplicas",
      ),
    );
  return errs;
}

export const deployments = defineStrategy(findInfo("apps", "deployments"), {
  defaults,
  // Annotations are copied to the ReplicaSets, so changing them is a new generation too.
  prepareForUpdate(o, old) {
    if (!semanticEqual(o.metadata?.annotations, old.metadata?.annotations))
      o.metadata.generation = (old.metadata?.generation ?? 0) + 1;
  },
  validate,
  validateUpdate: validateSelectorUpdate,
  columns: [
    nameColumn,
    stringColumn(
      "Ready",
      "Number of the pod with ready state",
      (o) => `${count(o.status?.readyReplicas)}/${count(o.spec?.replicas)}`,
    ),
    stringColumn(
      "Up-to-date",
      "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
      (o) => count(o.status?.updatedReplicas),
    ),
    stringColumn(
      "Available",
      "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
      (o) => count(o.status?.availableReplicas),
    ),
    ageColumn,
    ...containerColumns((o) => o.spec?.template?.spec),
    {
      ...wide("Selector", (o) => selectorString(o.spec?.selector)),
      description:
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
    },
  ],
});
