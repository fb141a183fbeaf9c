// Who is calling. Each authenticator looks at the request and either names a user or passes;
// ServiceAccount tokens join this list later.
import type { Env } from "../env.ts";
import { openDb } from "../store/db.ts";
import { enrolmentByHash } from "../store/nodes.ts";
import { hashCredential, looksLikeCredential, timingSafeEqual } from "./credentials.ts";

export interface UserInfo {
  username: string;
  groups: string[];
  /** Set for a node credential: the node it acts for and the pod CIDR allocated to it. */
  node?: { name: string; podCIDR: string };
}

type Authenticator = (
  token: string,
  env: Env,
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

const authenticators: Authenticator[] = [adminToken, nodeCredential];

export async function authenticate(req: Request, env: Env): Promise<UserInfo | undefined> {
  const header = req.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return undefined;
  for (const a of authenticators) {
    const user = await a(m[1], env);
    if (user) return user;
  }
  return undefined;
}
