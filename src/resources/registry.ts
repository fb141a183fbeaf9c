import { catalog, type ResourceInfo } from "./catalog.ts";
import { configMaps } from "./configmap.ts";
import { controllerRevisions } from "./controllerrevision.ts";
import { cronJobs } from "./cronjob.ts";
import { daemonSets } from "./daemonset.ts";
import { defineStrategy } from "./define.ts";
import { deployments } from "./deployment.ts";
import { endpoints } from "./endpoints.ts";
import { endpointSlices } from "./endpointslice.ts";
import { events } from "./event.ts";
import { ingresses } from "./ingress.ts";
import { jobs } from "./job.ts";
import { leases } from "./lease.ts";
import { namespaces } from "./namespace.ts";
import { nodes } from "./node.ts";
import { persistentVolumes } from "./persistentvolume.ts";
import { persistentVolumeClaims } from "./persistentvolumeclaim.ts";
import { pods } from "./pod.ts";
import { podDisruptionBudgets } from "./poddisruptionbudget.ts";
import { clusterRoleBindings, clusterRoles, roleBindings, roles } from "./rbac.ts";
import { replicaSets } from "./replicaset.ts";
import { secrets } from "./secret.ts";
import { services } from "./service.ts";
import { serviceAccounts } from "./serviceaccount.ts";
import { statefulSets } from "./statefulset.ts";
import type { Strategy } from "./types.ts";

/** Kinds with behaviour of their own; every other catalog kind gets the generic strategy. */
const specific: Strategy[] = [
  configMaps,
  // core/v1
  namespaces,
  pods,
  services,
  secrets,
  endpoints,
  serviceAccounts,
  nodes,
  events,
  persistentVolumeClaims,
  persistentVolumes,
  // apps, batch, coordination, discovery, networking
  deployments,
  replicaSets,
  statefulSets,
  daemonSets,
  controllerRevisions,
  jobs,
  cronJobs,
  leases,
  podDisruptionBudgets,
  endpointSlices,
  ingresses,
  // rbac.authorization.k8s.io
  roles,
  roleBindings,
  clusterRoles,
  clusterRoleBindings,
];

const byResource = new Map<string, Strategy>();
for (const info of catalog) {
  const own = specific.find((s) => s.info === info);
  byResource.set(storeResource(info), own ?? defineStrategy(info));
}

/** The key objects of this kind are stored under: `<group>/<plural>` or `<plural>` for core. */
export function storeResource(r: Pick<ResourceInfo, "group" | "plural">): string {
  return r.group ? `${r.group}/${r.plural}` : r.plural;
}

export function strategyFor(group: string, plural: string): Strategy | undefined {
  return byResource.get(storeResource({ group, plural }));
}

export function strategyForKind(apiVersion: string, kind: string): Strategy | undefined {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  for (const s of byResource.values())
    if (s.info.group === group && s.info.version === version && s.info.kind === kind) return s;
  return undefined;
}

export const allStrategies = (): Strategy[] => [...byResource.values()];
