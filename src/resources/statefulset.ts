// apps/v1 StatefulSet: SetDefaults_StatefulSet, ValidateStatefulSetSpec and
// ValidateStatefulSetUpdate, statefulset/strategy.go, printStatefulSet.
import {
  type FieldError,
  forbidden,
  invalid,
  notSupported,
  required,
  validateAnnotations,
  validateLabels,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";
import {
  child,
  collisionCountUpdate,
  containerColumns,
  count,
  defaultTemplate,
  intOrPercentValue,
  nonNegative,
  notMoreThan100Percent,
  positiveIntOrPercent,
  semanticEqual,
  stringColumn,
  validateAlwaysRestart,
  validateWorkloadSelector,
} from "./workload.ts";

function defaults(o: KObject): void {
  const spec = child(o, "spec");
  spec.podManagementPolicy ||= "OrderedReady";
  const us = child(spec, "updateStrategy");
  if (!us.type) {
    us.type = "RollingUpdate";
    us.rollingUpdate ??= {};
  }
  if (us.type === "RollingUpdate" && us.rollingUpdate) us.rollingUpdate.partition ??= 0;
  const retention = child(spec, "persistentVolumeClaimRetentionPolicy");
  retention.whenDeleted ||= "Retain";
  retention.whenScaled ||= "Retain";
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.template ??= {};
  defaultTemplate(spec.template);
  // Claim templates are full PersistentVolumeClaims on the wire (apps/v1 conversion and PVC defaults).
  for (const claim of spec.volumeClaimTemplates ?? []) {
    claim.apiVersion = "v1";
    claim.kind = "PersistentVolumeClaim";
    claim.spec ??= {};
    claim.spec.volumeMode ||= "Filesystem";
    claim.status ??= {};
    claim.status.phase ||= "Pending";
  }
}

function validateUpdateStrategy(us: KObject, path: string): FieldError[] {
  const at = `${path}.updateStrategy`;
  switch (us.type ?? "") {
    case "":
      return [required(at)];
    case "OnDelete":
      return us.rollingUpdate
        ? [
            invalid(
              `${at}.rollingUpdate`,
              us.rollingUpdate,
              "only allowed for updateStrategy 'RollingUpdate'",
            ),
          ]
        : [];
    case "RollingUpdate": {
      const ru = us.rollingUpdate;
      if (!ru) return [];
      const errs = nonNegative(ru.partition, `${at}.rollingUpdate.partition`);
      const mu = ru.maxUnavailable;
      if (mu !== undefined && mu !== null) {
        const f = `${at}.rollingUpdate.maxUnavailable`;
        errs.push(...positiveIntOrPercent(mu, f));
        if (intOrPercentValue(mu) === 0) errs.push(invalid(f, mu, "cannot be 0"));
        errs.push(...notMoreThan100Percent(mu, f));
      }
      return errs;
    }
    default:
      return [invalid(at, us, "must be 'RollingUpdate' or 'OnDelete'")];
  }
}

/** ValidateStatefulSetSpec. */
function validate(o: KObject): FieldError[] {
  const spec = o.spec ?? {};
  const errs: FieldError[] = [];
  const pmp = spec.podManagementPolicy ?? "";
  if (pmp === "") errs.push(required("spec.podManagementPolicy"));
  else if (pmp !== "OrderedReady" && pmp !== "Parallel")
    errs.push(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"));
  errs.push(...validateUpdateStrategy(spec.updateStrategy ?? {}, "spec"));
  const retention = spec.persistentVolumeClaimRetentionPolicy;
  if (retention)
    for (const f of ["whenDeleted", "whenScaled"])
      if (retention[f] !== "Retain" && retention[f] !== "Delete")
        errs.push(
          notSupported(`spec.persistentVolumeClaimRetentionPolicy.${f}`, retention[f] ?? "", [
            "Retain",
            "Delete",
          ]),
        );
  errs.push(
    ...nonNegative(spec.replicas, "spec.replicas"),
    ...nonNegative(spec.minReadySeconds, "spec.minReadySeconds"),
  );
  if (spec.ordinals) errs.push(...nonNegative(spec.ordinals.start, "spec.ordinals.start"));
  errs.push(
    ...validateWorkloadSelector(spec, "spec", {
      noun: "statefulset",
      required: true,
      unconvertible: "",
    }),
  );
  // ValidatePodTemplateSpecForStatefulSet checks only the template's labels and annotations.
  const meta = spec.template?.metadata ?? {};
  errs.push(
    ...validateLabels(meta.labels, "spec.template.labels"),
    ...validateAnnotations(meta.annotations, "spec.template.annotations"),
    ...validateAlwaysRestart(spec, "spec", "StatefulSet"),
    ...validateStatus(o.status),
  );
  return errs;
}

function validateStatus(status: KObject | undefined): FieldError[] {
  if (!status) return [];
  const errs: FieldError[] = [];
  const names = [
    "replicas",
    "readyReplicas",
    "currentReplicas",
    "updatedReplicas",
    "availableReplicas",
  ];
  for (const f of [...names, "observedGeneration", "collisionCount"])
    errs.push(...nonNegative(status[f], `status.${f}`));
  for (const f of names.slice(1))
    if (count(status[f]) > count(status.replicas))
      errs.push(invalid(`status.${f}`, status[f], "cannot be greater than status.replicas"));
  if (count(status.availableReplicas) > count(status.readyReplicas))
    errs.push(
      invalid(
        "status.availableReplicas",
        status.availableReplicas,
        "cannot be greater than status.readyReplicas",
      ),
    );
  return errs;
}

/** The spec fields an update may change; anything else is Forbidden (ValidateStatefulSetUpdate). */
const mutable = [
  "replicas",
  "template",
  "updateStrategy",
  "minReadySeconds",
  "ordinals",
  "revisionHistoryLimit",
  "persistentVolumeClaimRetentionPolicy",
];

function validateUpdate(o: KObject, old: KObject): FieldError[] {
  const rest = (spec: KObject | undefined) =>
    Object.fromEntries(Object.entries(spec ?? {}).filter(([k]) => !mutable.includes(k)));
  const errs: FieldError[] = [];
  if (!semanticEqual(rest(o.spec), rest(old.spec)))
    errs.push(
      forbidden(
        "spec",
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
      ),
    );
  return [...errs, ...collisionCountUpdate(o, old)];
}

export const statefulSets = defineStrategy(findInfo("apps", "statefulsets"), {
  // Pod names are <name>-<ordinal> and double as hostnames (ValidateStatefulSetName).
  nameRule: "label",
  defaults,
  validate,
  validateUpdate,
  columns: [
    nameColumn,
    stringColumn(
      "Ready",
      "Number of the pod with ready state",
      (o) => `${count(o.status?.readyReplicas)}/${count(o.spec?.replicas)}`,
    ),
    ageColumn,
    ...containerColumns((o) => o.spec?.template?.spec),
  ],
});
