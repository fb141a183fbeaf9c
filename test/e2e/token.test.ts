// Join tokens from the command line (`npm run token`), enrolment over HTTPS, and what kubectl can
// do with the node credential it buys.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestJson } from "../../scripts/kubeconfig.ts";
import { type Cluster, root, runKubectl, startCluster } from "./cluster.ts";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
});

afterAll(async () => {
  await cluster?.destroy();
});

/** `npm run --silent token -- …` against the test cluster. */
function tokenCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "npm",
      ["run", "--silent", "token", "--", ...args, "--kubeconfig", cluster.kubeconfig],
      {
        cwd: root,
        env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH}` },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const joinAs = (token: string, nodeName: string) =>
  requestJson({ server: cluster.server, insecure: true }, "POST", "/kubeflare/v1/join", {
    token,
    nodeName,
  });

describe("npm run token", () => {
  let token: string;

  it("create prints a join token, stored as a bootstrap-token Secret", async () => {
    const res = await tokenCli(["create", "--ttl", "2h", "--description", "e2e host"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}\n$/);
    token = res.stdout.trim();
    const id = token.split(".")[0];
    const type = await cluster.kubectl([
      "get",
      "secret",
      "-n",
      "kube-system",
      `bootstrap-token-${id}`,
      "-o",
      "jsonpath={.type}",
    ]);
    expect(type).toBe("bootstrap.kubernetes.io/token");
  });

  it("list shows the token's id, expiry and description", async () => {
    const never = await tokenCli(["create", "--ttl", "0", "--description", "forever"]);
    const res = await tokenCli(["list"]);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trimEnd().split("\n");
    expect(lines[0].split(/ {3,}/)).toEqual(["ID", "EXPIRES", "DESCRIPTION"]);
    const row = (id: string) => lines.find((l) => l.startsWith(id))?.split(/ {3,}/);
    const [id] = token.split(".");
    const [, expires, description] = row(id) ?? [];
    expect(description).toBe("e2e host");
    const left = Date.parse(expires) - Date.now();
    expect(left).toBeGreaterThan(110 * 60e3);
    expect(left).toBeLessThanOrEqual(120 * 60e3);
    expect(row(never.stdout.trim().split(".")[0])?.slice(1)).toEqual(["<never>", "forever"]);
    // Only the id is shown, never the secret part.
    expect(res.stdout).not.toContain(token);
  });

  it("the token joins a host, whose credential kubectl can use only as the node", async () => {
    const joined = await joinAs(token, "e2e-host");
    expect(joined.status).toBe(200);
    expect(joined.body).toMatchObject({ nodeName: "e2e-host", podCIDR: "10.42.0.0/24" });
    const kubeconfig = join(cluster.state, "node-kubeconfig");
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters:
- name: kubeflare
  cluster: {server: "${cluster.server}", insecure-skip-tls-verify: true}
users:
- name: node
  user: {token: "${joined.body.credential}"}
contexts:
- name: node
  context: {cluster: kubeflare, user: node, namespace: default}
current-context: node
`,
    );
    const secrets = await runKubectl(kubeconfig, ["get", "secrets"]);
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toContain(
      'Error from server (Forbidden): secrets is forbidden: User "system:node:e2e-host" cannot list resource "secrets" in API group "" in the namespace "default"',
    );
    const pods = await runKubectl(kubeconfig, ["get", "pods", "-A"]);
    expect(pods.stderr).toContain("can only list/watch pods with spec.nodeName field selector");
    const mine = await runKubectl(kubeconfig, [
      "get",
      "pods",
      "-A",
      "--field-selector",
      "spec.nodeName=e2e-host",
    ]);
    expect(mine.code, mine.stderr).toBe(0);
    const nodes = await runKubectl(kubeconfig, ["get", "nodes"]);
    expect(nodes.code, nodes.stderr).toBe(0);
  });

  it("delete revokes a token: it joins no more", async () => {
    const res = await tokenCli(["delete", token.split(".")[0]]);
    expect(res.code, res.stderr).toBe(0);
    const refused = await joinAs(token, "e2e-late");
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/invalid join token/);
  });

  it("says what is wrong with a bad command line", async () => {
    const res = await tokenCli(["create", "--ttl", "1week"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('invalid --ttl "1week"');
  });
});
