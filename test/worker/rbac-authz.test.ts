// RBAC deciding what a ServiceAccount may do, and the reviews kubectl auth asks.
import { beforeAll, describe, expect, it } from "vitest";
import { call } from "./helpers.ts";
import { asBearer } from "./nodes.ts";

const NS = "rbac-authz";
const OTHER = "rbac-authz-other";
const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const GROUP = "rbac.authorization.k8s.io";

type Caller = ReturnType<typeof asBearer>;
let robot: Caller;
let robotToken: string;

const created = async (path: string, body: unknown) => {
  const res = await call("POST", path, body);
  if (res.status !== 201) throw new Error(`${path}: ${JSON.stringify(res.body)}`);
  return res.body;
};

const bindRole = (name: string, kind: "Role" | "ClusterRole", role: string, subjects: object[]) =>
  created(`${RBAC}/namespaces/${NS}/rolebindings`, {
    metadata: { name },
    roleRef: { apiGroup: GROUP, kind, name: role },
    subjects,
  });

const robotSubject = { kind: "ServiceAccount", name: "robot", namespace: NS };

const canI = async (caller: Caller, attrs: Record<string, string>) => {
  const res = await caller("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SelfSubjectAccessReview",
    spec: attrs.path ? { nonResourceAttributes: attrs } : { resourceAttributes: attrs },
  });
  expect(res.status).toBe(201);
  return res.body.status.allowed as boolean;
};

beforeAll(async () => {
  for (const name of [NS, OTHER]) await created("/api/v1/namespaces", { metadata: { name } });
  await created(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: "robot" } });
  for (const name of ["a", "b"])
    await created(`/api/v1/namespaces/${NS}/configmaps`, { metadata: { name }, data: { k: name } });
  const res = await call("POST", `/api/v1/namespaces/${NS}/serviceaccounts/robot/token`, {});
  robotToken = res.body.status.token;
  robot = asBearer(robotToken);
});

describe("RBAC", () => {
  it("lets every authenticated account discover the API, and nothing more", async () => {
    expect((await robot("GET", "/api")).status).toBe(200);
    expect((await robot("GET", "/apis/apps/v1")).status).toBe(200);
    expect((await robot("GET", `/api/v1/namespaces/${NS}/configmaps`)).status).toBe(403);
    expect((await robot("GET", "/metrics")).status).toBe(403);
  });

  it("grants a namespace's reads through a RoleBinding to the view ClusterRole", async () => {
    await bindRole("robot-view", "ClusterRole", "view", [robotSubject]);
    expect((await robot("GET", `/api/v1/namespaces/${NS}/pods`)).status).toBe(200);
    // The namespace itself is within the binding's namespace, as Kubernetes has it.
    expect((await robot("GET", `/api/v1/namespaces/${NS}`)).status).toBe(200);
    expect((await robot("GET", `/api/v1/namespaces/${OTHER}`)).status).toBe(403);
    expect((await robot("GET", `/api/v1/namespaces/${NS}/pods/x/log`)).status).toBe(404);
    const elsewhere = await robot("GET", `/api/v1/namespaces/${OTHER}/pods`);
    expect(elsewhere.status).toBe(403);
    const write = await robot("POST", `/api/v1/namespaces/${NS}/configmaps`, {
      metadata: { name: "c" },
    });
    expect(write.status).toBe(403);
    expect(write.body.message).toBe(
      `configmaps is forbidden: User "system:serviceaccount:${NS}:robot" cannot create resource "configmaps" in API group "" in the namespace "${NS}"`,
    );
    // view reads no Secrets.
    expect((await robot("GET", `/api/v1/namespaces/${NS}/secrets`)).status).toBe(403);
  });

  it("confines a rule with resourceNames to those names", async () => {
    await created(`${RBAC}/namespaces/${NS}/roles`, {
      metadata: { name: "edit-a" },
      rules: [
        {
          apiGroups: [""],
          resources: ["configmaps"],
          resourceNames: ["a"],
          verbs: ["get", "patch"],
        },
      ],
    });
    await bindRole("robot-edit-a", "Role", "edit-a", [robotSubject]);
    const patch = (name: string) =>
      robot(
        "PATCH",
        `/api/v1/namespaces/${NS}/configmaps/${name}`,
        { data: { k: "new" } },
        {
          "content-type": "application/merge-patch+json",
        },
      );
    expect((await patch("a")).status).toBe(200);
    const b = await patch("b");
    expect(b.status).toBe(403);
    expect(b.body.message).toBe(
      `configmaps "b" is forbidden: User "system:serviceaccount:${NS}:robot" cannot patch resource "configmaps" in API group "" in the namespace "${NS}"`,
    );
  });

  it("grants cluster-wide through a ClusterRoleBinding to a group, and non-resource paths", async () => {
    await created(`${RBAC}/clusterroles`, {
      metadata: { name: "rbac-authz-reader" },
      rules: [
        { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list"] },
        { nonResourceURLs: ["/metrics"], verbs: ["get"] },
      ],
    });
    expect((await robot("GET", "/api/v1/namespaces")).status).toBe(403);
    await created(`${RBAC}/clusterrolebindings`, {
      metadata: { name: "rbac-authz-reader" },
      roleRef: { apiGroup: GROUP, kind: "ClusterRole", name: "rbac-authz-reader" },
      subjects: [{ kind: "Group", apiGroup: GROUP, name: `system:serviceaccounts:${NS}` }],
    });
    expect((await robot("GET", "/api/v1/namespaces")).status).toBe(200);
    // Allowed, and then not found: this server has no /metrics.
    expect((await robot("GET", "/metrics")).status).toBe(404);
    await call("DELETE", `${RBAC}/clusterrolebindings/rbac-authz-reader`);
    expect((await robot("GET", "/api/v1/namespaces")).status).toBe(403);
  });
});

describe("reviews", () => {
  it("SelfSubjectReview names the caller (kubectl auth whoami)", async () => {
    const res = await robot("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
      apiVersion: "authentication.k8s.io/v1",
      kind: "SelfSubjectReview",
    });
    expect(res.status).toBe(201);
    expect(res.body.status.userInfo).toMatchObject({
      username: `system:serviceaccount:${NS}:robot`,
      groups: ["system:serviceaccounts", `system:serviceaccounts:${NS}`, "system:authenticated"],
      extra: { "authentication.kubernetes.io/credential-id": [expect.stringMatching(/^JTI=/)] },
    });
    const admin = await call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {});
    expect(admin.body.status.userInfo.username).toBe("admin");
  });

  it("SelfSubjectAccessReview answers for the caller (kubectl auth can-i)", async () => {
    const attrs = { namespace: NS, verb: "delete", group: "apps", resource: "deployments" };
    expect(await canI(robot, attrs)).toBe(false);
    expect(await canI(robot, { ...attrs, verb: "list", namespace: NS })).toBe(true);
    expect(await canI(robot, { verb: "get", path: "/api" })).toBe(true);
    expect(await canI(call, attrs)).toBe(true);
    const bad = await robot("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      spec: {},
    });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain(
      "exactly one of nonResourceAttributes or resourceAttributes must be specified",
    );
    // Reviews are only ever created.
    const list = await call("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
    expect(list.status).toBe(405);
  });

  it("SelfSubjectRulesReview lists what the caller holds in a namespace", async () => {
    const res = await robot("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {
      spec: { namespace: NS },
    });
    expect(res.status).toBe(201);
    expect(res.body.status.incomplete).toBe(false);
    expect(res.body.status.resourceRules).toContainEqual({
      verbs: ["get", "patch"],
      apiGroups: [""],
      resources: ["configmaps"],
      resourceNames: ["a"],
    });
    expect(res.body.status.nonResourceRules).toContainEqual(
      expect.objectContaining({ nonResourceURLs: expect.arrayContaining(["/api", "/apis/*"]) }),
    );
  });

  it("TokenReview tells a delegating server who a token belongs to", async () => {
    const review = (token: string) =>
      call("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { spec: { token } });
    const ok = await review(robotToken);
    expect(ok.status).toBe(201);
    expect(ok.body.status).toMatchObject({
      authenticated: true,
      user: { username: `system:serviceaccount:${NS}:robot` },
    });
    const bad = await review("not-a-token");
    expect(bad.body.status).toMatchObject({ authenticated: false });
    // A token for another audience is reviewed for that audience (Vault's Kubernetes auth).
    const forVault = await call("POST", `/api/v1/namespaces/${NS}/serviceaccounts/robot/token`, {
      spec: { audiences: ["vault"] },
    });
    const vaultToken = forVault.body.status.token;
    const asVault = await call("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
      spec: { token: vaultToken, audiences: ["vault"] },
    });
    expect(asVault.body.status).toMatchObject({ authenticated: true, audiences: ["vault"] });
    expect((await review(vaultToken)).body.status.authenticated).toBe(false);
    const wrong = await call("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
      spec: { token: vaultToken, audiences: "vault" },
    });
    expect(wrong.status).toBe(422);
    // The account may not review tokens itself.
    expect(
      (
        await robot("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
          spec: { token: robotToken },
        })
      ).status,
    ).toBe(403);
  });
});

describe("escalation prevention", () => {
  let deputy: Caller;
  const ROLES = `${RBAC}/namespaces/${NS}/roles`;
  const BINDINGS = `${RBAC}/namespaces/${NS}/rolebindings`;
  const binding = (name: string, role: string, subject: string) => ({
    metadata: { name },
    roleRef: { apiGroup: GROUP, kind: "ClusterRole", name: role },
    subjects: [{ kind: "ServiceAccount", name: subject, namespace: NS }],
  });

  beforeAll(async () => {
    await created(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: "deputy" } });
    const res = await call("POST", `/api/v1/namespaces/${NS}/serviceaccounts/deputy/token`, {});
    deputy = asBearer(res.body.status.token);
    // A namespace admin: it may write Roles and RoleBindings here.
    await bindRole("deputy-admin", "ClusterRole", "admin", [
      { kind: "ServiceAccount", name: "deputy", namespace: NS },
    ]);
  });

  it("writes Roles only with rules it holds", async () => {
    const mine = await deputy("POST", ROLES, {
      metadata: { name: "cm-reader" },
      rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }],
    });
    expect(mine.status).toBe(201);
    const more = await deputy("POST", ROLES, {
      metadata: { name: "node-reader" },
      rules: [{ apiGroups: [""], resources: ["nodes", "configmaps"], verbs: ["list"] }],
    });
    expect(more.status).toBe(403);
    expect(more.body.message).toBe(
      `roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "system:serviceaccount:${NS}:deputy" (groups=["system:serviceaccounts","system:serviceaccounts:${NS}","system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}`,
    );
    expect((await call("GET", `${ROLES}/node-reader`)).status).toBe(404);
  });

  it("binds a role only if it holds the role's rules, or may bind it", async () => {
    expect((await deputy("POST", BINDINGS, binding("robot-view-2", "view", "robot"))).status).toBe(
      201,
    );
    const root = await deputy("POST", BINDINGS, binding("deputy-root", "cluster-admin", "deputy"));
    expect(root.status).toBe(403);
    expect(root.body.message).toContain(
      "is attempting to grant RBAC permissions not currently held",
    );
    expect(root.body.message).toContain('{APIGroups:["*"], Resources:["*"], Verbs:["*"]}');
    // With `bind` on that ClusterRole (given by someone who holds it), the binding goes through.
    await created(ROLES, {
      metadata: { name: "may-bind-root" },
      rules: [
        {
          apiGroups: [GROUP],
          resources: ["clusterroles"],
          resourceNames: ["cluster-admin"],
          verbs: ["bind"],
        },
      ],
    });
    await bindRole("deputy-may-bind-root", "Role", "may-bind-root", [
      { kind: "ServiceAccount", name: "deputy", namespace: NS },
    ]);
    expect(
      (await deputy("POST", BINDINGS, binding("deputy-root", "cluster-admin", "deputy"))).status,
    ).toBe(201);
  });

  it("checks a binding again when its subjects change, and refuses a role that does not exist", async () => {
    // A namespace admin that holds nothing more (the deputy has meanwhile bound cluster-admin).
    await created(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: "junior" } });
    const res = await call("POST", `/api/v1/namespaces/${NS}/serviceaccounts/junior/token`, {});
    const junior = asBearer(res.body.status.token);
    await bindRole("junior-admin", "ClusterRole", "admin", [
      { kind: "ServiceAccount", name: "junior", namespace: NS },
    ]);
    // Made by the admin: binds a ClusterRole the junior does not hold (it reads /metrics).
    await created(BINDINGS, {
      metadata: { name: "metrics-readers" },
      roleRef: { apiGroup: GROUP, kind: "ClusterRole", name: "rbac-authz-reader" },
      subjects: [{ kind: "User", apiGroup: GROUP, name: "someone" }],
    });
    const merge = { "content-type": "application/merge-patch+json" };
    const widen = await junior(
      "PATCH",
      `${BINDINGS}/metrics-readers`,
      { subjects: [{ kind: "ServiceAccount", name: "junior", namespace: NS }] },
      merge,
    );
    expect(widen.status).toBe(403);
    expect(widen.body.message).toContain('{NonResourceURLs:["/metrics"], Verbs:["get"]}');
    const label = await junior(
      "PATCH",
      `${BINDINGS}/metrics-readers`,
      { metadata: { labels: { team: "x" } } },
      merge,
    );
    expect(label.status).toBe(200);
    const ghost = await junior("POST", BINDINGS, binding("ghost", "not-yet-installed", "junior"));
    expect(ghost.status).toBe(404);
    expect(ghost.body.message).toBe(
      'clusterroles.rbac.authorization.k8s.io "not-yet-installed" not found',
    );
  });
});

describe("impersonation", () => {
  const whoami = async (caller: Caller, headers: Record<string, string>) => {
    const res = await caller(
      "POST",
      "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      {},
      headers,
    );
    return res.status === 201 ? res.body.status.userInfo : res;
  };
  const asRobot = { "impersonate-user": `system:serviceaccount:${NS}:robot` };

  it("lets the admin act as an account, with that account's rights", async () => {
    expect(await whoami(call, asRobot)).toEqual({
      username: `system:serviceaccount:${NS}:robot`,
      groups: ["system:serviceaccounts", `system:serviceaccounts:${NS}`, "system:authenticated"],
    });
    const secrets = await call("GET", `/api/v1/namespaces/${NS}/secrets`, undefined, asRobot);
    expect(secrets.status).toBe(403);
    expect(secrets.body.message).toContain(`User "system:serviceaccount:${NS}:robot" cannot list`);
    const groups = await whoami(call, { "impersonate-user": "jane", "impersonate-group": "a, b" });
    expect(groups).toEqual({ username: "jane", groups: ["a", "b", "system:authenticated"] });
  });

  it("needs the impersonate verb on whom it names", async () => {
    const denied = await whoami(robot, { "impersonate-user": "bob" });
    expect(denied.status).toBe(403);
    expect(denied.body.message).toBe(
      `users "bob" is forbidden: User "system:serviceaccount:${NS}:robot" cannot impersonate resource "users" in API group "" at the cluster scope`,
    );
    await created(`${RBAC}/clusterroles`, {
      metadata: { name: "impersonate-bob" },
      rules: [
        { apiGroups: [""], resources: ["users"], resourceNames: ["bob"], verbs: ["impersonate"] },
      ],
    });
    await created(`${RBAC}/clusterrolebindings`, {
      metadata: { name: "robot-impersonates-bob" },
      roleRef: { apiGroup: GROUP, kind: "ClusterRole", name: "impersonate-bob" },
      subjects: [robotSubject],
    });
    expect(await whoami(robot, { "impersonate-user": "bob" })).toEqual({
      username: "bob",
      groups: ["system:authenticated"],
    });
    // bob, but not bob in a group robot may not name.
    const withGroup = await whoami(robot, {
      "impersonate-user": "bob",
      "impersonate-group": "ops",
    });
    expect(withGroup.status).toBe(403);
    const noUser = await whoami(call, { "impersonate-group": "ops" });
    expect(noUser.status).toBe(400);
    const garbled = await whoami(call, {
      "impersonate-user": "jane",
      "impersonate-extra-%E0%A4%A": "x",
    });
    expect(garbled.status).toBe(400);
  });
});
