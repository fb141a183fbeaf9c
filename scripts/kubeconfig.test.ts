import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseKubeconfig, readKubeconfig } from "./kubeconfig.ts";

const dir = mkdtempSync(join(tmpdir(), "kubeconfig-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (extra = "") => `apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: https://other:6443
- name: kubeflare
  cluster:
    server: https://127.0.0.1:6443/
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: s3cret
contexts:
- name: kubeflare
  context:
    cluster: kubeflare
    user: admin
current-context: kubeflare
${extra}`;

describe("kubeconfig", () => {
  it("follows the current context to its cluster and user", () => {
    const t = parseKubeconfig(config(), "kc");
    expect(t).toMatchObject({ server: "https://127.0.0.1:6443", token: "s3cret", insecure: true });
  });

  it("reads the CA and token from files next to the kubeconfig", () => {
    writeFileSync(join(dir, "ca.crt"), "CA");
    writeFileSync(join(dir, "token"), "from-file\n");
    const path = join(dir, "config");
    writeFileSync(
      path,
      `current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://h", certificate-authority: ca.crt}}]
users: [{name: u, user: {tokenFile: token}}]
`,
    );
    const t = readKubeconfig(path);
    expect(t.ca?.toString()).toBe("CA");
    expect(t.token).toBe("from-file");
    expect(t.insecure).toBe(false);
  });

  it("says what is missing", () => {
    expect(() => parseKubeconfig("kind: Config\n", "kc")).toThrow("kc: no current-context");
    expect(() =>
      parseKubeconfig(
        config().replace("current-context: kubeflare", "current-context: nope"),
        "kc",
      ),
    ).toThrow('kc: no context named "nope"');
    expect(() => readKubeconfig(join(dir, "missing"))).toThrow(
      /cannot read the kubeconfig .*ENOENT.*npm start/,
    );
  });
});
