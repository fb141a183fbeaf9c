// The RBAC kinds as stored objects: CRUD, defaults, Kubernetes' validation messages, roleRef
// immutability, the bootstrapped default policy and kubectl's table columns. No authorization.
import { describe, expect, it } from "vitest";
import { catalog } from "../../src/resources/catalog.ts";
import {
  DEFAULT_CLUSTER_ROLE_BINDINGS,
  DEFAULT_CLUSTER_ROLES,
} from "../../src/resources/rbac-defaults.ts";
import { call } from "./helpers.ts";

const GROUP = "rbac.authorization.k8s.io";
const API = `/apis/${GROUP}/v1`;
const NS = `${API}/namespaces/default`;
const TABLE = { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" };
const merge = { "content-type": "application/merge-patch+json" };

const role = (name: string, rules: object[]) => ({
  apiVersion: `${GROUP}/v1`,
  kind: "Role",
  metadata: { name },
  rules,
});

const clusterRole = <T extends object>(name: string, extra: T) => ({
  apiVersion: `${GROUP}/v1`,
  kind: "ClusterRole",
  metadata: { name },
  ...extra,
});

const roleBinding = (name: string, roleRef: object, subjects?: object[]) => ({
  apiVersion: `${GROUP}/v1`,
  kind: "RoleBinding",
  metadata: { name },
  roleRef,
  ...(subjects ? { subjects } : {}),
});

const clusterRoleBinding = (name: string, roleRef: object, subjects?: object[]) => ({
  ...roleBinding(name, roleRef, subjects),
  kind: "ClusterRoleBinding",
});

const readPods = { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] };

type Cause = { reason: string; message: string; field: string };

/** POSTs `body` and expects a 422 Invalid Status naming exactly these causes. */
async function refused(path: string, body: object, message: string, causes: Cause[]) {
  const res = await call("POST", path, body);
  expect(res.status).toBe(422);
  expect(res.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
  expect(res.body.message).toBe(message);
  expect(res.body.details.causes).toEqual(causes);
  return res;
}

describe("discovery", () => {
  it("serves the four kinds in rbac.authorization.k8s.io/v1, without short names", async () => {
    const res = await call("GET", API);
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.body.resources.map((r: { name: string }) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual([
      "clusterrolebindings",
      "clusterroles",
      "rolebindings",
      "roles",
    ]);
    expect(byName.roles).toMatchObject({ kind: "Role", namespaced: true, singularName: "role" });
    expect(byName.rolebindings).toMatchObject({ kind: "RoleBinding", namespaced: true });
    expect(byName.clusterroles).toMatchObject({ kind: "ClusterRole", namespaced: false });
    expect(byName.clusterrolebindings).toMatchObject({
      kind: "ClusterRoleBinding",
      namespaced: false,
    });
    for (const r of res.body.resources) expect(r.shortNames).toBeUndefined();
    const groups = await call("GET", "/apis");
    expect(groups.body.groups.map((g: { name: string }) => g.name)).toContain(GROUP);
  });
});

describe("Roles and ClusterRoles", () => {
  it("create, get, list, update and delete a Role, with no generation", async () => {
    const created = await call("POST", `${NS}/roles`, role("pod-reader", [readPods]));
    expect(created.status).toBe(201);
    expect(created.body.metadata.generation).toBeUndefined();
    expect(created.body.rules).toEqual([readPods]);
    const got = await call("GET", `${NS}/roles/pod-reader`);
    expect(got.body).toMatchObject({ kind: "Role", metadata: { namespace: "default" } });
    const listed = await call("GET", `${NS}/roles`);
    expect(listed.body.kind).toBe("RoleList");
    expect(listed.body.items.map((r: { metadata: { name: string } }) => r.metadata.name)).toEqual([
      "pod-reader",
    ]);
    const rules = [{ ...readPods, verbs: ["get", "list", "watch"], resourceNames: ["web"] }];
    const updated = await call("PUT", `${NS}/roles/pod-reader`, { ...got.body, rules });
    expect(updated.status).toBe(200);
    expect(updated.body.rules).toEqual(rules);
    expect(updated.body.metadata.generation).toBeUndefined();
    expect((await call("DELETE", `${NS}/roles/pod-reader`)).status).toBe(200);
    const gone = await call("GET", `${NS}/roles/pod-reader`);
    expect(gone.status).toBe(404);
    expect(gone.body.message).toBe(`roles.${GROUP} "pod-reader" not found`);
  });

  it("create, update and delete a ClusterRole with non-resource URLs and an aggregationRule", async () => {
    const body = clusterRole("kf-agg", {
      aggregationRule: {
        clusterRoleSelectors: [{ matchLabels: { "example.com/aggregate-to-kf": "true" } }],
      },
      rules: [
        { nonResourceURLs: ["/healthz", "/metrics"], verbs: ["get"] },
        { apiGroups: ["apps"], resources: ["deployments", "deployments/scale"], verbs: ["*"] },
      ],
    });
    const created = await call("POST", `${API}/clusterroles`, body);
    expect(created.status).toBe(201);
    expect(created.body.metadata.namespace).toBeUndefined();
    expect(created.body.metadata.generation).toBeUndefined();
    // Stored as given: nothing here aggregates other roles into it.
    expect(created.body.aggregationRule).toEqual(body.aggregationRule);
    expect(created.body.rules).toEqual(body.rules);
    const patched = await call(
      "PATCH",
      `${API}/clusterroles/kf-agg`,
      { aggregationRule: null, rules: [{ nonResourceURLs: ["/version"], verbs: ["get"] }] },
      merge,
    );
    expect(patched.status).toBe(200);
    expect(patched.body.aggregationRule).toBeUndefined();
    expect(patched.body.rules).toEqual([{ nonResourceURLs: ["/version"], verbs: ["get"] }]);
    expect((await call("DELETE", `${API}/clusterroles/kf-agg`)).status).toBe(200);
    expect((await call("GET", `${API}/clusterroles/kf-agg`)).status).toBe(404);
  });

  it("names are path segments: colons and capitals pass, '/' '%' '.' '..' do not", async () => {
    const ok = await call("POST", `${API}/clusterroles`, clusterRole("kf:Reader", { rules: [] }));
    expect(ok.status).toBe(201);
    await refused(
      `${NS}/roles`,
      role("a%b", []),
      `Role.${GROUP} "a%b" is invalid: metadata.name: Invalid value: "a%b": may not contain '%'`,
      [
        {
          reason: "FieldValueInvalid",
          message: `Invalid value: "a%b": may not contain '%'`,
          field: "metadata.name",
        },
      ],
    );
    await refused(
      `${API}/clusterroles`,
      clusterRole("..", {}),
      `ClusterRole.${GROUP} ".." is invalid: metadata.name: Invalid value: "..": may not be '..'`,
      [
        {
          reason: "FieldValueInvalid",
          message: `Invalid value: "..": may not be '..'`,
          field: "metadata.name",
        },
      ],
    );
  });

  it("refuse rules without verbs, groups or resources", async () => {
    await refused(
      `${NS}/roles`,
      role("no-verbs", [{ apiGroups: [""], resources: ["pods"] }]),
      `Role.${GROUP} "no-verbs" is invalid: rules[0].verbs: Required value: verbs must contain at least one value`,
      [
        {
          reason: "FieldValueRequired",
          message: "Required value: verbs must contain at least one value",
          field: "rules[0].verbs",
        },
      ],
    );
    await refused(
      `${NS}/roles`,
      role("no-resources", [readPods, { verbs: ["get"] }]),
      `Role.${GROUP} "no-resources" is invalid: [rules[1].apiGroups: Required value: resource rules must supply at least one api group, rules[1].resources: Required value: resource rules must supply at least one resource]`,
      [
        {
          reason: "FieldValueRequired",
          message: "Required value: resource rules must supply at least one api group",
          field: "rules[1].apiGroups",
        },
        {
          reason: "FieldValueRequired",
          message: "Required value: resource rules must supply at least one resource",
          field: "rules[1].resources",
        },
      ],
    );
    expect((await call("GET", `${NS}/roles/no-verbs`)).status).toBe(404);
  });

  it("allow non-resource URLs only in ClusterRoles, and never beside resources", async () => {
    await refused(
      `${NS}/roles`,
      role("urls", [{ nonResourceURLs: ["/healthz"], verbs: ["get"] }]),
      `Role.${GROUP} "urls" is invalid: rules[0].nonResourceURLs: Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs`,
      [
        {
          reason: "FieldValueInvalid",
          message:
            'Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs',
          field: "rules[0].nonResourceURLs",
        },
      ],
    );
    await refused(
      `${API}/clusterroles`,
      clusterRole("mixed", {
        rules: [{ nonResourceURLs: ["/healthz"], resources: ["pods"], verbs: ["get"] }],
      }),
      `ClusterRole.${GROUP} "mixed" is invalid: rules[0].nonResourceURLs: Invalid value: ["/healthz"]: rules cannot apply to both regular resources and non-resource URLs`,
      [
        {
          reason: "FieldValueInvalid",
          message:
            'Invalid value: ["/healthz"]: rules cannot apply to both regular resources and non-resource URLs',
          field: "rules[0].nonResourceURLs",
        },
      ],
    );
  });

  it("validate aggregationRule selectors", async () => {
    await refused(
      `${API}/clusterroles`,
      clusterRole("agg-empty", { aggregationRule: {} }),
      `ClusterRole.${GROUP} "agg-empty" is invalid: aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil`,
      [
        {
          reason: "FieldValueRequired",
          message:
            "Required value: at least one clusterRoleSelector required if aggregationRule is non-nil",
          field: "aggregationRule.clusterRoleSelectors",
        },
      ],
    );
    const res = await call(
      "POST",
      `${API}/clusterroles`,
      clusterRole("agg-bad", {
        aggregationRule: {
          clusterRoleSelectors: [
            { matchLabels: { a: "b" } },
            { matchExpressions: [{ key: "k", operator: "Near", values: ["v"] }] },
          ],
        },
      }),
    );
    expect(res.status).toBe(422);
    expect(res.body.details.causes).toEqual([
      {
        reason: "FieldValueInvalid",
        message: 'Invalid value: "Near": not a valid selector operator',
        field: "aggregationRule.clusterRoleSelectors[1].matchExpressions[0].operator",
      },
      {
        reason: "FieldValueInvalid",
        message: "Invalid value: null: invalid label selector.",
        field: "aggregationRule.clusterRoleSelectors[1]",
      },
    ]);
  });
});

describe("RoleBindings and ClusterRoleBindings", () => {
  it("default roleRef.apiGroup and the subjects' apiGroup", async () => {
    const created = await call(
      "POST",
      `${NS}/rolebindings`,
      roleBinding("rb-defaults", { kind: "Role", name: "pod-reader" }, [
        { kind: "User", name: "alice" },
        { kind: "Group", name: "devs" },
        { kind: "ServiceAccount", name: "robot", namespace: "default" },
        { kind: "ServiceAccount", name: "other", apiGroup: "" },
      ]),
    );
    expect(created.status).toBe(201);
    expect(created.body.metadata.generation).toBeUndefined();
    expect(created.body.roleRef).toEqual({ apiGroup: GROUP, kind: "Role", name: "pod-reader" });
    expect(created.body.subjects).toEqual([
      { kind: "User", name: "alice", apiGroup: GROUP },
      { kind: "Group", name: "devs", apiGroup: GROUP },
      { kind: "ServiceAccount", name: "robot", namespace: "default" },
      { kind: "ServiceAccount", name: "other" },
    ]);
    const crb = await call(
      "POST",
      `${API}/clusterrolebindings`,
      clusterRoleBinding("crb-defaults", { kind: "ClusterRole", name: "view" }, [
        { kind: "Group", name: "g1" },
      ]),
    );
    expect(crb.status).toBe(201);
    expect(crb.body.roleRef.apiGroup).toBe(GROUP);
    expect(crb.body.subjects).toEqual([{ kind: "Group", name: "g1", apiGroup: GROUP }]);
  });

  it("create, get, list, update and delete a RoleBinding; roleRef cannot change", async () => {
    const body = roleBinding("rb-crud", { apiGroup: GROUP, kind: "ClusterRole", name: "edit" }, [
      { kind: "User", name: "bob", apiGroup: GROUP },
    ]);
    expect((await call("POST", `${NS}/rolebindings`, body)).status).toBe(201);
    const got = await call("GET", `${NS}/rolebindings/rb-crud`);
    expect(got.body.kind).toBe("RoleBinding");
    const listed = await call("GET", `${NS}/rolebindings`);
    expect(listed.body.kind).toBe("RoleBindingList");
    expect(listed.body.items.map((r: { metadata: { name: string } }) => r.metadata.name)).toContain(
      "rb-crud",
    );
    // Subjects may change...
    const subjects = [{ kind: "Group", name: "ops", apiGroup: GROUP }];
    const updated = await call("PUT", `${NS}/rolebindings/rb-crud`, { ...got.body, subjects });
    expect(updated.status).toBe(200);
    expect(updated.body.subjects).toEqual(subjects);
    // ...the role they are bound to may not.
    const changed = await call("PUT", `${NS}/rolebindings/rb-crud`, {
      ...updated.body,
      roleRef: { apiGroup: GROUP, kind: "ClusterRole", name: "admin" },
    });
    expect(changed.status).toBe(422);
    expect(changed.body.message).toBe(
      `RoleBinding.${GROUP} "rb-crud" is invalid: roleRef: Invalid value: {"APIGroup":"${GROUP}","Kind":"ClusterRole","Name":"admin"}: cannot change roleRef`,
    );
    expect(changed.body.details.causes).toEqual([
      {
        reason: "FieldValueInvalid",
        message: `Invalid value: {"APIGroup":"${GROUP}","Kind":"ClusterRole","Name":"admin"}: cannot change roleRef`,
        field: "roleRef",
      },
    ]);
    // Leaving out roleRef.apiGroup is no change: it defaults to the same value.
    const same = await call(
      "PATCH",
      `${NS}/rolebindings/rb-crud`,
      { roleRef: { apiGroup: null } },
      merge,
    );
    expect(same.status).toBe(200);
    expect(same.body.roleRef).toEqual({ apiGroup: GROUP, kind: "ClusterRole", name: "edit" });
    expect((await call("DELETE", `${NS}/rolebindings/rb-crud`)).status).toBe(200);
    expect((await call("GET", `${NS}/rolebindings/rb-crud`)).status).toBe(404);
  });

  it("keep a ClusterRoleBinding's roleRef, even through a merge patch", async () => {
    const body = clusterRoleBinding("crb-crud", { kind: "ClusterRole", name: "view" }, [
      { kind: "ServiceAccount", name: "robot", namespace: "default" },
    ]);
    expect((await call("POST", `${API}/clusterrolebindings`, body)).status).toBe(201);
    const listed = await call("GET", `${API}/clusterrolebindings`);
    expect(listed.body.kind).toBe("ClusterRoleBindingList");
    const patched = await call(
      "PATCH",
      `${API}/clusterrolebindings/crb-crud`,
      { roleRef: { name: "edit" } },
      merge,
    );
    expect(patched.status).toBe(422);
    expect(patched.body.details.causes[0]).toMatchObject({
      reason: "FieldValueInvalid",
      field: "roleRef",
    });
    expect(patched.body.message).toContain("cannot change roleRef");
    const got = await call("GET", `${API}/clusterrolebindings/crb-crud`);
    expect(got.body.roleRef.name).toBe("view");
    expect((await call("DELETE", `${API}/clusterrolebindings/crb-crud`)).status).toBe(200);
  });

  it("refuse bad roleRefs", async () => {
    await refused(
      `${NS}/rolebindings`,
      roleBinding("rb-badref", { apiGroup: "example.com", kind: "Secret" }),
      `RoleBinding.${GROUP} "rb-badref" is invalid: [roleRef.apiGroup: Unsupported value: "example.com": supported values: "${GROUP}", roleRef.kind: Unsupported value: "Secret": supported values: "Role", "ClusterRole", roleRef.name: Required value]`,
      [
        {
          reason: "FieldValueNotSupported",
          message: `Unsupported value: "example.com": supported values: "${GROUP}"`,
          field: "roleRef.apiGroup",
        },
        {
          reason: "FieldValueNotSupported",
          message: 'Unsupported value: "Secret": supported values: "Role", "ClusterRole"',
          field: "roleRef.kind",
        },
        { reason: "FieldValueRequired", message: "Required value", field: "roleRef.name" },
      ],
    );
    await refused(
      `${API}/clusterrolebindings`,
      clusterRoleBinding("crb-role", { kind: "Role", name: "a/b" }),
      `ClusterRoleBinding.${GROUP} "crb-role" is invalid: [roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole", roleRef.name: Invalid value: "a/b": may not contain '/']`,
      [
        {
          reason: "FieldValueNotSupported",
          message: 'Unsupported value: "Role": supported values: "ClusterRole"',
          field: "roleRef.kind",
        },
        {
          reason: "FieldValueInvalid",
          message: `Invalid value: "a/b": may not contain '/'`,
          field: "roleRef.name",
        },
      ],
    );
    // No roleRef at all: the defaulted apiGroup passes, kind and name do not.
    const none = await call("POST", `${API}/clusterrolebindings`, {
      metadata: { name: "crb-none" },
    });
    expect(none.status).toBe(422);
    expect(none.body.details.causes.map((c: Cause) => c.field)).toEqual([
      "roleRef.kind",
      "roleRef.name",
    ]);
  });

  it("refuse bad subjects", async () => {
    const ref = { kind: "ClusterRole", name: "view" };
    const res = await refused(
      `${NS}/rolebindings`,
      roleBinding("rb-subjects", ref, [
        { kind: "Robot", name: "r2" },
        { kind: "User", name: "carol", apiGroup: "example.com" },
        { kind: "ServiceAccount", name: "Bad_SA", apiGroup: GROUP },
        { kind: "Group" },
        // A RoleBinding's ServiceAccount may leave out its namespace (the binding's).
        { kind: "ServiceAccount", name: "robot" },
      ]),
      `RoleBinding.${GROUP} "rb-subjects" is invalid: [subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group", subjects[1].apiGroup: Unsupported value: "example.com": supported values: "${GROUP}", subjects[2].name: Invalid value: "Bad_SA": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), subjects[2].apiGroup: Unsupported value: "${GROUP}": supported values: "", subjects[3].name: Required value]`,
      [
        {
          reason: "FieldValueNotSupported",
          message:
            'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
          field: "subjects[0].kind",
        },
        {
          reason: "FieldValueNotSupported",
          message: `Unsupported value: "example.com": supported values: "${GROUP}"`,
          field: "subjects[1].apiGroup",
        },
        {
          reason: "FieldValueInvalid",
          message:
            "Invalid value: \"Bad_SA\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
          field: "subjects[2].name",
        },
        {
          reason: "FieldValueNotSupported",
          message: `Unsupported value: "${GROUP}": supported values: ""`,
          field: "subjects[2].apiGroup",
        },
        { reason: "FieldValueRequired", message: "Required value", field: "subjects[3].name" },
      ],
    );
    expect(res.body.details).toMatchObject({
      name: "rb-subjects",
      group: GROUP,
      kind: "RoleBinding",
    });
    // A ClusterRoleBinding's ServiceAccount must name its namespace.
    await refused(
      `${API}/clusterrolebindings`,
      clusterRoleBinding("crb-sa", ref, [{ kind: "ServiceAccount", name: "robot" }]),
      `ClusterRoleBinding.${GROUP} "crb-sa" is invalid: subjects[0].namespace: Required value`,
      [{ reason: "FieldValueRequired", message: "Required value", field: "subjects[0].namespace" }],
    );
  });
});

describe("default policy", () => {
  const names = (items: { metadata: { name: string } }[]) => items.map((i) => i.metadata.name);

  it("has the bootstrap cluster roles, marked as the server's", async () => {
    const res = await call("GET", `${API}/clusterroles?labelSelector=kubernetes.io/bootstrapping`);
    expect(names(res.body.items)).toEqual(
      expect.arrayContaining([
        "admin",
        "cluster-admin",
        "edit",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
        "view",
      ]),
    );
    for (const r of res.body.items) {
      expect(r.metadata.labels["kubernetes.io/bootstrapping"]).toBe("rbac-defaults");
      expect(r.metadata.annotations["rbac.authorization.kubernetes.io/autoupdate"]).toBe("true");
      expect(r.aggregationRule).toBeUndefined();
    }
    const admin = await call("GET", `${API}/clusterroles/cluster-admin`);
    expect(admin.body.rules).toEqual([
      { verbs: ["*"], apiGroups: ["*"], resources: ["*"] },
      { verbs: ["*"], nonResourceURLs: ["*"] },
    ]);
    const view = await call("GET", `${API}/clusterroles/view`);
    expect(view.body.metadata.labels["rbac.authorization.k8s.io/aggregate-to-edit"]).toBe("true");
    expect(view.body.rules).toContainEqual({
      verbs: ["get", "list", "watch"],
      apiGroups: ["batch"],
      resources: ["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
    });
    // view reads no Secrets; edit does, and admin also manages Roles and RoleBindings.
    const resourcesOf = (rules: { resources?: string[] }[]) => rules.flatMap((r) => r.resources);
    expect(resourcesOf(view.body.rules)).not.toContain("secrets");
    const edit = await call("GET", `${API}/clusterroles/edit`);
    expect(resourcesOf(edit.body.rules)).toContain("secrets");
    expect(resourcesOf(edit.body.rules)).not.toContain("roles");
    const ns = await call("GET", `${API}/clusterroles/admin`);
    expect(ns.body.rules.at(-1)).toEqual({
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
      apiGroups: [GROUP],
      resources: ["rolebindings", "roles"],
    });
    expect(ns.body.rules.slice(0, edit.body.rules.length)).toEqual(edit.body.rules);
  });

  it("has the bootstrap cluster role bindings", async () => {
    const res = await call("GET", `${API}/clusterrolebindings`);
    const byName = Object.fromEntries(
      res.body.items.map((b: { metadata: { name: string } }) => [b.metadata.name, b]),
    );
    const group = (name: string) => ({ kind: "Group", apiGroup: GROUP, name });
    const expected: Record<string, object[]> = {
      "cluster-admin": [group("system:masters")],
      "system:discovery": [group("system:authenticated")],
      "system:basic-user": [group("system:authenticated")],
      "system:public-info-viewer": [group("system:authenticated"), group("system:unauthenticated")],
    };
    for (const [name, subjects] of Object.entries(expected)) {
      expect(byName[name]).toBeDefined();
      expect(byName[name].roleRef).toEqual({ apiGroup: GROUP, kind: "ClusterRole", name });
      expect(byName[name].subjects).toEqual(subjects);
      expect(byName[name].metadata.labels).toEqual({
        "kubernetes.io/bootstrapping": "rbac-defaults",
      });
    }
  });

  it("is created when missing and never overwritten", async () => {
    // What the server created is the exported data, which the server keeps as an admin left it.
    const patched = await call(
      "PATCH",
      `${API}/clusterroles/system:public-info-viewer`,
      { metadata: { labels: { edited: "yes" } } },
      merge,
    );
    expect(patched.status).toBe(200);
    const again = await call("GET", `${API}/clusterroles/system:public-info-viewer`);
    expect(again.body.metadata.labels.edited).toBe("yes");
    const stored = await call("GET", `${API}/clusterroles`);
    for (const r of DEFAULT_CLUSTER_ROLES) {
      const found = stored.body.items.find(
        (i: { metadata: { name: string } }) => i.metadata.name === r.metadata.name,
      );
      expect(found.rules).toEqual(r.rules);
    }
    expect(DEFAULT_CLUSTER_ROLE_BINDINGS.map((b) => b.metadata.name)).toHaveLength(4);
  });

  it("names only resources this server serves in admin, edit and view", () => {
    const served = new Set<string>();
    for (const r of catalog) {
      served.add(`${r.group}/${r.plural}`);
      for (const sub of r.subresources ?? []) served.add(`${r.group}/${r.plural}/${sub}`);
    }
    for (const role of DEFAULT_CLUSTER_ROLES) {
      if (!["admin", "edit", "view"].includes(role.metadata.name)) continue;
      for (const rule of role.rules)
        for (const g of rule.apiGroups ?? [])
          for (const res of rule.resources ?? []) expect(served).toContain(`${g}/${res}`);
    }
  });
});

describe("tables", () => {
  it("show Roles and ClusterRoles with NAME and CREATED AT", async () => {
    await call("POST", `${NS}/roles`, role("table-role", [readPods]));
    const res = await call("GET", `${NS}/roles`, undefined, TABLE);
    expect(res.body.kind).toBe("Table");
    expect(
      res.body.columnDefinitions.map((c: { name: string; type: string }) => [c.name, c.type]),
    ).toEqual([
      ["Name", "string"],
      ["Created At", "date"],
    ]);
    const row = res.body.rows.find((r: { cells: string[] }) => r.cells[0] === "table-role");
    expect(row.cells[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(row.cells[1]).toBe(row.object.metadata.creationTimestamp);
    const cluster = await call("GET", `${API}/clusterroles/cluster-admin`, undefined, TABLE);
    expect(cluster.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Created At",
    ]);
    expect(cluster.body.rows[0].cells[0]).toBe("cluster-admin");
  });

  it("show bindings with ROLE, AGE and the wide-only subject columns", async () => {
    await call(
      "POST",
      `${NS}/rolebindings`,
      roleBinding("table-rb", { kind: "Role", name: "table-role" }, [
        { kind: "User", name: "alice" },
        { kind: "User", name: "bob" },
        { kind: "Group", name: "devs" },
        { kind: "ServiceAccount", name: "robot", namespace: "default" },
      ]),
    );
    const res = await call("GET", `${NS}/rolebindings/table-rb`, undefined, TABLE);
    expect(
      res.body.columnDefinitions.map((c: { name: string; priority: number }) => [
        c.name,
        c.priority,
      ]),
    ).toEqual([
      ["Name", 0],
      ["Role", 0],
      ["Age", 0],
      ["Users", 1],
      ["Groups", 1],
      ["ServiceAccounts", 1],
    ]);
    const cells = res.body.rows[0].cells;
    expect(cells[0]).toBe("table-rb");
    expect(cells[1]).toBe("Role/table-role");
    expect(cells[2]).toMatch(/^\d+s$/);
    expect(cells.slice(3)).toEqual(["alice, bob", "devs", "default/robot"]);
    const crb = await call(
      "GET",
      `${API}/clusterrolebindings/system:public-info-viewer`,
      undefined,
      TABLE,
    );
    expect(crb.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Role",
      "Age",
      "Users",
      "Groups",
      "ServiceAccounts",
    ]);
    const row = crb.body.rows[0].cells;
    expect(row[1]).toBe("ClusterRole/system:public-info-viewer");
    expect(row.slice(3)).toEqual(["", "system:authenticated, system:unauthenticated", ""]);
  });
});
