// Enrolment helpers for Worker tests: join tokens as the CLI writes them, joins as the agent
// makes them, and requests under a node credential.
import { exports } from "cloudflare:workers";
import { call } from "./helpers.ts";

const worker = (exports as unknown as { default: Fetcher }).default;

const chars = "abcdefghijklmnopqrstuvwxyz0123456789";
const random = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => chars[b % chars.length]).join("");

export interface TokenOptions {
  /** RFC 3339; absent: never expires. */
  expiration?: string;
  usage?: string;
}

/** A join token stored as kube-system/bootstrap-token-<id>, as `npm run token -- create` does. */
export async function createJoinToken(o: TokenOptions = {}): Promise<string> {
  const id = random(6);
  const secret = random(16);
  const stringData: Record<string, string> = {
    "token-id": id,
    "token-secret": secret,
    "usage-bootstrap-authentication": o.usage ?? "true",
    description: "worker test",
  };
  if (o.expiration) stringData.expiration = o.expiration;
  const res = await call("POST", "/api/v1/namespaces/kube-system/secrets", {
    metadata: { name: `bootstrap-token-${id}` },
    type: "bootstrap.kubernetes.io/token",
    stringData,
  });
  if (res.status !== 201) throw new Error(`token secret: ${JSON.stringify(res.body)}`);
  return `${id}.${secret}`;
}

/** POST /kubeflare/v1/join without any Authorization header. */
export async function join(
  body: unknown,
  contentType = "application/json",
): Promise<{ status: number; body: any }> {
  const res = await worker.fetch(
    new Request("https://kubeflare.test/kubeflare/v1/join", {
      method: "POST",
      headers: { "content-type": contentType },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
  return { status: res.status, body: await res.json() };
}

export interface Joined {
  nodeName: string;
  credential: string;
  podCIDR: string;
}

export async function joinNode(nodeName: string, token?: string): Promise<Joined> {
  const res = await join({ token: token ?? (await createJoinToken()), nodeName });
  if (res.status !== 200) throw new Error(`join ${nodeName}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** `call`, authenticated with another bearer token: a node credential, a ServiceAccount token. */
export const asBearer =
  (credential: string) =>
  (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    call(method, path, body, { authorization: `Bearer ${credential}`, ...headers });
