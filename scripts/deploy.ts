// `npm run deploy`: put the control plane on Cloudflare. Creates (or finds) the D1 database,
// applies migrations, sets the secrets (admin token, sealing and signing keys), deploys the Worker and writes a kubeconfig.
// Needs `wrangler login` (or CLOUDFLARE_API_TOKEN) first.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildAgent } from "./build-agent.ts";
import { newSealingKey, newServiceAccountKey } from "./keys.ts";
import { run } from "./run.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules/.bin/wrangler");
const tomlPath = join(root, "wrangler.toml");
const PLACEHOLDER = "00000000-0000-0000-0000-000000000000";
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };

const w = (args: string[], input?: string) =>
  run(wrangler, args, { cwd: root, env, input, quiet: true });

async function databaseId(): Promise<string> {
  const list = JSON.parse(await w(["d1", "list", "--json"])) as { name: string; uuid: string }[];
  const found = list.find((d) => d.name === "kubeflare");
  if (found) return found.uuid;
  const out = await w(["d1", "create", "kubeflare"]);
  const m = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(out);
  if (!m) throw new Error(`could not read the new database id from:\n${out}`);
  return m[0];
}

/**
 * A key that must survive redeploys (or what it sealed or signed is lost): from the environment,
 * else kept under .kubeflare/ once generated.
 */
function keptKey(envName: string, fileName: string, what: string, generate: () => string): string {
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  const file = join(root, ".kubeflare", fileName);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(dirname(file), { recursive: true });
  const key = generate();
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  console.log(`${what} saved to ${file}: back it up.`);
  return key;
}

async function main() {
  const toml = readFileSync(tomlPath, "utf8");
  if (toml.includes(PLACEHOLDER)) {
    const id = await databaseId();
    writeFileSync(tomlPath, toml.replace(PLACEHOLDER, id));
    console.log(`D1 database kubeflare: ${id} (recorded in wrangler.toml)`);
  }
  await run("node", [join(root, "scripts/gen-openapi.ts"), "--out", join(root, "public/openapi")], {
    cwd: root,
    quiet: true,
  });
  await buildAgent();
  await w(["d1", "migrations", "apply", "DB", "--remote"]);
  const token = process.env.KUBEFLARE_ADMIN_TOKEN ?? randomBytes(24).toString("hex");
  await w(["secret", "put", "ADMIN_TOKEN"], token);
  const sealing = keptKey(
    "KUBEFLARE_SECRETS_KEY",
    "secrets-key",
    "Secrets sealing key",
    newSealingKey,
  );
  await w(["secret", "put", "SECRETS_KEY"], sealing);
  const signing = keptKey(
    "KUBEFLARE_SERVICE_ACCOUNT_KEY",
    "service-account-key",
    "ServiceAccount signing key",
    newServiceAccountKey,
  );
  await w(["secret", "put", "SERVICE_ACCOUNT_KEY"], signing);
  const out = await w(["deploy"]);
  const url = /https:\/\/[^\s]+\.workers\.dev/.exec(out)?.[0];
  console.log(out.trim());
  if (!url) {
    console.log("deployed; write a kubeconfig for your route with the admin token you set.");
    return;
  }
  const dir = join(root, ".kubeflare");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "kubeconfig-cloudflare");
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: kubeflare-cloud
  cluster:
    server: ${url}
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: kubeflare-cloud
  context: {cluster: kubeflare-cloud, user: admin, namespace: default}
current-context: kubeflare-cloud
`,
    { mode: 0o600 },
  );
  console.log(`kubeconfig: ${path}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
