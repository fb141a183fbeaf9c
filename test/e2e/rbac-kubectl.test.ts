// The RBAC kinds through the real kubectl: its create subcommands (protobuf bodies), get's
// columns and describe; then a ServiceAccount's token (kubectl create token) held to them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "./cluster.ts";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
});

afterAll(async () => {
  await cluster?.destroy();
});

const k = (args: string[]) => cluster.kubectl(args);
const json = async (args: string[]) => JSON.parse(await k([...args, "-o", "json"]));

/** The non-empty lines of kubectl's output, each split into words. */
const lines = (out: string) =>
  out
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => l.trim().split(/\s+/));

describe("kubectl and RBAC objects", () => {
  it("api-resources lists the four kinds without short names", async () => {
    const out = await k(["api-resources", "--api-group=rbac.authorization.k8s.io"]);
    expect(lines(out)).toEqual([
      ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
      ["clusterrolebindings", "rbac.authorization.k8s.io/v1", "false", "ClusterRoleBinding"],
      ["clusterroles", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"],
      ["rolebindings", "rbac.authorization.k8s.io/v1", "true", "RoleBinding"],
      ["roles", "rbac.authorization.k8s.io/v1", "true", "Role"],
    ]);
  });

  it("create role, rolebinding and clusterrolebinding make the objects", async () => {
    expect(await k(["create", "role", "pod-reader", "--verb=get,list", "--resource=pods"])).toBe(
      "role.rbac.authorization.k8s.io/pod-reader created\n",
    );
    expect(
      await k([
        "create",
        "rolebinding",
        "read-pods",
        "--role=pod-reader",
        "--serviceaccount=default:robot",
      ]),
    ).toBe("rolebinding.rbac.authorization.k8s.io/read-pods created\n");
    expect(
      await k(["create", "clusterrolebinding", "g1-view", "--clusterrole=view", "--group=g1"]),
    ).toBe("clusterrolebinding.rbac.authorization.k8s.io/g1-view created\n");

    const role = await json(["get", "role", "pod-reader"]);
    expect(role.metadata.namespace).toBe("default");
    expect(role.rules).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }]);
    const rb = await json(["get", "rolebinding", "read-pods"]);
    expect(rb.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: "pod-reader",
    });
    expect(rb.subjects).toEqual([{ kind: "ServiceAccount", name: "robot", namespace: "default" }]);
    const crb = await json(["get", "clusterrolebinding", "g1-view"]);
    expect(crb.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "view",
    });
    expect(crb.subjects).toEqual([
      { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "g1" },
    ]);
  });

  it("get roles,rolebindings -o wide prints kubectl's columns", async () => {
    const out = await k(["get", "roles,rolebindings", "-o", "wide"]);
    const [roles, bindings] = out.trimEnd().split("\n\n");
    const roleLines = roles.split("\n");
    expect(roleLines[0].trim().split(/\s{2,}/)).toEqual(["NAME", "CREATED AT"]);
    expect(roleLines[1]).toMatch(
      /^role\.rbac\.authorization\.k8s\.io\/pod-reader\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s*$/,
    );
    const bindingLines = bindings.split("\n");
    expect(bindingLines[0].trim().split(/\s{2,}/)).toEqual([
      "NAME",
      "ROLE",
      "AGE",
      "USERS",
      "GROUPS",
      "SERVICEACCOUNTS",
    ]);
    // No users or groups: those cells are blank, so the service account stands alone after AGE.
    expect(bindingLines[1]).toMatch(
      /^rolebinding\.rbac\.authorization\.k8s\.io\/read-pods\s+Role\/pod-reader\s+\d+s\s+default\/robot\s*$/,
    );
    const crb = await k(["get", "clusterrolebinding", "g1-view", "-o", "wide"]);
    expect(crb.split("\n")[1]).toMatch(/^g1-view\s+ClusterRole\/view\s+\d+s\s+g1\s*$/);
    const narrow = await k(["get", "rolebindings"]);
    expect(lines(narrow)[0]).toEqual(["NAME", "ROLE", "AGE"]);
  });

  it("describe clusterrole view shows its flattened rules", async () => {
    const out = await k(["describe", "clusterrole", "view"]);
    expect(out).toMatch(/^Name:\s+view$/m);
    expect(out).toMatch(/^Labels:\s+kubernetes\.io\/bootstrapping=rbac-defaults$/m);
    expect(out).toMatch(/^\s+rbac\.authorization\.k8s\.io\/aggregate-to-edit=true$/m);
    expect(out).toMatch(/^Annotations:\s+rbac\.authorization\.kubernetes\.io\/autoupdate: true$/m);
    expect(out).toMatch(/^PolicyRule:$/m);
    expect(out).toMatch(/^\s+Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/m);
    expect(out).toMatch(/^\s+configmaps\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    expect(out).toMatch(/^\s+deployments\.apps\/scale\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    expect(out).toMatch(/^\s+ingresses\.networking\.k8s\.io\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    expect(out).not.toMatch(/^\s+secrets\s/m);
  });

  it("get clusterroles lists the default roles", async () => {
    const out = await k(["get", "clusterroles"]);
    const rows = lines(out);
    expect(rows[0]).toEqual(["NAME", "CREATED", "AT"]);
    const names = rows.slice(1).map((r) => r[0]);
    expect(names).toEqual(
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
    const bindings = lines(await k(["get", "clusterrolebindings"]));
    expect(bindings.find((r) => r[0] === "cluster-admin")?.[1]).toBe("ClusterRole/cluster-admin");
  });

  it("refuses to point a binding at another role", async () => {
    const r = await cluster.kubectlResult([
      "patch",
      "rolebinding",
      "read-pods",
      "--type=merge",
      "-p",
      '{"roleRef":{"name":"other"}}',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'The RoleBinding "read-pods" is invalid: roleRef: Invalid value: {"APIGroup":"rbac.authorization.k8s.io","Kind":"Role","Name":"other"}: cannot change roleRef',
    );
  });

  it("a ServiceAccount token from kubectl create token can do what its bindings grant", async () => {
    await k(["create", "serviceaccount", "robot"]);
    const token = (await k(["create", "token", "robot"])).trim();
    const as = (args: string[]) => cluster.kubectlResult([...args, "--token", token]);
    const whoami = lines((await as(["auth", "whoami"])).stdout);
    expect(whoami[1]).toEqual(["Username", "system:serviceaccount:default:robot"]);
    // read-pods binds pod-reader (get, list pods) to this account.
    expect((await as(["get", "pods"])).code).toBe(0);
    expect((await as(["auth", "can-i", "list", "pods"])).stdout.trim()).toBe("yes");
    expect((await as(["auth", "can-i", "delete", "pods"])).stdout.trim()).toBe("no");
    const denied = await as(["get", "deployments"]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(
      'deployments.apps is forbidden: User "system:serviceaccount:default:robot" cannot list resource "deployments" in API group "apps" in the namespace "default"',
    );
    const rules = lines((await as(["auth", "can-i", "--list"])).stdout);
    expect(rules).toContainEqual(["pods", "[]", "[]", "[get", "list]"]);
    const short = await cluster.kubectlResult(["create", "token", "robot", "--duration=5m"]);
    expect(short.code).toBe(1);
    expect(short.stderr).toContain("may not specify a duration less than 10 minutes");
    // The admin checks the account's rights by impersonating it (kubectl --as).
    const asRobot = ["--as", "system:serviceaccount:default:robot"];
    expect((await k(["auth", "can-i", "list", "pods", ...asRobot])).trim()).toBe("yes");
    const cannot = await cluster.kubectlResult(["auth", "can-i", "delete", "pods", ...asRobot]);
    expect(cannot.stdout.trim()).toBe("no");
    // A deleted account's tokens stop working.
    await k(["delete", "serviceaccount", "robot"]);
    const gone = await as(["get", "pods"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("Unauthorized");
  });
});
