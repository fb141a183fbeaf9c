// Kubernetes REST paths → what they name. `/api/v1/namespaces/ns/pods/x/status` →
// {group "", version v1, namespace ns, plural pods, name x, subresource status}.
import { catalog } from "../resources/catalog.ts";

export interface ResourcePath {
  group: string;
  version: string;
  namespace?: string;
  plural: string;
  name?: string;
  subresource?: string;
}

const namespacedPlurals = new Set(catalog.filter((r) => r.namespaced).map((r) => r.plural));

/** `rest` is the path after the group-version prefix, split on "/". */
export function parseResourcePath(
  group: string,
  version: string,
  rest: string[],
): ResourcePath | undefined {
  const segs = rest.filter((s) => s !== "").map(decodeURIComponent);
  if (segs[0] === "namespaces" && segs.length >= 3 && namespacedPlurals.has(segs[2])) {
    const [, namespace, plural, name, subresource, ...more] = segs;
    if (more.length) return undefined;
    return { group, version, namespace, plural, name, subresource };
  }
  const [plural, name, subresource, ...more] = segs;
  if (!plural || more.length) return undefined;
  return { group, version, plural, name, subresource };
}
