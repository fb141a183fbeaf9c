// PersistentVolumes: SetDefaults_PersistentVolume, pkg/registry/core/persistentvolume/strategy.go,
// ValidatePersistentVolume / ValidatePersistentVolumeUpdate and kubectl's printPersistentVolume.
import { QuantityError, quantityFromJSON } from "../k8s/quantity.ts";
import { type FieldError, forbidden, invalid, notSupported, required } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { jsonDiff, jsonEqual } from "./diff.ts";
import { findInfo } from "./find.ts";
import { canonicalResourceList, dnsSubdomainErrors } from "./podspec.ts";
import { ageColumn, column, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);
export const specOf = (o: KObject): KObject => (isObject(o.spec) ? o.spec : {});
const nowStamp = () => `${new Date().toISOString().slice(0, 19)}Z`;

const accessModes = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
export const volumeModes = ["Block", "Filesystem"];

/** ValidatePersistentVolume(Claim)Spec's access modes check. */
export function validateAccessModes(modes: unknown, path: string, detail: string): FieldError[] {
  const list: unknown[] = Array.isArray(modes) ? modes : [];
  if (list.length === 0) return [required(path, detail)];
  const errs = list
    .filter((m) => !accessModes.includes(String(m)))
    .map((m) => notSupported(path, m, accessModes));
  if (list.includes("ReadWriteOncePod") && list.length > 1)
    errs.push(forbidden(path, "may not use ReadWriteOncePod with other access modes"));
  return errs;
}

/** helper.GetAccessModesAsString: RWO,ROX,RWX,RWOP in that order, each once. */
export function accessModesString(modes: unknown): string {
  const list: unknown[] = Array.isArray(modes) ? modes : [];
  const short: [string, string][] = [
    ["ReadWriteOnce", "RWO"],
    ["ReadOnlyMany", "ROX"],
    ["ReadWriteMany", "RWX"],
    ["ReadWriteOncePod", "RWOP"],
  ];
  return short
    .filter(([m]) => list.includes(m))
    .map(([, s]) => s)
    .join(",");
}

/** The class of a volume or claim: the beta annotation wins over storageClassName. */
export const storageClass = (o: KObject): string =>
  o.metadata?.annotations?.["volume.beta.kubernetes.io/storage-class"] ??
  specOf(o).storageClassName ??
  "";

export const volumeAttributesClass = (o: KObject): string =>
  specOf(o).volumeAttributesClassName ?? "<unset>";

/** A positive quantity at `path`, or the reason it is not. */
export function positiveQuantity(raw: unknown, path: string): FieldError[] {
  try {
    const q = quantityFromJSON(raw);
    return q.sign() > 0 ? [] : [invalid(path, q.toString(), "must be greater than zero")];
  } catch (err) {
    if (!(err instanceof QuantityError)) throw err;
    return [invalid(path, raw, err.message)];
  }
}

/** Quantity.String() of a possibly absent quantity ("0" when unset). */
export function quantityText(raw: unknown): string {
  try {
    return quantityFromJSON(raw ?? null).toString();
  } catch {
    return String(raw);
  }
}

/** The v1 PersistentVolumeSource members. */
const pvSources = [
  "gcePersistentDisk",
  "awsElasticBlockStore",
  "hostPath",
  "glusterfs",
  "nfs",
  "rbd",
  "iscsi",
  "cinder",
  "cephfs",
  "fc",
  "flocker",
  "flexVolume",
  "azureFile",
  "vsphereVolume",
  "quobyte",
  "azureDisk",
  "photonPersistentDisk",
  "portworxVolume",
  "scaleIO",
  "local",
  "storageos",
  "csi",
];

const presentSources = (spec: KObject) =>
  pvSources.filter((k) => spec[k] !== undefined && spec[k] !== null);

const reclaimPolicies = ["Delete", "Recycle", "Retain"];

function validatePV(o: KObject): FieldError[] {
  const spec = specOf(o);
  const errs = validateAccessModes(spec.accessModes, "spec.accessModes", "");
  const capacity: KObject = isObject(spec.capacity) ? spec.capacity : {};
  const names = Object.keys(capacity);
  if (names.length === 0) errs.push(required("spec.capacity"));
  if (!names.includes("storage") || names.length > 1)
    errs.push(notSupported("spec.capacity", capacity, ["storage"]));
  for (const [r, q] of Object.entries(capacity))
    errs.push(...positiveQuantity(q, `spec.capacity[${r}]`));
  const policy = spec.persistentVolumeReclaimPolicy;
  if (policy && !reclaimPolicies.includes(policy))
    errs.push(notSupported("spec.persistentVolumeReclaimPolicy", policy, reclaimPolicies));
  if (spec.storageClassName)
    errs.push(...dnsSubdomainErrors("spec.storageClassName", spec.storageClassName));
  if (spec.volumeMode && !volumeModes.includes(spec.volumeMode))
    errs.push(notSupported("spec.volumeMode", spec.volumeMode, volumeModes));
  const sources = presentSources(spec);
  if (sources.length === 0) errs.push(required("spec", "must specify a volume type"));
  for (const k of sources.slice(1))
    errs.push(forbidden(`spec.${k}`, "may not specify more than 1 volume type"));
  const first = sources[0];
  if (first === "hostPath" && !spec.hostPath?.path) errs.push(required("spec.hostPath.path"));
  if (first === "local") {
    if (!spec.local?.path) errs.push(required("spec.local.path"));
    if (!spec.nodeAffinity)
      errs.push(required("spec.nodeAffinity", "Local volume requires node affinity"));
  }
  if (first === "nfs") {
    if (!spec.nfs?.server) errs.push(required("spec.nfs.server"));
    if (!spec.nfs?.path) errs.push(required("spec.nfs.path"));
  }
  if (first === "csi") {
    if (!spec.csi?.driver) errs.push(required("spec.csi.driver"));
    if (!spec.csi?.volumeHandle) errs.push(required("spec.csi.volumeHandle"));
  }
  return errs;
}

function validatePVUpdate(o: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const pick = (spec: KObject) => Object.fromEntries(pvSources.map((k) => [k, spec[k]]));
  const before = pick(specOf(old));
  const after = pick(specOf(o));
  if (!jsonEqual(before, after))
    errs.push(
      forbidden(
        "spec.persistentvolumesource",
        `spec.persistentvolumesource is immutable after creation\n${jsonDiff(before, after).join("\n")}`,
      ),
    );
  if ((specOf(o).volumeMode ?? null) !== (specOf(old).volumeMode ?? null))
    errs.push(invalid("volumeMode", specOf(o).volumeMode ?? null, "field is immutable"));
  if (specOf(old).nodeAffinity && !jsonEqual(specOf(o).nodeAffinity, specOf(old).nodeAffinity))
    errs.push(invalid("nodeAffinity", specOf(o).nodeAffinity ?? null, "field is immutable"));
  return errs;
}

function claimOf(o: KObject): string {
  const ref = specOf(o).claimRef;
  return isObject(ref) ? `${ref.namespace ?? ""}/${ref.name ?? ""}` : "";
}

const phaseOf = (o: KObject): string =>
  o.metadata?.deletionTimestamp ? "Terminating" : (o.status?.phase ?? "");

export const persistentVolumes = defineStrategy(findInfo("", "persistentvolumes"), {
  generation: false,
  defaults(o) {
    if (!isObject(o.spec)) o.spec = {};
    o.spec.persistentVolumeReclaimPolicy ||= "Retain";
    o.spec.volumeMode ||= "Filesystem";
    canonicalResourceList(o.spec.capacity);
  },
  prepareForCreate(o) {
    // Kubernetes stores Pending and its volume controller makes a fresh volume Available at
    // once (a pre-bound one too, until its claim binds); there is no such controller here.
    o.status = { phase: "Available", lastPhaseTransitionTime: nowStamp() };
  },
  validate: validatePV,
  validateUpdate: validatePVUpdate,
  fields: (o) => ({ name: o.metadata?.name ?? "" }),
  columns: [
    nameColumn,
    column("Capacity", (o) => quantityText(specOf(o).capacity?.storage), {
      description: "capacity is the description of the persistent volume's resources and capacity.",
    }),
    column("Access Modes", (o) => accessModesString(specOf(o).accessModes), {
      description: "accessModes contains all ways the volume can be mounted.",
    }),
    column("Reclaim Policy", (o) => specOf(o).persistentVolumeReclaimPolicy ?? "", {
      description:
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
    }),
    column("Status", phaseOf, {
      description:
        "phase indicates if a volume is available, bound to a claim, or released by a claim.",
    }),
    column("Claim", claimOf, {
      description:
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
    }),
    column("StorageClass", storageClass, { description: "StorageClass of the pv" }),
    column("VolumeAttributesClass", volumeAttributesClass, {
      description: "VolumeAttributesClass of the pv",
    }),
    column("Reason", (o) => o.status?.reason ?? "", {
      description:
        "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
    }),
    ageColumn,
    wide("VolumeMode", (o) => specOf(o).volumeMode ?? "<unset>"),
  ],
});
