// Join tokens as Kubernetes bootstrap tokens (`<id>.<secret>`, the Secret
// kube-system/bootstrap-token-<id>): generation, TTLs, the Secret, the command line and the table.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

export const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const SECRET_TYPE = "bootstrap.kubernetes.io/token";
export const NAMESPACE = "kube-system";
export const secretName = (id: string) => `bootstrap-token-${id}`;

const CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";

/** n characters of [a-z0-9], uniformly (bytes ≥ 252 are dropped: 252 = 7 × 36). */
function randomChars(n: number): string {
  let out = "";
  while (out.length < n)
    for (const b of randomBytes(n * 2)) if (b < 252 && out.length < n) out += CHARS[b % 36];
  return out;
}

export const newToken = (): { id: string; secret: string } => ({
  id: randomChars(6),
  secret: randomChars(16),
});

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1e3,
  m: 60e3,
  h: 3600e3,
};

/**
 * A TTL as Go's time.ParseDuration reads it ("24h", "1h30m", "90s", "1.5h"), in milliseconds;
 * "0" means the token never expires (undefined), as with kubeadm.
 */
export function parseTtl(text: string): number | undefined {
  const t = text.trim();
  if (t === "0") return undefined;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    ms += Number(m[1]) * UNITS[m[2]];
    end = re.lastIndex;
  }
  if (!t || end !== t.length)
    throw new Error(
      `invalid --ttl "${text}": use a duration such as 24h, 30m or 1h30m (0: never expires)`,
    );
  if (ms < 1000) throw new Error(`invalid --ttl "${text}": a token must live at least one second`);
  return Math.round(ms);
}

/** RFC 3339 without fractions, as kubeadm writes `expiration`. */
export const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export function tokenSecret(
  token: { id: string; secret: string },
  o: { ttlMs?: number; description?: string; now?: number },
) {
  const stringData: Record<string, string> = {
    "token-id": token.id,
    "token-secret": token.secret,
    "usage-bootstrap-authentication": "true",
    description: o.description ?? "",
  };
  if (o.ttlMs !== undefined) stringData.expiration = rfc3339((o.now ?? Date.now()) + o.ttlMs);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secretName(token.id), namespace: NAMESPACE },
    type: SECRET_TYPE,
    stringData,
  };
}

export const USAGE = `usage: npm run token -- <command> [options]

commands:
  create [--ttl 24h] [--description text]   create a join token; prints it on stdout
  list                                      list join tokens (ID, EXPIRES, DESCRIPTION)
  delete <id>                               delete a join token

options:
  --kubeconfig path   the cluster to talk to (default: .kubeflare/kubeconfig)
  --ttl duration      how long the token is valid: 24h, 30m, 1h30m; 0 never expires (default 24h)
  --description text  what the token is for, shown by list`;

export type Command =
  | { command: "create"; kubeconfig?: string; ttlMs?: number; description: string }
  | { command: "list"; kubeconfig?: string }
  | { command: "delete"; kubeconfig?: string; id: string }
  | { command: "help" };

export function parseCommand(argv: string[]): Command {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ttl: { type: "string" },
      description: { type: "string" },
      kubeconfig: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === "help") return { command: "help" };
  const { kubeconfig } = values;
  const only = (allowed: string[]) => {
    for (const flag of ["ttl", "description"] as const)
      if (values[flag] !== undefined && !allowed.includes(flag))
        throw new Error(`--${flag} is only for create`);
  };
  switch (command) {
    case "create":
      if (rest.length) throw new Error(`create takes no arguments, got: ${rest.join(" ")}`);
      return {
        command,
        kubeconfig,
        ttlMs: parseTtl(values.ttl ?? "24h"),
        description: values.description ?? "",
      };
    case "list":
      only([]);
      if (rest.length) throw new Error(`list takes no arguments, got: ${rest.join(" ")}`);
      return { command, kubeconfig };
    case "delete": {
      only([]);
      const [idOrToken] = rest;
      if (rest.length !== 1) throw new Error("delete takes one token id");
      const id = idOrToken.split(".")[0];
      if (!/^[a-z0-9]{6}$/.test(id)) throw new Error(`invalid token id "${idOrToken}"`);
      return { command, kubeconfig, id };
    }
    case undefined:
      throw new Error("missing command: create, list or delete");
    default:
      throw new Error(`unknown command "${command}": create, list or delete`);
  }
}

const decode = (v: unknown) => (typeof v === "string" ? Buffer.from(v, "base64").toString() : "");

/** The rows of `list`, from bootstrap-token Secrets. */
export function tokenRows(secrets: { data?: Record<string, string> }[], now = Date.now()) {
  return secrets
    .map((s) => {
      const d = s.data ?? {};
      const expiration = decode(d.expiration);
      const expired = expiration && Date.parse(expiration) <= now;
      return {
        id: decode(d["token-id"]),
        expires: expiration ? `${expiration}${expired ? " (expired)" : ""}` : "<never>",
        description: decode(d.description),
      };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Columns padded as kubectl prints them: three spaces apart. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] + 3)))
        .join("")
        .trimEnd(),
    )
    .join("\n");
}
