// `npm start`: a local control plane on workerd (Miniflare) with D1 and Durable Objects
// persisted under .kubeflare/, plus a kubeconfig for kubectl; when this machine can run
// containers (root, containerd, CNI plugins), also a one-node cluster: containerd and the agent.
//   node scripts/start.ts [--port 6443] [--state .kubeflare] [--no-node] [--registries FILE]
//                         [--var NAME=VALUE]…
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildAgent } from "./build-agent.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { newSealingKey, newServiceAccountKey } from "./keys.ts";
import { type LocalNode, missingForNode, startLocalNode } from "./local-node.ts";
import { run } from "./run.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: process.env.KUBEFLARE_PORT ?? "6443" },
    state: { type: "string", default: process.env.KUBEFLARE_STATE ?? join(root, ".kubeflare") },
    /** Serve the D1 floor measurement used by `npm run bench`. */
    bench: { type: "boolean", default: false },
    /** Control plane only: no containerd, no agent. */
    "no-node": { type: "boolean", default: false },
    /** The local node's registry mirrors and plain-HTTP registries (k3s registries.yaml). */
    registries: { type: "string" },
    /** Overrides a wrangler.toml var, e.g. `--var NODE_MONITOR_GRACE_SECONDS=15` (repeatable). */
    var: { type: "string", multiple: true, default: [] },
  },
});
const port = Number(args.port);
for (const v of args.var as string[])
  if (!/^[A-Z_][A-Z0-9_]*=/.test(v)) throw new Error(`--var wants NAME=VALUE, got "${v}"`);
const state = resolve(args.state as string);
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_LOG: process.env.WRANGLER_LOG ?? "warn",
};

/** Local stand-ins for the Worker secrets live in .dev.vars, generated on first use. */
export function devVar(name: string, generate: () => string): string {
  const file = join(root, ".dev.vars");
  const existing = existsSync(file) ? readFileSync(file, "utf8") : "";
  const m = new RegExp(`^${name}=(.+)$`, "m").exec(existing);
  if (m) return m[1].trim();
  const value = generate();
  const sep = existing && !existing.endsWith("\n") ? "\n" : "";
  writeFileSync(file, `${existing}${sep}${name}=${value}\n`, { mode: 0o600 });
  return value;
}

export const adminToken = () => devVar("ADMIN_TOKEN", () => randomBytes(24).toString("hex"));

function kubeconfig(server: string, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: kubeflare
  cluster:
    server: ${server}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: kubeflare
  context:
    cluster: kubeflare
    user: admin
    namespace: default
current-context: kubeflare
`;
}

async function waitHealthy(url: string) {
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`control plane did not answer on ${url}`);
}

async function main() {
  mkdirSync(state, { recursive: true });
  const token = adminToken();
  devVar("SECRETS_KEY", newSealingKey);
  devVar("SERVICE_ACCOUNT_KEY", newServiceAccountKey);
  await run("node", [join(root, "scripts/gen-openapi.ts"), "--out", join(root, "public/openapi")], {
    cwd: root,
    quiet: true,
  });
  const bundle = await buildAgent();
  await run(
    join(root, "node_modules/.bin/wrangler"),
    ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state],
    { cwd: root, env, quiet: true },
  );
  let node: LocalNode | undefined;
  let controlPlane: ControlPlane | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await node?.stop();
    await controlPlane?.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  controlPlane = await startControlPlane({
    root,
    port,
    state,
    vars: {
      ...(args.bench ? { KUBEFLARE_BENCH: "1" } : {}),
      ...Object.fromEntries((args.var as string[]).map((v) => v.split(/=(.*)/s).slice(0, 2))),
    },
  });
  const server = `https://127.0.0.1:${port}`;
  await waitHealthy(server);
  const path = join(state, "kubeconfig");
  writeFileSync(path, kubeconfig(server, token), { mode: 0o600 });
  console.log(`\nkubeflare control plane is up at ${server}`);
  console.log(`kubeconfig: ${path}`);
  console.log(`try: kubectl --kubeconfig ${path} get namespaces\n`);
  if (args["no-node"] || stopping) return;
  const missing = missingForNode();
  if (missing) {
    console.log(`No local node (pods stay Pending until a host joins):\n${missing}\n`);
    return;
  }
  try {
    node = await startLocalNode({
      state,
      server,
      kubeconfig: path,
      bundle,
      registries: args.registries && resolve(args.registries),
    });
    await node.waitReady();
    console.log(`node ${node.nodeName} is Ready: this machine runs the cluster's pods`);
    console.log(`agent log: ${node.agentLog}\ncontainerd log: ${node.containerdLog}\n`);
  } catch (err) {
    // The control plane stays up: a host can still join with install.sh.
    console.error(`the local node did not start: ${(err as Error).message}\n`);
    await node?.stop();
    node = undefined;
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
