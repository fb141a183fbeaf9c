// Enrollment: trade a join token for a node credential once, and keep it in
// <data-dir>/credential.json (mode 0600) so a restarted agent does not join again.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Api } from "./api.ts";

export interface Credential {
  server: string;
  nodeName: string;
  credential: string;
  podCIDR?: string;
  /** The join token used, so a new one given on the command line re-joins. */
  token?: string;
}

const file = (dataDir: string) => join(dataDir, "credential.json");

export function loadCredential(dataDir: string): Credential | undefined {
  if (!existsSync(file(dataDir))) return undefined;
  return JSON.parse(readFileSync(file(dataDir), "utf8")) as Credential;
}

export function saveCredential(dataDir: string, c: Credential): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${file(dataDir)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file(dataDir));
}

/** POST /kubeflare/v1/join with the token; throws with the server's message on refusal. */
export async function joinCluster(opts: {
  server: string;
  token: string;
  nodeName: string;
  insecure?: boolean;
}): Promise<Credential> {
  const api = new Api({ server: opts.server, insecure: opts.insecure });
  try {
    const r = await api.raw("POST", "/kubeflare/v1/join", {
      token: opts.token,
      nodeName: opts.nodeName,
    });
    if (r.status !== 200) {
      const msg = typeof r.body === "object" ? r.body?.message : String(r.body ?? "");
      throw new Error(`join refused (${r.status}): ${msg}`);
    }
    return {
      server: opts.server,
      nodeName: r.body.nodeName ?? opts.nodeName,
      credential: r.body.credential,
      podCIDR: r.body.podCIDR,
    };
  } finally {
    api.close();
  }
}
