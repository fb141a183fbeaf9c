// RBAC's escalation prevention (pkg/registry/rbac): a user may write a Role or ClusterRole only
// with rules it already holds where the role applies, unless it may `escalate` roles; and may
// bind a role only if it holds the role's rules where the binding applies, unless it may `bind`
// that role. Without this, anyone allowed to write RoleBindings could grant itself anything.

import { ApiError, notFound } from "../k8s/errors.ts";
import type { Admit } from "../resources/admission.ts";
import type { DB } from "../store/db.ts";
import { policyObjects } from "../store/policy.ts";
import type { UserInfo } from "./authenticate.ts";
import { allows, type Rule, ruleAllows, rulesOf } from "./rbac.ts";

const GROUP = "rbac.authorization.k8s.io";

/** The atoms of `servant` (one verb on one resource, name or URL) that no rule of `owner` allows. */
export function uncovered(owner: Rule[], servant: Rule[]): string[] {
  const missing: string[] = [];
  for (const rule of servant) {
    for (const verb of rule.verbs ?? []) {
      // A servant's "/logs/*" matches only an owner prefix as wide, as a path would.
      for (const path of rule.nonResourceURLs ?? [])
        if (!owner.some((o) => ruleAllows(o, { verb, path })))
          missing.push(`{NonResourceURLs:["${path}"], Verbs:["${verb}"]}`);
      for (const group of rule.apiGroups ?? [])
        for (const full of rule.resources ?? []) {
          const [resource, subresource] = full.split("/", 2);
          const names = rule.resourceNames?.length ? rule.resourceNames : [undefined];
          for (const name of names) {
            const a = { verb, group, resource, subresource, name };
            if (owner.some((o) => ruleAllows(o, a))) continue;
            const n = name ? `, ResourceNames:["${name}"]` : "";
            missing.push(`{APIGroups:["${group}"], Resources:["${full}"]${n}, Verbs:["${verb}"]}`);
          }
        }
    }
  }
  return missing;
}

function refusal(resource: string, name: string, user: UserInfo, what: string, missing: string[]) {
  return new ApiError(
    403,
    "Forbidden",
    `${resource}.${GROUP} "${name}" is forbidden: user "${user.username}" (groups=${JSON.stringify(user.groups)}) is attempting to ${what}:\n${missing.join("\n")}`,
    { name, group: GROUP, kind: resource },
  );
}

/** Admission for a user's writes of RBAC objects (system:masters never get here). */
export function escalationCheck(db: DB, user: UserInfo): Admit {
  return async (s, o, old) => {
    if (s.info.group !== GROUP) return;
    const resource = s.info.plural;
    const isRole = resource === "roles" || resource === "clusterroles";
    // A binding whose subjects and role stay as they were (a label, say) grants nothing new.
    const same = (a: unknown, b: unknown) =>
      JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
    if (!isRole && old && same(old.roleRef, o.roleRef) && same(old.subjects, o.subjects)) return;
    const namespace: string = s.info.namespaced ? (o.metadata?.namespace ?? "") : "";
    const name: string = o.metadata?.name ?? "";
    // One read of the policy answers every question below.
    const p = await policyObjects(db, namespace || undefined);
    const scope = namespace || undefined;
    if (isRole) {
      const missing = uncovered(rulesOf(p, user), o.rules ?? []);
      if (!missing.length) return;
      const escalate = { verb: "escalate", group: GROUP, resource, namespace: scope, name };
      if (allows(p, user, escalate)) return;
      throw refusal(resource, name, user, "grant RBAC permissions not currently held", missing);
    }
    const roleResource = o.roleRef?.kind === "Role" ? "roles" : "clusterroles";
    const roleName = String(o.roleRef?.name ?? "");
    const bind = {
      verb: "bind",
      group: GROUP,
      resource: roleResource,
      namespace: scope,
      name: roleName,
    };
    if (allows(p, user, bind)) return;
    const roles = roleResource === "roles" ? p.roles : p.clusterRoles;
    const role = roles.find((r) => r.metadata?.name === roleName);
    // Binding a role that does not exist (yet) would grant whatever it later holds.
    if (!role) throw notFound({ group: GROUP, resource: roleResource }, roleName);
    const missing = uncovered(rulesOf(p, user), role.rules ?? []);
    if (missing.length)
      throw refusal(resource, name, user, "grant RBAC permissions not currently held", missing);
  };
}
