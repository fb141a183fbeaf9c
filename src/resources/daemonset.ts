// apps/v1 DaemonSet: SetDefaults_DaemonSet, ValidateDaemonSetSpec, daemonset/strategy.go,
// printDaemonSet.
import { type FieldError, invalid, notSupported, required } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";
import {
  child,
  containerColumns,
  count,
  defaultTemplate,
  formatLabelSelector,
  formatLabels,
  integerColumn,
  intOrPercentValue,
  nonNegative,
  notMoreThan100Percent,
  positiveIntOrPercent,
  semanticEqual,
  stringColumn,
  validateAlwaysRestart,
  validateSelectorUpdate,
  validateTemplate,
  validateWorkloadSelector,
} from "./workload.ts";

/**
 * apps/v1 keeps the internal spec.templateGeneration in this annotation (apps/v1 conversion);
 * it starts at 1 and moves with every template change.
 */
export const TEMPLATE_GENERATION = "deprecated.daemonset.template.generation";

function defaults(o: KObject): void {
  const spec = child(o, "spec");
  const us = child(spec, "updateStrategy");
  us.type ||= "RollingUpdate";
  if (us.type === "RollingUpdate") {
    const ru = child(us, "rollingUpdate");
    ru.maxUnavailable ??= 1;
    ru.maxSurge ??= 0;
  }
  spec.revisionHistoryLimit ??= 10;
  spec.template ??= {};
  defaultTemplate(spec.template);
}

const templateGeneration = (o: KObject): number => {
  const n = Number(o.metadata?.annotations?.[TEMPLATE_GENERATION]);
  return Number.isInteger(n) && n > 0 ? n : 1;
};

const setTemplateGeneration = (o: KObject, n: number) => {
  o.metadata.annotations = { ...o.metadata.annotations, [TEMPLATE_GENERATION]: String(n) };
};

/** ValidateDaemonSetUpdateStrategy and ValidateRollingUpdateDaemonSet. */
function validateUpdateStrategy(us: KObject, path: string): FieldError[] {
  if (us.type === "OnDelete") return [];
  if (us.type !== "RollingUpdate") return [notSupported(path, us, ["RollingUpdate", "OnDelete"])];
  const ru = us.rollingUpdate;
  if (!ru) return [required(`${path}.rollingUpdate`)];
  const at = `${path}.rollingUpdate`;
  const errs = [
    ...positiveIntOrPercent(ru.maxUnavailable, `${at}.maxUnavailable`),
    ...positiveIntOrPercent(ru.maxSurge, `${at}.maxSurge`),
    ...notMoreThan100Percent(ru.maxUnavailable, `${at}.maxUnavailable`),
    ...notMoreThan100Percent(ru.maxSurge, `${at}.maxSurge`),
  ];
  const hasUnavailable = intOrPercentValue(ru.maxUnavailable) !== 0;
  const hasSurge = intOrPercentValue(ru.maxSurge) !== 0;
  if (hasUnavailable && hasSurge)
    errs.push(
      invalid(`${at}.maxSurge`, ru.maxSurge, "may not be set when maxUnavailable is non-zero"),
    );
  else if (!hasUnavailable && !hasSurge)
    errs.push(required(`${at}.maxUnavailable`, "cannot be 0 when maxSurge is 0"));
  return errs;
}

function validate(o: KObject): FieldError[] {
  const spec = o.spec ?? {};
  return [
    ...validateWorkloadSelector(spec, "spec", {
      noun: "daemonset",
      required: false,
      unconvertible: null,
    }),
    ...validateTemplate(spec.template, "spec.template"),
    ...validateAlwaysRestart(spec, "spec", "DaemonSet"),
    ...nonNegative(spec.minReadySeconds, "spec.minReadySeconds"),
    ...validateUpdateStrategy(spec.updateStrategy ?? {}, "spec.updateStrategy"),
    ...nonNegative(spec.revisionHistoryLimit, "spec.revisionHistoryLimit"),
    ...validateStatus(o.status),
  ];
}

function validateStatus(status: KObject | undefined): FieldError[] {
  if (!status) return [];
  return [
    "currentNumberScheduled",
    "numberMisscheduled",
    "desiredNumberScheduled",
    "numberReady",
    "observedGeneration",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
    "collisionCount",
  ].flatMap((f) => nonNegative(status[f], `status.${f}`));
}

export const daemonSets = defineStrategy(findInfo("apps", "daemonsets"), {
  defaults,
  prepareForCreate(o) {
    setTemplateGeneration(o, templateGeneration(o));
  },
  prepareForUpdate(o, old) {
    const prev = templateGeneration(old);
    setTemplateGeneration(o, semanticEqual(o.spec?.template, old.spec?.template) ? prev : prev + 1);
  },
  validate,
  validateUpdate: validateSelectorUpdate,
  columns: [
    nameColumn,
    integerColumn(
      "Desired",
      "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
      (o) => count(o.status?.desiredNumberScheduled),
    ),
    integerColumn(
      "Current",
      "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
      (o) => count(o.status?.currentNumberScheduled),
    ),
    integerColumn(
      "Ready",
      "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
      (o) => count(o.status?.numberReady),
    ),
    integerColumn(
      "Up-to-date",
      "The total number of nodes that are running updated daemon pod",
      (o) => count(o.status?.updatedNumberScheduled),
    ),
    integerColumn(
      "Available",
      "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
      (o) => count(o.status?.numberAvailable),
    ),
    stringColumn(
      "Node Selector",
      "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
      (o) => formatLabels(o.spec?.template?.spec?.nodeSelector),
    ),
    ageColumn,
    ...containerColumns((o) => o.spec?.template?.spec),
    {
      ...wide("Selector", (o) => formatLabelSelector(o.spec?.selector)),
      description:
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    },
  ],
});
