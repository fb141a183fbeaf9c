// PersistentVolumeClaims: SetDefaults_PersistentVolumeClaim(Spec),
// pkg/registry/core/persistentvolumeclaim/strategy.go, ValidatePersistentVolumeClaim(Update)
// and kubectl's printPersistentVolumeClaim.
import { QuantityError, quantityFromJSON } from "../k8s/quantity.ts";
import { type FieldError, forbidden, notSupported, required } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { jsonDiff, jsonEqual } from "./diff.ts";
import { findInfo } from "./find.ts";
import {
  accessModesString,
  positiveQuantity,
  quantityText,
  specOf,
  storageClass,
  validateAccessModes,
  volumeAttributesClass,
  volumeModes,
} from "./persistentvolume.ts";
import { canonicalResourceList, dnsSubdomainErrors } from "./podspec.ts";
import { ageColumn, column, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);

function validatePVC(o: KObject): FieldError[] {
  const spec = specOf(o);
  const errs = validateAccessModes(
    spec.accessModes,
    "spec.accessModes",
    "at least 1 access mode is required",
  );
  const storage = spec.resources?.requests?.storage;
  if (storage === undefined) errs.push(required("spec.resources[storage]"));
  else errs.push(...positiveQuantity(storage, "spec.resources[storage]"));
  if (spec.storageClassName)
    errs.push(...dnsSubdomainErrors("spec.storageClassName", spec.storageClassName));
  if (spec.volumeMode && !volumeModes.includes(spec.volumeMode))
    errs.push(notSupported("spec.volumeMode", spec.volumeMode, volumeModes));
  return errs;
}

const quantity = (raw: unknown) => {
  try {
    return raw === undefined ? undefined : quantityFromJSON(raw);
  } catch (err) {
    if (err instanceof QuantityError) return undefined;
    throw err;
  }
};

/** The spec is fixed but for its storage request (while bound) and a first volumeName. */
function validatePVCUpdate(o: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const next = structuredClone(specOf(o));
  const prev = structuredClone(specOf(old));
  if (!prev.volumeName) prev.volumeName = next.volumeName;
  if (o.status?.phase === "Bound" && isObject(next.resources?.requests))
    next.resources.requests.storage = prev.resources?.requests?.storage;
  next.volumeAttributesClassName = prev.volumeAttributesClassName;
  if (!jsonEqual(next, prev))
    errs.push(
      forbidden(
        "spec",
        `spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n${jsonDiff(prev, next).join("\n")}`,
      ),
    );
  const newSize = quantity(specOf(o).resources?.requests?.storage);
  const oldSize = quantity(specOf(old).resources?.requests?.storage);
  const statusSize = quantity(old.status?.capacity?.storage);
  if (
    newSize &&
    oldSize &&
    newSize.cmp(oldSize) < 0 &&
    (!statusSize || newSize.cmp(statusSize) <= 0)
  )
    errs.push(
      forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"),
    );
  return errs;
}

function capacityOf(o: KObject): string {
  if (!specOf(o).volumeName) return "";
  return quantityText(o.status?.capacity?.storage);
}

export const persistentVolumeClaims = defineStrategy(findInfo("", "persistentvolumeclaims"), {
  generation: false,
  defaults(o) {
    if (!isObject(o.spec)) o.spec = {};
    o.spec.volumeMode ||= "Filesystem";
    canonicalResourceList(o.spec.resources?.requests);
    canonicalResourceList(o.spec.resources?.limits);
  },
  prepareForCreate(o) {
    o.status = { phase: "Pending" };
  },
  validate: validatePVC,
  validateUpdate: validatePVCUpdate,
  fields: (o) => ({ name: o.metadata?.name ?? "" }),
  columns: [
    nameColumn,
    column(
      "Status",
      (o) => (o.metadata?.deletionTimestamp ? "Terminating" : (o.status?.phase ?? "")),
      {
        description: "phase represents the current phase of PersistentVolumeClaim.",
      },
    ),
    column("Volume", (o) => specOf(o).volumeName ?? "", {
      description:
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    }),
    column("Capacity", capacityOf, {
      description: "capacity represents the actual resources of the underlying volume.",
    }),
    column(
      "Access Modes",
      (o) => (specOf(o).volumeName ? accessModesString(o.status?.accessModes) : ""),
      {
        description: "accessModes contains the actual access modes the volume backing the PVC has.",
      },
    ),
    column("StorageClass", storageClass, { description: "StorageClass of the pvc" }),
    column("VolumeAttributesClass", volumeAttributesClass, {
      description: "VolumeAttributesClass of the pvc",
    }),
    ageColumn,
    wide("VolumeMode", (o) => specOf(o).volumeMode ?? "<unset>"),
  ],
});
