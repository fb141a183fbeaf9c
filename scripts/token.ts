// `npm run token -- create|list|delete`: join tokens for hosts, as Secrets in kube-system, made
// through the public API with the kubeconfig's credentials.
//   node scripts/token.ts create [--ttl 24h] [--description text] [--kubeconfig path]
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type Command,
  formatTable,
  NAMESPACE,
  newToken,
  parseCommand,
  SECRET_TYPE,
  secretName,
  tokenRows,
  tokenSecret,
  USAGE,
} from "./join-token.ts";
import { failure, readKubeconfig, requestJson, type Target } from "./kubeconfig.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const secrets = `/api/v1/namespaces/${NAMESPACE}/secrets`;

async function create(t: Target, c: Extract<Command, { command: "create" }>) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const token = newToken();
    const res = await requestJson(t, "POST", secrets, tokenSecret(token, c));
    // A random id that is taken already: draw another.
    if (res.status === 409 && res.body?.reason === "AlreadyExists") continue;
    if (res.status !== 201) throw new Error(`creating the token: ${failure(res)}`);
    console.log(`${token.id}.${token.secret}`);
    return;
  }
  throw new Error("creating the token: five random token ids were all taken");
}

async function list(t: Target) {
  const selector = encodeURIComponent(`type=${SECRET_TYPE}`);
  const res = await requestJson(t, "GET", `${secrets}?fieldSelector=${selector}`);
  if (res.status !== 200) throw new Error(`listing tokens: ${failure(res)}`);
  const rows = tokenRows(res.body.items ?? []);
  if (!rows.length) {
    console.error("No join tokens found.");
    return;
  }
  console.log(
    formatTable(
      ["ID", "EXPIRES", "DESCRIPTION"],
      rows.map((r) => [r.id, r.expires, r.description.replace(/\s+/g, " ")]),
    ),
  );
}

async function remove(t: Target, id: string) {
  const res = await requestJson(t, "DELETE", `${secrets}/${secretName(id)}`);
  if (res.status === 404) throw new Error(`no join token with id ${id}`);
  if (res.status !== 200) throw new Error(`deleting the token: ${failure(res)}`);
  console.error(`join token ${id} deleted`);
}

async function main() {
  let c: Command;
  try {
    c = parseCommand(process.argv.slice(2));
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (c.command === "help") {
    console.log(USAGE);
    return;
  }
  const t = readKubeconfig(c.kubeconfig ?? join(root, ".kubeflare/kubeconfig"));
  if (c.command === "create") await create(t, c);
  else if (c.command === "list") await list(t);
  else await remove(t, c.id);
}

main().catch((err) => {
  console.error(`error: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
