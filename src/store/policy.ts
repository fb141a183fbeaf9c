// What the RBAC authorizer reads for one request, in one D1 round trip: every ClusterRoleBinding
// and ClusterRole, and the RoleBindings and Roles of the request's namespace.
import { and, eq } from "drizzle-orm";
import type { DB } from "./db.ts";
import { type KObject, withRv } from "./objects.ts";
import { objects } from "./schema.ts";

/** Stored under their group, as every grouped resource. */
const RBAC = "rbac.authorization.k8s.io";

export interface PolicyObjects {
  clusterRoleBindings: KObject[];
  clusterRoles: KObject[];
  roleBindings: KObject[];
  roles: KObject[];
}

export async function policyObjects(db: DB, namespace?: string): Promise<PolicyObjects> {
  const of = (resource: string, ns = "") =>
    db
      .select({ body: objects.body, rv: objects.rv })
      .from(objects)
      .where(and(eq(objects.resource, resource), eq(objects.namespace, ns)));
  const [crbs, crs, rbs, rs] = await db.batch([
    of(`${RBAC}/clusterrolebindings`),
    of(`${RBAC}/clusterroles`),
    of(`${RBAC}/rolebindings`, namespace ?? ""),
    of(`${RBAC}/roles`, namespace ?? ""),
  ]);
  const parse = (rows: { body: string; rv: number }[]) => rows.map((r) => withRv(r.body, r.rv));
  const namespaced = namespace !== undefined && namespace !== "";
  return {
    clusterRoleBindings: parse(crbs),
    clusterRoles: parse(crs),
    roleBindings: namespaced ? parse(rbs) : [],
    roles: namespaced ? parse(rs) : [],
  };
}
