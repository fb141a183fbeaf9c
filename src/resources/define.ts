import type { ResourceInfo } from "./catalog.ts";
import { ageColumn, nameColumn } from "./table.ts";
import type { Strategy } from "./types.ts";

/** Kinds without a spec/status split: no generation, no status subresource. */
const specless = new Set([
  "ConfigMap",
  "Secret",
  "ServiceAccount",
  "Event",
  "Endpoints",
  "EndpointSlice",
  "Role",
  "RoleBinding",
  "ClusterRole",
  "ClusterRoleBinding",
]);

/** A strategy with Kubernetes' generic behaviour, overridden by what a kind file gives. */
export function defineStrategy(info: ResourceInfo, own: Partial<Strategy> = {}): Strategy {
  return {
    info,
    statusSubresource: info.subresources?.includes("status") ?? false,
    generation: !specless.has(info.kind),
    columns: [nameColumn, ageColumn],
    ...own,
  };
}
