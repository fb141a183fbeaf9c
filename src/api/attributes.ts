// The authorization attributes of a resource request: verb and what it names.
import type { Attributes } from "../auth/node-authorizer.ts";
import { boolQuery, type C, query } from "./context.ts";
import type { ResourcePath } from "./paths.ts";

/** Subresources that open a session in a container: `create` however asked (as 1.31+). */
const SESSIONS = new Set(["exec", "attach", "portforward"]);

function verbOf(c: C, p: ResourcePath): string {
  if (p.subresource && SESSIONS.has(p.subresource)) return "create";
  switch (c.req.method) {
    case "GET":
    case "HEAD":
      return p.name ? "get" : boolQuery(c, "watch") ? "watch" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return p.name ? "delete" : "deletecollection";
    default:
      return c.req.method.toLowerCase();
  }
}

export const attributesOf = (c: C, p: ResourcePath): Attributes => ({
  verb: verbOf(c, p),
  group: p.group,
  resource: p.plural,
  subresource: p.subresource,
  // A Namespace is in itself, as far as RBAC goes: a RoleBinding there covers it.
  namespace: p.group === "" && p.plural === "namespaces" && p.name ? p.name : p.namespace,
  name: p.name,
  fieldSelector: query(c, "fieldSelector"),
});
