// apps/v1 ReplicaSet: SetDefaults_ReplicaSet, ValidateReplicaSetSpec, replicaset/strategy.go,
// printReplicaSet.
import { type FieldError, invalid } from "../k8s/validation.ts";
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
  integerColumn,
  nonNegative,
  validateAlwaysRestart,
  validateSelectorUpdate,
  validateTemplate,
  validateWorkloadSelector,
} from "./workload.ts";

function validateStatus(status: KObject | undefined): FieldError[] {
  if (!status) return [];
  const errs: FieldError[] = [];
  for (const f of [
    "replicas",
    "fullyLabeledReplicas",
    "readyReplicas",
    "availableReplicas",
    "observedGeneration",
  ])
    errs.push(...nonNegative(status[f], `status.${f}`));
  const replicas = count(status.replicas);
  for (const f of ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"])
    if (count(status[f]) > replicas)
      errs.push(invalid(`status.${f}`, status[f], "cannot be greater than status.replicas"));
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

export const replicaSets = defineStrategy(findInfo("apps", "replicasets"), {
  defaults(o) {
    const spec = child(o, "spec");
    spec.replicas ??= 1;
    spec.template ??= {};
    defaultTemplate(spec.template);
  },
  validate(o) {
    const spec = o.spec ?? {};
    return [
      ...nonNegative(spec.replicas, "spec.replicas"),
      ...nonNegative(spec.minReadySeconds, "spec.minReadySeconds"),
      // Kubernetes reuses the Deployment wording here.
      ...validateWorkloadSelector(spec, "spec", {
        noun: "deployment",
        required: true,
        unconvertible: "invalid label selector",
      }),
      ...validateTemplate(spec.template, "spec.template"),
      ...validateAlwaysRestart(spec, "spec", "ReplicaSet"),
      ...validateStatus(o.status),
    ];
  },
  validateUpdate: validateSelectorUpdate,
  fields: (o) => ({ "status.replicas": String(count(o.status?.replicas)) }),
  columns: [
    nameColumn,
    integerColumn(
      "Desired",
      "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
      (o) => count(o.spec?.replicas),
    ),
    integerColumn(
      "Current",
      "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
      (o) => count(o.status?.replicas),
    ),
    integerColumn(
      "Ready",
      "readyReplicas is the number of pods targeted by this ReplicaSet with a Ready Condition.",
      (o) => count(o.status?.readyReplicas),
    ),
    ageColumn,
    ...containerColumns((o) => o.spec?.template?.spec),
    {
      ...wide("Selector", (o) => formatLabelSelector(o.spec?.selector)),
      description:
        "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    },
  ],
});
