// Strategic-merge metadata of the built-in kinds: which lists merge by which key.
// Mirrors the `patchStrategy`/`patchMergeKey` struct tags of k8s.io/api (the same data Kubernetes
// publishes as x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key in its OpenAPI).
// Lists not named here are atomic: a patch replaces them whole.

export interface ListMeta {
  /** "merge" merges list items; "merge,retainKeys" also clears fields absent in the patch item's union. */
  strategy: "merge" | "merge,retainKeys" | "retainKeys";
  /** Key identifying an item; absent for lists of primitives merged as sets. */
  key?: string;
}

/** Definition name (as in the OpenAPI documents) → field → list metadata. */
export const patchMeta: Record<string, Record<string, ListMeta>> = {
  "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
    finalizers: { strategy: "merge" },
    ownerReferences: { strategy: "merge", key: "uid" },
  },
  "io.k8s.api.core.v1.PodSpec": {
    containers: { strategy: "merge", key: "name" },
    initContainers: { strategy: "merge", key: "name" },
    ephemeralContainers: { strategy: "merge", key: "name" },
    volumes: { strategy: "merge,retainKeys", key: "name" },
    imagePullSecrets: { strategy: "merge", key: "name" },
    hostAliases: { strategy: "merge", key: "ip" },
    topologySpreadConstraints: { strategy: "merge", key: "topologyKey" },
    resourceClaims: { strategy: "merge,retainKeys", key: "name" },
    schedulingGates: { strategy: "merge", key: "name" },
  },
  "io.k8s.api.core.v1.Container": {
    ports: { strategy: "merge", key: "containerPort" },
    env: { strategy: "merge", key: "name" },
    volumeMounts: { strategy: "merge", key: "mountPath" },
    volumeDevices: { strategy: "merge", key: "devicePath" },
  },
  "io.k8s.api.core.v1.EphemeralContainer": {
    ports: { strategy: "merge", key: "containerPort" },
    env: { strategy: "merge", key: "name" },
    volumeMounts: { strategy: "merge", key: "mountPath" },
    volumeDevices: { strategy: "merge", key: "devicePath" },
  },
  "io.k8s.api.core.v1.PodStatus": {
    conditions: { strategy: "merge", key: "type" },
    podIPs: { strategy: "merge", key: "ip" },
    hostIPs: { strategy: "merge", key: "ip" },
  },
  "io.k8s.api.core.v1.NodeSpec": {
    podCIDRs: { strategy: "merge" },
  },
  "io.k8s.api.core.v1.NodeStatus": {
    conditions: { strategy: "merge", key: "type" },
    addresses: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.core.v1.ServiceSpec": {
    ports: { strategy: "merge", key: "port" },
  },
  "io.k8s.api.core.v1.ServiceStatus": {
    conditions: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.core.v1.NamespaceStatus": {
    conditions: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.core.v1.PersistentVolumeClaimStatus": {
    conditions: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.core.v1.ServiceAccount": {
    secrets: { strategy: "merge", key: "name" },
  },
  "io.k8s.api.apps.v1.DeploymentStatus": {
    conditions: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.apps.v1.ReplicaSetStatus": {
    conditions: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.apps.v1.StatefulSetStatus": {
    conditions: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.apps.v1.DaemonSetStatus": {
    conditions: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.apps.v1.DeploymentStrategy": {},
  "io.k8s.api.batch.v1.JobStatus": {
    conditions: { strategy: "merge", key: "type" },
  },
  "io.k8s.api.batch.v1.CronJobStatus": {
    active: { strategy: "merge", key: "uid" },
  },
};
