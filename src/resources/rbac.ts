// rbac.authorization.k8s.io/v1 Role, RoleBinding, ClusterRole, ClusterRoleBinding: the objects
// alone (who may do what is an authorizer's business, not this file's).
// - defaults: pkg/apis/rbac/v1/defaults.go (roleRef.apiGroup, subjects' apiGroup)
// - validation: pkg/apis/rbac/validation/validation.go (ValidateRole, ValidatePolicyRule,
//   ValidateRoleBinding(Update), ValidateRoleBindingSubject, ValidateClusterRole's aggregationRule)
// - columns: printRole, printRoleBinding, printClusterRole, printClusterRoleBinding
import type { LabelSelector } from "../k8s/labels.ts";
import {
  type FieldError,
  invalid,
  isDNS1123Subdomain,
  isValidLabelValue,
  isValidPathSegmentName,
  notSupported,
  required,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, column, nameColumn } from "./table.ts";
import type { Column, KObject } from "./types.ts";
import { asSelector, validateLabelSelector } from "./workload.ts";

export const RBAC_GROUP = "rbac.authorization.k8s.io";

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: string;
  apiGroup?: string;
  name: string;
  namespace?: string;
}

export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

// ---------------------------------------------------------------------------
// Defaults (SetDefaults_RoleBinding, SetDefaults_ClusterRoleBinding, SetDefaults_Subject)

function defaultBinding(o: KObject): void {
  if (o.roleRef === undefined || o.roleRef === null) o.roleRef = {};
  if (typeof o.roleRef === "object" && !str(o.roleRef.apiGroup)) o.roleRef.apiGroup = RBAC_GROUP;
  for (const s of list<KObject>(o.subjects)) {
    if (!s || typeof s !== "object" || str(s.apiGroup)) continue;
    if (s.kind === "User" || s.kind === "Group") s.apiGroup = RBAC_GROUP;
    // ServiceAccount (and anything else) keeps "", which Go's omitempty leaves out.
    else delete s.apiGroup;
  }
}

// ---------------------------------------------------------------------------
// Validation

/** ValidatePolicyRule: `namespaced` rules (a Role's) cannot name non-resource URLs. */
export function validatePolicyRule(rule: KObject, namespaced: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const verbs = list<string>(rule?.verbs);
  const apiGroups = list<string>(rule?.apiGroups);
  const resources = list<string>(rule?.resources);
  const resourceNames = list<string>(rule?.resourceNames);
  const urls = list<string>(rule?.nonResourceURLs);
  if (verbs.length === 0)
    errs.push(required(`${path}.verbs`, "verbs must contain at least one value"));
  if (urls.length > 0) {
    if (namespaced)
      errs.push(
        invalid(
          `${path}.nonResourceURLs`,
          urls,
          "namespaced rules cannot apply to non-resource URLs",
        ),
      );
    if (apiGroups.length > 0 || resources.length > 0 || resourceNames.length > 0)
      errs.push(
        invalid(
          `${path}.nonResourceURLs`,
          urls,
          "rules cannot apply to both regular resources and non-resource URLs",
        ),
      );
    return errs;
  }
  if (apiGroups.length === 0)
    errs.push(required(`${path}.apiGroups`, "resource rules must supply at least one api group"));
  if (resources.length === 0)
    errs.push(required(`${path}.resources`, "resource rules must supply at least one resource"));
  return errs;
}

const validateRules = (o: KObject, namespaced: boolean): FieldError[] =>
  list<KObject>(o.rules).flatMap((r, i) => validatePolicyRule(r, namespaced, `rules[${i}]`));

/** ValidateRoleBindingSubject: `namespaced` subjects (a RoleBinding's) may leave out a namespace. */
export function validateSubject(s: KObject, namespaced: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = str(s?.name);
  const apiGroup = str(s?.apiGroup);
  const kind = str(s?.kind);
  if (!name) errs.push(required(`${path}.name`));
  switch (kind) {
    case "ServiceAccount":
      // ValidateServiceAccountName: a DNS-1123 subdomain.
      if (name)
        for (const msg of isDNS1123Subdomain(name)) errs.push(invalid(`${path}.name`, name, msg));
      if (apiGroup) errs.push(notSupported(`${path}.apiGroup`, apiGroup, [""]));
      if (!namespaced && !str(s?.namespace)) errs.push(required(`${path}.namespace`));
      break;
    case "User":
    case "Group":
      if (apiGroup !== RBAC_GROUP)
        errs.push(notSupported(`${path}.apiGroup`, apiGroup, [RBAC_GROUP]));
      break;
    default:
      errs.push(notSupported(`${path}.kind`, kind, ["ServiceAccount", "User", "Group"]));
  }
  return errs;
}

/** ValidateRoleBinding / ValidateClusterRoleBinding, past the object metadata. */
function validateBinding(o: KObject, kinds: string[], namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const ref = o.roleRef ?? {};
  const apiGroup = str(ref.apiGroup);
  const kind = str(ref.kind);
  const name = str(ref.name);
  if (apiGroup !== RBAC_GROUP) errs.push(notSupported("roleRef.apiGroup", apiGroup, [RBAC_GROUP]));
  if (!kinds.includes(kind)) errs.push(notSupported("roleRef.kind", kind, kinds));
  if (!name) errs.push(required("roleRef.name"));
  else
    for (const msg of isValidPathSegmentName(name)) errs.push(invalid("roleRef.name", name, msg));
  list<KObject>(o.subjects).forEach((s, i) => {
    errs.push(...validateSubject(s, namespaced, `subjects[${i}]`));
  });
  return errs;
}

/** The roleRef as the internal rbac.RoleRef struct Kubernetes compares and prints. */
const roleRefValue = (o: KObject) => ({
  APIGroup: str(o.roleRef?.apiGroup),
  Kind: str(o.roleRef?.kind),
  Name: str(o.roleRef?.name),
});

/** ValidateRoleBindingUpdate's own check: a binding never points at another role. */
function validateRoleRefUnchanged(o: KObject, old: KObject): FieldError[] {
  const now = roleRefValue(o);
  const before = roleRefValue(old);
  const same =
    now.APIGroup === before.APIGroup && now.Kind === before.Kind && now.Name === before.Name;
  return same ? [] : [invalid("roleRef", now, "cannot change roleRef")];
}

const selectorsOf = (o: KObject | undefined): LabelSelector[] =>
  list<LabelSelector>(o?.aggregationRule?.clusterRoleSelectors);

/** hasInvalidLabelValueInLabelSelector: an old bad value may stay on update. */
const hasInvalidLabelValue = (o: KObject | undefined): boolean =>
  selectorsOf(o).some((sel) =>
    (sel?.matchExpressions ?? []).some((e) =>
      (e.values ?? []).some((v) => isValidLabelValue(v).length > 0),
    ),
  );

/** ValidateClusterRole's aggregationRule checks. */
function validateAggregationRule(o: KObject, old: KObject | undefined): FieldError[] {
  const rule = o.aggregationRule;
  if (rule === undefined || rule === null) return [];
  const path = "aggregationRule.clusterRoleSelectors";
  const selectors = selectorsOf(o);
  const errs: FieldError[] = [];
  if (selectors.length === 0)
    errs.push(
      required(path, "at least one clusterRoleSelector required if aggregationRule is non-nil"),
    );
  const allowInvalidValues = old !== undefined && hasInvalidLabelValue(old);
  selectors.forEach((sel, i) => {
    const at = `${path}[${i}]`;
    let selErrs = validateLabelSelector(sel, at);
    if (allowInvalidValues)
      selErrs = selErrs.filter((e) => !/\.matchExpressions\[\d+\]\.values\[\d+\]$/.test(e.field));
    errs.push(...selErrs);
    // The Go code reports the failed conversion's (nil) result as the bad value.
    if (!asSelector(sel)) errs.push(invalid(at, null, "invalid label selector."));
  });
  return errs;
}

// ---------------------------------------------------------------------------
// Columns

/** creationTimestamp as printRole writes it: RFC 3339 in UTC (Go's zero time when unset). */
function createdAt(o: KObject): string {
  const ts = o.metadata?.creationTimestamp;
  const t = ts ? Date.parse(ts) : Number.NaN;
  return Number.isNaN(t) ? "0001-01-01T00:00:00Z" : `${new Date(t).toISOString().slice(0, 19)}Z`;
}

const createdAtColumn: Column = column("Created At", createdAt, {
  type: "date",
  description: ageColumn.description,
});

/** rbac.SubjectsStrings: users, groups and "namespace/name" service accounts, ", "-joined. */
function subjectsOf(o: KObject, kind: string): string {
  return list<KObject>(o.subjects)
    .filter((s) => s?.kind === kind)
    .map((s) => (kind === "ServiceAccount" ? `${str(s.namespace)}/${str(s.name)}` : str(s.name)))
    .join(", ");
}

function bindingColumns(noun: string, roleRefDoc: string): Column[] {
  return [
    nameColumn,
    column("Role", (o) => `${str(o.roleRef?.kind)}/${str(o.roleRef?.name)}`, {
      description: roleRefDoc,
    }),
    ageColumn,
    column("Users", (o) => subjectsOf(o, "User"), {
      priority: 1,
      description: `Users in the ${noun}`,
    }),
    column("Groups", (o) => subjectsOf(o, "Group"), {
      priority: 1,
      description: `Groups in the ${noun}`,
    }),
    column("ServiceAccounts", (o) => subjectsOf(o, "ServiceAccount"), {
      priority: 1,
      description: `ServiceAccounts in the ${noun}`,
    }),
  ];
}

// ---------------------------------------------------------------------------
// Strategies

export const roles = defineStrategy(findInfo(RBAC_GROUP, "roles"), {
  nameRule: "path-segment",
  validate: (o) => validateRules(o, true),
  columns: [nameColumn, createdAtColumn],
});

export const clusterRoles = defineStrategy(findInfo(RBAC_GROUP, "clusterroles"), {
  nameRule: "path-segment",
  validate: (o, old) => [...validateRules(o, false), ...validateAggregationRule(o, old)],
  columns: [nameColumn, createdAtColumn],
});

export const roleBindings = defineStrategy(findInfo(RBAC_GROUP, "rolebindings"), {
  nameRule: "path-segment",
  defaults: defaultBinding,
  validate: (o) => validateBinding(o, ["Role", "ClusterRole"], true),
  validateUpdate: validateRoleRefUnchanged,
  columns: bindingColumns(
    "roleBinding",
    "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.",
  ),
});

export const clusterRoleBindings = defineStrategy(findInfo(RBAC_GROUP, "clusterrolebindings"), {
  nameRule: "path-segment",
  defaults: defaultBinding,
  validate: (o) => validateBinding(o, ["ClusterRole"], false),
  validateUpdate: validateRoleRefUnchanged,
  columns: bindingColumns(
    "clusterRoleBinding",
    "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.",
  ),
});
