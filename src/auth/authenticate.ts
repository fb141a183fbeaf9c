// Who is calling. Each authenticator looks at the bearer token and either names a user or passes.
import type { Env } from "../env.ts";
import { openDb } from "../store/db.ts";
import { enrolmentByHash } from "../store/nodes.ts";
import { getObject, uidOf } from "../store/objects.ts";
import { configureSealing } from "../store/sealing.ts";
import { hashCredential, looksLikeCredential, timingSafeEqual } from "./credentials.ts";
import {
  API_AUDIENCES,
  looksLikeServiceAccountToken,
  signingKey,
  verify,
} from "./service-account-token.ts";

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
  /** Set for a node credential: the node it acts for and the pod CIDR allocated to it. */
  node?: { name: string; podCIDR: string };
}

/** `audiences`: what the token must be for (TokenReview's); the API's own when absent. */
type Authenticator = (
  token: string,
  env: Env,
  audiences?: string[],
) => Promise<UserInfo | undefined> | UserInfo | undefined;

const adminToken: Authenticator = (token, env) =>
  env.ADMIN_TOKEN && timingSafeEqual(token, env.ADMIN_TOKEN)
    ? { username: "admin", groups: ["system:masters", "system:authenticated"] }
    : undefined;

/**
 * Node credentials, by the hash of the token. Hits are cached in the isolate for a few seconds (an
 * agent calls often); a re-join in this isolate drops its node's entries at once, one handled by
 * another isolate is seen here when the entry expires.
 */
const NODE_CACHE_MS = 5_000;
const NODE_CACHE_MAX = 1_000;
const nodeCache = new Map<string, { user: UserInfo; until: number }>();

export function forgetNode(name: string): void {
  for (const [hash, e] of nodeCache) if (e.user.node?.name === name) nodeCache.delete(hash);
}

const nodeCredential: Authenticator = async (token, env) => {
  if (!looksLikeCredential(token)) return undefined;
  const hash = await hashCredential(token);
  const now = Date.now();
  const hit = nodeCache.get(hash);
  if (hit && hit.until > now) return hit.user;
  nodeCache.delete(hash);
  const found = await enrolmentByHash(openDb(env.DB), hash);
  if (!found) return undefined;
  const user: UserInfo = {
    username: `system:node:${found.nodeName}`,
    groups: ["system:nodes", "system:authenticated"],
    node: { name: found.nodeName, podCIDR: found.podCidr },
  };
  if (nodeCache.size >= NODE_CACHE_MAX) nodeCache.clear();
  nodeCache.set(hash, { user, until: now + NODE_CACHE_MS });
  return user;
};

/**
 * ServiceAccount tokens. As Kubernetes' validator: a signed, unexpired token for the API's
 * audience, whose account still exists with the same uid, as does the object it is bound to.
 */
const serviceAccountToken: Authenticator = async (token, env, audiences) => {
  const keyPromise = signingKey(env.SERVICE_ACCOUNT_KEY);
  if (!keyPromise) return undefined;
  const key = await keyPromise;
  if (!looksLikeServiceAccountToken(token, key)) return undefined;
  const claims = await verify(key, token, undefined, audiences);
  if (!claims) return undefined;
  const db = openDb(env.DB);
  const { namespace, serviceAccount: sa, pod, secret, node } = claims;
  const live = async (resource: string, ns: string, ref?: { name: string; uid: string }) =>
    !ref || (await uidOf(db, { resource, namespace: ns, name: ref.name })) === ref.uid;
  const valid =
    (await live("serviceaccounts", namespace, sa)) &&
    (await live("pods", namespace, pod)) &&
    (claims.legacy
      ? await holdsToken(env, namespace, secret?.name ?? "", token)
      : await live("secrets", namespace, secret)) &&
    (await live("nodes", "", node));
  if (!valid) return undefined;
  const extra: Record<string, string[]> = claims.legacy
    ? {}
    : { "authentication.kubernetes.io/credential-id": [`JTI=${claims.id}`] };
  if (pod) {
    extra["authentication.kubernetes.io/pod-name"] = [pod.name];
    extra["authentication.kubernetes.io/pod-uid"] = [pod.uid];
  }
  if (node) {
    extra["authentication.kubernetes.io/node-name"] = [node.name];
    extra["authentication.kubernetes.io/node-uid"] = [node.uid];
  }
  return {
    username: `system:serviceaccount:${namespace}:${sa.name}`,
    uid: sa.uid,
    groups: [
      "system:serviceaccounts",
      `system:serviceaccounts:${namespace}`,
      "system:authenticated",
    ],
    ...(Object.keys(extra).length ? { extra } : {}),
  };
};

/** A legacy token is good while its Secret still holds it (deleting the Secret revokes it). */
async function holdsToken(env: Env, namespace: string, name: string, token: string) {
  configureSealing(env.SECRETS_KEY);
  const found = await getObject(openDb(env.DB), { resource: "secrets", namespace, name });
  const held = found?.object.data?.token;
  return typeof held === "string" && timingSafeEqual(atob(held), token);
}

const authenticators: Authenticator[] = [adminToken, nodeCredential, serviceAccountToken];

export async function authenticate(req: Request, env: Env): Promise<UserInfo | undefined> {
  const header = req.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? authenticateToken(m[1], env) : undefined;
}

/** Who a bearer token names, if anyone (the request path, and TokenReview). */
export async function authenticateToken(
  token: string,
  env: Env,
  audiences?: string[],
): Promise<UserInfo | undefined> {
  // Admin and node credentials are for this API alone.
  const forApi = !audiences || audiences.some((a) => API_AUDIENCES.includes(a));
  for (const a of authenticators) {
    if (a !== serviceAccountToken && !forApi) continue;
    const user = await a(token, env, audiences);
    if (user) return user;
  }
  return undefined;
}
