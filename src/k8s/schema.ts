// Schema lookup shared by strategic merge patch and server-side apply. Built from the generated
// schema JSON the caller passes in (src/k8s stays free of file imports) plus the merge metadata
// of patch-meta.ts and the few list/struct markers of k8s.io/api that patch tags don't carry.
import { type ListMeta, patchMeta } from "./patch-meta.ts";

export type { ListMeta };

export interface Prop {
  type?: "string" | "number" | "boolean" | "object" | "array" | "int-or-string" | "any";
  ref?: string;
  items?: Prop;
  additionalProperties?: Prop;
}

export interface Definition {
  properties?: Record<string, Prop>;
  required?: string[];
}

export interface SchemaJson {
  definitions: Record<string, Definition>;
  kinds: Record<string, string>;
}

/** How server-side apply treats a list (x-kubernetes-list-type and -list-map-keys). */
export type ListType =
  | { type: "atomic" }
  | { type: "set" }
  | { type: "map"; keys: string[]; defaults?: Record<string, unknown> };

export interface SchemaLookup {
  /** Definition name of a kind, e.g. ("apps/v1", "Deployment") → io.k8s.api.apps.v1.Deployment. */
  forKind(apiVersion: string, kind: string): string | undefined;
  /** A field's schema; undefined when the definition or the field is unknown. */
  field(defName: string, field: string): Prop | undefined;
  /** Whether a field is required (Go serializes it even when empty). */
  required(defName: string, field: string): boolean;
  /** Strategic-merge metadata of a list field; undefined means the list is replaced whole. */
  listMeta(defName: string, field: string): ListMeta | undefined;
  /** Server-side apply's view of a list field. */
  listType(defName: string, field: string): ListType;
  /** Whether server-side apply treats a struct (no field) or a map field as one value. */
  atomic(defName: string, field?: string): boolean;
}

const core = "io.k8s.api.core.v1.";
const tcp = { protocol: "TCP" };

// +listType markers that differ from what the patch tags imply (multi-field keys, atomic lists,
// keyed lists without a patch strategy). Key defaults come from the OpenAPI `default`.
const listTypeOverrides: Record<string, Record<string, ListType>> = {
  [`${core}Container`]: {
    ports: { type: "map", keys: ["containerPort", "protocol"], defaults: tcp },
  },
  [`${core}EphemeralContainer`]: {
    ports: { type: "map", keys: ["containerPort", "protocol"], defaults: tcp },
  },
  [`${core}ServiceSpec`]: { ports: { type: "map", keys: ["port", "protocol"], defaults: tcp } },
  [`${core}PodSpec`]: {
    topologySpreadConstraints: { type: "map", keys: ["topologyKey", "whenUnsatisfiable"] },
  },
  [`${core}PodStatus`]: {
    hostIPs: { type: "atomic" },
    volumeHealth: { type: "map", keys: ["name"] },
  },
  [`${core}ResourceRequirements`]: { claims: { type: "map", keys: ["name"] } },
  [`${core}ResourceStatus`]: { resources: { type: "map", keys: ["resourceID"] } },
  [`${core}VolumeMount`]: { bindMountOptions: { type: "set" } },
  "io.k8s.api.batch.v1.JobStatus": { conditions: { type: "atomic" } },
  "io.k8s.api.batch.v1.UncountedTerminatedPods": {
    succeeded: { type: "set" },
    failed: { type: "set" },
  },
  "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement": { values: { type: "set" } },
};

// +structType=atomic types of k8s.io/api and apimachinery.
const atomicStructs = new Set([
  `${core}SecretReference`,
  `${core}FileKeySelector`,
  `${core}ObjectFieldSelector`,
  `${core}ResourceFieldSelector`,
  `${core}ConfigMapKeySelector`,
  `${core}SecretKeySelector`,
  `${core}NodeSelector`,
  `${core}NodeSelectorTerm`,
  `${core}TopologySelectorTerm`,
  `${core}EndpointAddress`,
  `${core}EndpointPort`,
  `${core}ObjectReference`,
  `${core}LocalObjectReference`,
  `${core}TypedLocalObjectReference`,
  `${core}ScopeSelector`,
  "io.k8s.api.discovery.v1.EndpointPort",
  "io.k8s.api.networking.v1.ServiceBackendPort",
  "io.k8s.api.rbac.v1.Subject",
  "io.k8s.api.rbac.v1.RoleRef",
  "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
  "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
  "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
]);

// +mapType=atomic fields.
const atomicMaps: Record<string, Set<string>> = {
  [`${core}PodSpec`]: new Set(["nodeSelector"]),
  [`${core}ReplicationControllerSpec`]: new Set(["selector"]),
  [`${core}ServiceSpec`]: new Set(["selector"]),
};

export function createSchemaLookup(
  json: SchemaJson,
  meta: Record<string, Record<string, ListMeta>> = patchMeta,
): SchemaLookup {
  return {
    forKind: (apiVersion, kind) => json.kinds[`${apiVersion}/${kind}`],
    field: (defName, field) => json.definitions[defName]?.properties?.[field],
    required: (defName, field) => json.definitions[defName]?.required?.includes(field) ?? false,
    listMeta: (defName, field) => meta[defName]?.[field],
    listType(defName, field) {
      const override = listTypeOverrides[defName]?.[field];
      if (override) return override;
      // Without a marker, kube-openapi derives the list type from the patch strategy.
      const m = meta[defName]?.[field];
      if (!m?.strategy.includes("merge")) return { type: "atomic" };
      return m.key ? { type: "map", keys: [m.key] } : { type: "set" };
    },
    atomic: (defName, field) =>
      field === undefined ? atomicStructs.has(defName) : (atomicMaps[defName]?.has(field) ?? false),
  };
}
