// The default RBAC policy the API server bootstraps, as Kubernetes v1.32's bootstrappolicy
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go, ClusterRoles and
// ClusterRoleBindings). Kept as plain data so bootstrap.ts can create it and an authorizer can
// read the same rules without a database round trip.
//
// admin, edit and view are written flat: Kubernetes declares them with an aggregationRule and
// lets its aggregation controller fill in the rules of the system:aggregate-to-{admin,edit,view}
// roles (view is labelled aggregate-to-edit, edit aggregate-to-admin). What is below is that
// controller's result (matching roles in name order, repeated rules dropped), keeping only the
// resources and subresources this server serves (catalog.ts): no replicationcontrollers,
// horizontalpodautoscalers, networkpolicies, limitranges/resourcequotas, extensions group,
// pods/attach, pods/proxy, deployments/rollback, serviceaccounts/token, localsubjectaccessreviews.
import type { PolicyRule, RoleRef, Subject } from "./rbac.ts";
import { RBAC_GROUP } from "./rbac.ts";

export interface DefaultClusterRole {
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  rules: PolicyRule[];
}

export interface DefaultClusterRoleBinding {
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  roleRef: RoleRef;
  subjects: Subject[];
}

/** bootstrappolicy's addDefaultMetadata: what marks an object as the server's own policy. */
export const BOOTSTRAP_LABELS = { "kubernetes.io/bootstrapping": "rbac-defaults" };
export const BOOTSTRAP_ANNOTATIONS = { "rbac.authorization.kubernetes.io/autoupdate": "true" };

const READ = ["get", "list", "watch"];
const WRITE = ["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE = [
  "create",
  "delete",
  "deletecollection",
  "get",
  "list",
  "patch",
  "update",
  "watch",
];

const rule = (verbs: string[], apiGroups: string[], resources: string[]): PolicyRule => ({
  verbs,
  apiGroups,
  resources,
});

const urls = (verbs: string[], nonResourceURLs: string[]): PolicyRule => ({
  verbs,
  nonResourceURLs,
});

/** system:aggregate-to-view, as the view role aggregates it. */
const viewRules: PolicyRule[] = [
  rule(
    READ,
    [""],
    [
      "configmaps",
      "endpoints",
      "persistentvolumeclaims",
      "persistentvolumeclaims/status",
      "pods",
      "serviceaccounts",
      "services",
      "services/status",
    ],
  ),
  rule(READ, [""], ["events", "namespaces/status", "pods/log", "pods/status"]),
  rule(READ, [""], ["namespaces"]),
  rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
  rule(
    READ,
    ["apps"],
    [
      "controllerrevisions",
      "daemonsets",
      "daemonsets/status",
      "deployments",
      "deployments/scale",
      "deployments/status",
      "replicasets",
      "replicasets/scale",
      "replicasets/status",
      "statefulsets",
      "statefulsets/scale",
      "statefulsets/status",
    ],
  ),
  rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
  rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
  rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status"]),
];

/** system:aggregate-to-edit, then view's rules. */
const editRules: PolicyRule[] = [
  rule(READ, [""], ["pods/exec", "pods/portforward", "secrets", "services/proxy"]),
  rule(["impersonate"], [""], ["serviceaccounts"]),
  rule(WRITE, [""], ["pods", "pods/exec", "pods/portforward"]),
  rule(["create"], [""], ["pods/eviction"]),
  rule(["create"], [""], ["serviceaccounts/token"]),
  rule(
    WRITE,
    [""],
    [
      "configmaps",
      "persistentvolumeclaims",
      "secrets",
      "serviceaccounts",
      "services",
      "services/proxy",
    ],
  ),
  rule(
    WRITE,
    ["apps"],
    [
      "daemonsets",
      "deployments",
      "deployments/scale",
      "replicasets",
      "replicasets/scale",
      "statefulsets",
      "statefulsets/scale",
    ],
  ),
  rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
  rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
  rule(WRITE, ["networking.k8s.io"], ["ingresses"]),
  ...viewRules,
];

/** edit's rules, then system:aggregate-to-admin. */
const adminRules: PolicyRule[] = [
  ...editRules,
  rule(READ_WRITE, [RBAC_GROUP], ["rolebindings", "roles"]),
];

const meta = (name: string, labels: Record<string, string> = {}) => ({
  name,
  labels: { ...BOOTSTRAP_LABELS, ...labels },
  annotations: { ...BOOTSTRAP_ANNOTATIONS },
});

export const DEFAULT_CLUSTER_ROLES: readonly DefaultClusterRole[] = [
  {
    // A "root" role which can do absolutely anything.
    metadata: meta("cluster-admin"),
    rules: [rule(["*"], ["*"], ["*"]), urls(["*"], ["*"])],
  },
  {
    // Just enough to tell whether the server is ready and to discover API versions.
    metadata: meta("system:discovery"),
    rules: [
      urls(
        ["get"],
        [
          "/api",
          "/api/*",
          "/apis",
          "/apis/*",
          "/healthz",
          "/livez",
          "/openapi",
          "/openapi/*",
          "/readyz",
          "/version",
          "/version/",
        ],
      ),
    ],
  },
  {
    // What a "normal" user needs to learn about themselves.
    metadata: meta("system:basic-user"),
    rules: [
      rule(
        ["create"],
        ["authorization.k8s.io"],
        ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
      ),
      rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
    ],
  },
  {
    // For servers that delegate authentication to this one (TokenReview).
    metadata: meta("system:auth-delegator"),
    rules: [rule(["create"], ["authentication.k8s.io"], ["tokenreviews"])],
  },
  {
    // Insensitive cluster information, for everyone including anonymous users.
    metadata: meta("system:public-info-viewer"),
    rules: [urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])],
  },
  {
    // A namespace admin: edit, plus the power to grant permissions within the namespace.
    metadata: meta("admin"),
    rules: adminRules,
  },
  {
    // A namespace editor: every user-level action, but not the system's /status subresources.
    metadata: meta("edit", { "rbac.authorization.k8s.io/aggregate-to-admin": "true" }),
    rules: editRules,
  },
  {
    // Read-only access to the non-escalating resources of a namespace (no Secrets).
    metadata: meta("view", { "rbac.authorization.k8s.io/aggregate-to-edit": "true" }),
    rules: viewRules,
  },
];

const groups = (...names: string[]): Subject[] =>
  names.map((name) => ({ kind: "Group", apiGroup: RBAC_GROUP, name }));

const binding = (name: string, subjects: Subject[]): DefaultClusterRoleBinding => ({
  metadata: meta(name),
  roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name },
  subjects,
});

export const DEFAULT_CLUSTER_ROLE_BINDINGS: readonly DefaultClusterRoleBinding[] = [
  binding("cluster-admin", groups("system:masters")),
  binding("system:discovery", groups("system:authenticated")),
  binding("system:basic-user", groups("system:authenticated")),
  binding("system:public-info-viewer", groups("system:authenticated", "system:unauthenticated")),
];
