// Discovery documents: /version, /api, /apis, per group-version resource lists, and the aggregated
// form (apidiscovery.k8s.io/v2) that kubectl asks for first.
import { catalog, groupVersion, type ResourceInfo } from "../resources/catalog.ts";

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/** Subresources served, with their verbs; others in the catalog appear once they work. */
const SUBRESOURCE_VERBS: Record<string, string[]> = {
  status: ["get", "patch", "update"],
  scale: ["get", "patch", "update"],
  binding: ["create"],
  eviction: ["create"],
  log: ["get"],
  exec: ["create", "get"],
  portforward: ["create", "get"],
  proxy: ["create", "delete", "get", "patch", "update"],
  token: ["create"],
};

/** Subresources served as a kind other than their parent's (kubectl drain looks for Eviction). */
const SUBRESOURCE_KIND: Record<string, { group: string; version: string; kind: string }> = {
  scale: { group: "autoscaling", version: "v1", kind: "Scale" },
  eviction: { group: "policy", version: "v1", kind: "Eviction" },
  token: { group: "authentication.k8s.io", version: "v1", kind: "TokenRequest" },
};

const subresourceKind = (r: ResourceInfo, sub: string) =>
  SUBRESOURCE_KIND[sub] ??
  (sub === "binding"
    ? { group: r.group, version: r.version, kind: "Binding" }
    : { group: r.group, version: r.version, kind: r.kind });

export const version = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0-kubeflare",
  gitCommit: "kubeflare",
  gitTreeState: "clean",
  buildDate: "2026-11-22T00:00:00Z",
  goVersion: "go1.23.0",
  compiler: "gc",
  platform: "linux/amd64",
};

const subresourcesOf = (r: ResourceInfo) =>
  (r.subresources ?? []).filter((s) => SUBRESOURCE_VERBS[s]);

const groups = (): Map<string, ResourceInfo[]> => {
  const m = new Map<string, ResourceInfo[]>();
  for (const r of catalog) {
    if (!r.group) continue;
    const list = m.get(r.group) ?? [];
    list.push(r);
    m.set(r.group, list);
  }
  return m;
};

export const apiVersions = () => ({
  kind: "APIVersions",
  versions: ["v1"],
  serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "" }],
});

export const apiGroupList = () => ({
  kind: "APIGroupList",
  apiVersion: "v1",
  groups: [...groups().keys()].map((name) => {
    const gv = { groupVersion: `${name}/v1`, version: "v1" };
    return { name, versions: [gv], preferredVersion: gv };
  }),
});

export function apiGroup(group: string) {
  if (!groups().has(group)) return undefined;
  const gv = { groupVersion: `${group}/v1`, version: "v1" };
  return { kind: "APIGroup", apiVersion: "v1", name: group, versions: [gv], preferredVersion: gv };
}

export function apiResourceList(group: string, version: string) {
  const rs = catalog.filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const resources = [];
  for (const r of rs) {
    resources.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs ?? VERBS,
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    });
    for (const sub of subresourcesOf(r)) {
      const other = SUBRESOURCE_KIND[sub];
      resources.push({
        name: `${r.plural}/${sub}`,
        singularName: "",
        namespaced: r.namespaced,
        ...(other ? { group: other.group, version: other.version } : {}),
        kind: subresourceKind(r, sub).kind,
        verbs: SUBRESOURCE_VERBS[sub],
      });
    }
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: groupVersion({ group, version }),
    resources,
  };
}

/** The aggregated discovery document for `/api` (legacy core group) or `/apis`. */
export function aggregated(legacy: boolean, apiVersion: string) {
  const byGroup = legacy ? new Map([["", catalog.filter((r) => !r.group)]]) : groups();
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion,
    metadata: {},
    items: [...byGroup].map(([group, rs]) => ({
      metadata: group ? { name: group } : {},
      versions: [
        {
          version: "v1",
          resources: rs.map((r) => ({
            resource: r.plural,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? "Namespaced" : "Cluster",
            singularResource: r.singular,
            verbs: r.verbs ?? VERBS,
            ...(r.shortNames ? { shortNames: r.shortNames } : {}),
            ...(r.categories ? { categories: r.categories } : {}),
            subresources: subresourcesOf(r).map((sub) => ({
              subresource: sub,
              responseKind: subresourceKind(r, sub),
              verbs: SUBRESOURCE_VERBS[sub],
            })),
          })),
          freshness: "Current",
        },
      ],
    })),
  };
}

/** Which aggregated discovery version the Accept header asks for, if any. */
export function wantsAggregated(accept: string | null): string | undefined {
  for (const part of (accept ?? "").split(",")) {
    if (!part.includes("as=APIGroupDiscoveryList")) continue;
    if (part.includes("v=v2beta1")) return "apidiscovery.k8s.io/v2beta1";
    if (part.includes("v=v2")) return "apidiscovery.k8s.io/v2";
  }
  return undefined;
}
