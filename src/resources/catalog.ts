// The resource kinds this API server serves: the data discovery, OpenAPI and routing share.
// Kept free of behaviour so build scripts can import it as well as the Worker.

export interface ResourceInfo {
  group: string; // "" for the core group
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources?: string[]; // e.g. "status", "scale", "binding", "eviction"
  /** Verbs, when not all of them: the reviews are create-only and stored nowhere. */
  verbs?: string[];
  /** Definition name in the OpenAPI documents, e.g. io.k8s.api.apps.v1.Deployment */
  definition: string;
}

const core = (
  kind: string,
  plural: string,
  namespaced: boolean,
  extra: Partial<ResourceInfo> = {},
): ResourceInfo => ({
  group: "",
  version: "v1",
  kind,
  plural,
  singular: kind.toLowerCase(),
  namespaced,
  definition: `io.k8s.api.core.v1.${kind}`,
  ...extra,
});

const grouped = (
  group: string,
  version: string,
  pkg: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  extra: Partial<ResourceInfo> = {},
): ResourceInfo => ({
  group,
  version,
  kind,
  plural,
  singular: kind.toLowerCase(),
  namespaced,
  definition: `io.k8s.api.${pkg}.${version}.${kind}`,
  ...extra,
});

const review = (group: string, pkg: string, kind: string): ResourceInfo =>
  grouped(group, "v1", pkg, kind, `${kind.toLowerCase()}s`, false, { verbs: ["create"] });

export const catalog: ResourceInfo[] = [
  core("Namespace", "namespaces", false, {
    shortNames: ["ns"],
    subresources: ["status", "finalize"],
  }),
  core("Pod", "pods", true, {
    shortNames: ["po"],
    categories: ["all"],
    subresources: ["status", "binding", "eviction", "log", "exec", "portforward", "proxy"],
  }),
  core("Service", "services", true, {
    shortNames: ["svc"],
    categories: ["all"],
    subresources: ["status", "proxy"],
  }),
  core("Endpoints", "endpoints", true, { shortNames: ["ep"], singular: "endpoints" }),
  core("ConfigMap", "configmaps", true, { shortNames: ["cm"] }),
  core("Secret", "secrets", true),
  core("ServiceAccount", "serviceaccounts", true, {
    shortNames: ["sa"],
    subresources: ["token"],
  }),
  core("Node", "nodes", false, { shortNames: ["no"], subresources: ["status"] }),
  core("Event", "events", true, { shortNames: ["ev"] }),
  core("PersistentVolumeClaim", "persistentvolumeclaims", true, {
    shortNames: ["pvc"],
    subresources: ["status"],
  }),
  core("PersistentVolume", "persistentvolumes", false, {
    shortNames: ["pv"],
    subresources: ["status"],
  }),
  grouped("apps", "v1", "apps", "Deployment", "deployments", true, {
    shortNames: ["deploy"],
    categories: ["all"],
    subresources: ["status", "scale"],
  }),
  grouped("apps", "v1", "apps", "ReplicaSet", "replicasets", true, {
    shortNames: ["rs"],
    categories: ["all"],
    subresources: ["status", "scale"],
  }),
  grouped("apps", "v1", "apps", "StatefulSet", "statefulsets", true, {
    shortNames: ["sts"],
    categories: ["all"],
    subresources: ["status", "scale"],
  }),
  grouped("apps", "v1", "apps", "DaemonSet", "daemonsets", true, {
    shortNames: ["ds"],
    categories: ["all"],
    subresources: ["status"],
  }),
  grouped("apps", "v1", "apps", "ControllerRevision", "controllerrevisions", true),
  grouped("batch", "v1", "batch", "Job", "jobs", true, {
    categories: ["all"],
    subresources: ["status"],
  }),
  grouped("batch", "v1", "batch", "CronJob", "cronjobs", true, {
    shortNames: ["cj"],
    categories: ["all"],
    subresources: ["status"],
  }),
  grouped("coordination.k8s.io", "v1", "coordination", "Lease", "leases", true),
  grouped("policy", "v1", "policy", "PodDisruptionBudget", "poddisruptionbudgets", true, {
    shortNames: ["pdb"],
    subresources: ["status"],
  }),
  grouped("discovery.k8s.io", "v1", "discovery", "EndpointSlice", "endpointslices", true),
  // Reviews: a question in the request, the server's answer in the response's status.
  review("authentication.k8s.io", "authentication", "TokenReview"),
  review("authentication.k8s.io", "authentication", "SelfSubjectReview"),
  review("authorization.k8s.io", "authorization", "SelfSubjectAccessReview"),
  review("authorization.k8s.io", "authorization", "SelfSubjectRulesReview"),
  grouped("networking.k8s.io", "v1", "networking", "Ingress", "ingresses", true, {
    shortNames: ["ing"],
    subresources: ["status"],
  }),
  grouped("rbac.authorization.k8s.io", "v1", "rbac", "Role", "roles", true),
  grouped("rbac.authorization.k8s.io", "v1", "rbac", "RoleBinding", "rolebindings", true),
  grouped("rbac.authorization.k8s.io", "v1", "rbac", "ClusterRole", "clusterroles", false),
  grouped(
    "rbac.authorization.k8s.io",
    "v1",
    "rbac",
    "ClusterRoleBinding",
    "clusterrolebindings",
    false,
  ),
];

export const groupVersion = (r: Pick<ResourceInfo, "group" | "version">): string =>
  r.group ? `${r.group}/${r.version}` : r.version;
