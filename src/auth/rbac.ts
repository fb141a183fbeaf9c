// The RBAC authorizer (plugin/pkg/auth/authorizer/rbac): a request is allowed when a binding names
// the user, one of its groups or its ServiceAccount, and a rule of the role it binds covers the
// verb and the resource (or the non-resource path). There is no deny: absent a match, 403.

import { ApiError } from "../k8s/errors.ts";
import type { DB } from "../store/db.ts";
import type { KObject } from "../store/objects.ts";
import { type PolicyObjects, policyObjects } from "../store/policy.ts";
import type { UserInfo } from "./authenticate.ts";
import { type Attributes, forbiddenFor } from "./node-authorizer.ts";

/** A non-resource request: a lower-case HTTP verb on a path. */
export interface PathAttributes {
  verb: string;
  path: string;
}

export type RequestAttributes = Attributes | PathAttributes;

export const isPath = (a: RequestAttributes): a is PathAttributes => "path" in a;

export type Rule = {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
};

const has = (list: string[] | undefined, v: string) =>
  !!list && (list.includes("*") || list.includes(v));

function resourceMatches(rule: Rule, a: Attributes): boolean {
  const wanted = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  for (const r of rule.resources ?? []) {
    if (r === "*" || r === wanted) return true;
    // "*/scale" names a subresource of every resource; "pods/*" every subresource of pods.
    if (a.subresource && (r === `*/${a.subresource}` || r === `${a.resource}/*`)) return true;
  }
  return false;
}

export function ruleAllows(rule: Rule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (isPath(a))
    return (rule.nonResourceURLs ?? []).some(
      (u) => u === "*" || u === a.path || (u.endsWith("*") && a.path.startsWith(u.slice(0, -1))),
    );
  if (!has(rule.apiGroups, a.group) || !resourceMatches(rule, a)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (!!a.name && names.includes(a.name));
}

type Subject = { kind?: string; name?: string; namespace?: string };

/** Whether a binding's subject is this user; a RoleBinding's ServiceAccounts default to its own namespace. */
export function subjectIs(s: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (s.kind) {
    case "User":
      return s.name === user.username;
    case "Group":
      return !!s.name && user.groups.includes(s.name);
    case "ServiceAccount":
      return user.username === `system:serviceaccount:${s.namespace || bindingNamespace}:${s.name}`;
    default:
      return false;
  }
}

/** The rules a binding grants this user, or none when it does not name the user. */
function* grantedRules(p: PolicyObjects, user: UserInfo): Generator<Rule> {
  const byName = (list: KObject[], name: string) =>
    list.find((o) => o.metadata?.name === name)?.rules ?? [];
  for (const b of p.clusterRoleBindings) {
    if (!(b.subjects ?? []).some((s: Subject) => subjectIs(s, user, ""))) continue;
    if (b.roleRef?.kind === "ClusterRole") yield* byName(p.clusterRoles, b.roleRef.name);
  }
  for (const b of p.roleBindings) {
    const ns = b.metadata?.namespace ?? "";
    if (!(b.subjects ?? []).some((s: Subject) => subjectIs(s, user, ns))) continue;
    if (b.roleRef?.kind === "ClusterRole") yield* byName(p.clusterRoles, b.roleRef.name);
    else if (b.roleRef?.kind === "Role") yield* byName(p.roles, b.roleRef.name);
  }
}

export function allows(p: PolicyObjects, user: UserInfo, a: RequestAttributes): boolean {
  for (const rule of grantedRules(p, user)) if (ruleAllows(rule, a)) return true;
  return false;
}

/** Every rule this user holds in a namespace (SelfSubjectRulesReview). */
export const rulesOf = (p: PolicyObjects, user: UserInfo): Rule[] => [...grantedRules(p, user)];

/** Members of system:masters pass every check, as Kubernetes' privileged-group authorizer. */
export const isMaster = (user: UserInfo) => user.groups.includes("system:masters");

export async function canDo(db: DB, user: UserInfo, a: RequestAttributes): Promise<boolean> {
  if (isMaster(user)) return true;
  const namespace = isPath(a) ? undefined : a.namespace;
  return allows(await policyObjects(db, namespace), user, a);
}

/** Allows the request or throws 403 Forbidden, worded as the apiserver words it. */
export async function authorizeRbac(db: DB, user: UserInfo, a: RequestAttributes): Promise<void> {
  if (await canDo(db, user, a)) return;
  if (isPath(a))
    throw new ApiError(
      403,
      "Forbidden",
      `forbidden: User "${user.username}" cannot ${a.verb} path "${a.path}"`,
    );
  throw forbiddenFor(user.username, a);
}
