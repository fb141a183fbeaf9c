// The node authorizer: a node credential acts for its own node only. It may read its pods and what
// they reference, write its Node, its Lease and its pods' status, and read what the proxy and DNS
// roles need (Kubernetes' Node authorizer with the system:node role and NodeRestriction).
import { ApiError } from "../k8s/errors.ts";
import { parseFieldSelector } from "../k8s/fields.ts";
import type { DB } from "../store/db.ts";
import { podNode, podsOnNode } from "../store/nodes.ts";
import { podReferences, type ReferencedKind } from "./pod-references.ts";

/** What a resource request asks to do (authorizer.Attributes). */
export interface Attributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  fieldSelector?: string;
}

const NODE_LEASE_NAMESPACE = "kube-node-lease";
const READ = new Set(["get", "list", "watch"]);
const NO_RELATIONSHIP = (node: string) =>
  `no relationship found between node '${node}' and this object`;

/** Forbidden as the apiserver words it: who cannot do what, where, and why when it says. */
export function forbiddenFor(username: string, a: Attributes, reason?: string): ApiError {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  let msg = `User "${username}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`;
  if (reason) msg += `: ${reason}`;
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  return new ApiError(403, "Forbidden", `${subject} is forbidden: ${msg}`, {
    name: a.name,
    group: a.group,
    kind: a.resource,
  });
}

/** Allows the request or throws 403 Forbidden. */
export async function authorizeNode(db: DB, node: string, a: Attributes): Promise<void> {
  const reason = await denial(db, node, a);
  if (reason !== undefined) throw forbiddenFor(`system:node:${node}`, a, reason || undefined);
}

/** Why the request is denied ("" for no particular reason), or undefined when it is allowed. */
async function denial(db: DB, node: string, a: Attributes): Promise<string | undefined> {
  const { verb, subresource: sub } = a;
  switch (`${a.group}/${a.resource}`) {
    case "/pods":
      if (!sub && (verb === "list" || verb === "watch")) {
        const fs = a.fieldSelector ? parseFieldSelector(a.fieldSelector) : undefined;
        return fs?.requiresExactMatch("spec.nodeName") === node
          ? undefined
          : "can only list/watch pods with spec.nodeName field selector";
      }
      if (
        (!sub && (verb === "get" || verb === "delete")) ||
        (sub === "status" && isStatusVerb(verb))
      )
        return boundHere(db, node, a);
      return "";
    case "/nodes":
      if (sub && sub !== "status") return "";
      if (READ.has(verb) && (!sub || verb === "get")) return undefined;
      // A create names the node in its body: node admission checks it.
      if (verb === "create" && !sub) return undefined;
      if ((verb === "update" || verb === "patch") && a.name === node) return undefined;
      return "";
    case "coordination.k8s.io/leases":
      if (sub || a.namespace !== NODE_LEASE_NAMESPACE) return "";
      if (verb === "create") return undefined;
      return ["get", "update", "patch"].includes(verb) && a.name === node ? undefined : "";
    case "/events":
      return verb === "create" || verb === "patch" ? undefined : "";
    case "/secrets":
    case "/configmaps":
    case "/persistentvolumeclaims":
    case "/serviceaccounts":
      // A token for a pod's projected volume: the handler checks it is bound to a pod here.
      if (sub === "token" && verb === "create" && a.name && a.namespace)
        return (await referenced(db, node, "serviceaccounts", a.namespace, a.name))
          ? undefined
          : NO_RELATIONSHIP(node);
      if (sub || verb !== "get" || !a.name || !a.namespace) return "";
      return (await referenced(db, node, a.resource as ReferencedKind, a.namespace, a.name))
        ? undefined
        : NO_RELATIONSHIP(node);
    case "/services":
    case "/endpoints":
    case "discovery.k8s.io/endpointslices":
    case "/namespaces":
      return !sub && READ.has(verb) ? undefined : "";
    default:
      return "";
  }
}

const isStatusVerb = (verb: string) => verb === "get" || verb === "update" || verb === "patch";

/** A pod bound to this node; a pod that does not exist is left to the handler's 404. */
async function boundHere(db: DB, node: string, a: Attributes): Promise<string | undefined> {
  if (!a.namespace || !a.name) return "";
  const bound = await podNode(db, a.namespace, a.name);
  return bound === undefined || bound === node ? undefined : NO_RELATIONSHIP(node);
}

async function referenced(
  db: DB,
  node: string,
  kind: ReferencedKind,
  namespace: string,
  name: string,
): Promise<boolean> {
  // Generic ephemeral volumes name their claim after the pod: no substring to narrow by.
  const mention = kind === "persistentvolumeclaims" ? undefined : JSON.stringify(name);
  for (const body of await podsOnNode(db, node, namespace, mention))
    if (podReferences(JSON.parse(body), kind).has(name)) return true;
  return false;
}

/** Discovery and OpenAPI documents, which every authenticated user may read. */
const DISCOVERY = /^\/(api|apis(\/[^/]+){0,2}|api\/v1|version|openapi(\/.*)?)\/?$/;

/**
 * Requests outside the Kubernetes resource paths: discovery for reading, and the node's own
 * kubeflare paths (its tunnel). Throws 403 Forbidden for anything else.
 */
export function authorizeNodePath(node: string, method: string, path: string): void {
  const verb = method.toLowerCase();
  if ((verb === "get" || verb === "head") && DISCOVERY.test(path)) return;
  const own = `/kubeflare/v1/nodes/${node}`;
  if (path === own || path.startsWith(`${own}/`)) return;
  throw new ApiError(
    403,
    "Forbidden",
    `forbidden: User "system:node:${node}" cannot ${verb} path "${path}"`,
  );
}
