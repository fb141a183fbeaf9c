// What a pod references by name, as Kubernetes' VisitPodSecretNames / VisitPodConfigmapNames and
// the node authorizer's graph see it: the objects a node may read for the pods bound to it.
import type { KObject } from "../store/objects.ts";

export type ReferencedKind =
  | "secrets"
  | "configmaps"
  | "persistentvolumeclaims"
  | "serviceaccounts";

const list = (v: unknown): KObject[] =>
  Array.isArray(v) ? v.filter((x) => x && typeof x === "object") : [];

const containers = (spec: KObject) => [
  ...list(spec.initContainers),
  ...list(spec.containers),
  ...list(spec.ephemeralContainers),
];

/** Volume types that name a Secret through `secretRef.name` (flexVolume, cephfs, rbd, …). */
const SECRET_REF_VOLUMES = [
  "cephfs",
  "cinder",
  "flexVolume",
  "iscsi",
  "rbd",
  "scaleIO",
  "storageos",
];

function secrets(spec: KObject, out: Set<string>): void {
  for (const s of list(spec.imagePullSecrets)) out.add(s.name);
  for (const c of containers(spec)) {
    for (const e of list(c.envFrom)) out.add(e.secretRef?.name);
    for (const e of list(c.env)) out.add(e.valueFrom?.secretKeyRef?.name);
  }
  for (const v of list(spec.volumes)) {
    out.add(v.secret?.secretName);
    for (const src of list(v.projected?.sources)) out.add(src.secret?.name);
    out.add(v.azureFile?.secretName);
    out.add(v.csi?.nodePublishSecretRef?.name);
    for (const t of SECRET_REF_VOLUMES) out.add(v[t]?.secretRef?.name);
  }
}

function configMaps(spec: KObject, out: Set<string>): void {
  for (const c of containers(spec)) {
    for (const e of list(c.envFrom)) out.add(e.configMapRef?.name);
    for (const e of list(c.env)) out.add(e.valueFrom?.configMapKeyRef?.name);
  }
  for (const v of list(spec.volumes)) {
    out.add(v.configMap?.name);
    for (const src of list(v.projected?.sources)) out.add(src.configMap?.name);
  }
}

function claims(pod: KObject, out: Set<string>): void {
  for (const v of list(pod.spec?.volumes)) {
    out.add(v.persistentVolumeClaim?.claimName);
    // A generic ephemeral volume's claim is named <pod>-<volume>.
    if (v.ephemeral) out.add(`${pod.metadata?.name}-${v.name}`);
  }
}

/** Names of the objects of `kind` the pod references. */
export function podReferences(pod: KObject, kind: ReferencedKind): Set<string> {
  const out = new Set<string>();
  const spec: KObject = pod.spec ?? {};
  if (kind === "secrets") secrets(spec, out);
  else if (kind === "configmaps") configMaps(spec, out);
  else if (kind === "persistentvolumeclaims") claims(pod, out);
  else out.add(spec.serviceAccountName || "default");
  out.delete(undefined as unknown as string);
  out.delete("");
  return out;
}
