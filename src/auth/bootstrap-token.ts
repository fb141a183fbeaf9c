// Join tokens are Kubernetes bootstrap tokens: `<id>.<secret>`, stored as the Secret
// kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token.
import { ApiError } from "../k8s/errors.ts";
import type { DB } from "../store/db.ts";
import { getObject, type KObject } from "../store/objects.ts";
import { timingSafeEqual } from "./credentials.ts";

export const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const SECRET_TYPE = "bootstrap.kubernetes.io/token";
export const secretName = (id: string) => `bootstrap-token-${id}`;

const unauthorized = (message: string) => new ApiError(401, "Unauthorized", message);

function dataValue(secret: KObject, key: string): string | undefined {
  const v = secret.data?.[key];
  if (typeof v !== "string") return undefined;
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(v), (ch) => ch.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

/**
 * Checks a join token against its Secret as the bootstrap authenticator does; returns the token
 * id, or throws 401. Whether the id exists is not revealed before the secret part matches.
 */
export async function checkJoinToken(db: DB, token: string, now: Date): Promise<string> {
  const m = TOKEN_RE.exec(token);
  if (!m)
    throw unauthorized(
      "malformed join token: expected <id>.<secret>, 6 and 16 characters of [a-z0-9]",
    );
  const [, id, secret] = m;
  const found = await getObject(db, {
    resource: "secrets",
    namespace: "kube-system",
    name: secretName(id),
  });
  const s = found?.object;
  const invalid = unauthorized("invalid join token: no such token, or its secret does not match");
  if (!s || s.type !== SECRET_TYPE || s.metadata?.deletionTimestamp) throw invalid;
  if (dataValue(s, "token-id") !== id) throw invalid;
  if (!timingSafeEqual(dataValue(s, "token-secret") ?? "", secret)) throw invalid;
  if (dataValue(s, "usage-bootstrap-authentication") !== "true")
    throw unauthorized(`join token ${id} is not usable for authentication`);
  if (expired(s, now))
    throw unauthorized(`join token ${id} has expired (expiration ${dataValue(s, "expiration")})`);
  return id;
}

/** Whether a bootstrap-token Secret's expiration has passed (an unreadable one counts as passed). */
export function expired(secret: KObject, now: Date): boolean {
  const expiration = dataValue(secret, "expiration");
  if (!expiration) return false;
  const at = Date.parse(expiration);
  return Number.isNaN(at) || at <= now.getTime();
}
