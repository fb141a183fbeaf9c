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
  /** For the proxy subresource: the path after `proxy`, as the target is to see it ("/" at least). */
  proxyPath?: string;
}

const namespacedPlurals = new Set(catalog.filter((r) => r.namespaced).map((r) => r.plural));

/** `rest` is the path after the group-version prefix, split on "/". */
export function parseResourcePath(
  group: string,
  version: string,
  rest: string[],
): ResourcePath | undefined {
  const segs = rest.filter((s) => s !== "").map(decodeURIComponent);
  const namespaced = segs[0] === "namespaces" && segs.length >= 3 && namespacedPlurals.has(segs[2]);
  const [namespace, plural, name, subresource, ...more] = namespaced
    ? segs.slice(1)
    : [undefined, ...segs];
  if (!plural) return undefined;
  const p: ResourcePath = { group, version, plural, name, subresource };
  if (namespaced) p.namespace = namespace;
  if (subresource === "proxy") p.proxyPath = afterSegments(rest, namespaced ? 5 : 3);
  else if (more.length) return undefined;
  return p;
}

/** The raw path after the first `n` non-empty segments, with its trailing slash kept. */
function afterSegments(rest: string[], n: number): string {
  let i = 0;
  for (let seen = 0; i < rest.length && seen < n; i++) if (rest[i] !== "") seen++;
  return `/${rest.slice(i).join("/")}`;
}
