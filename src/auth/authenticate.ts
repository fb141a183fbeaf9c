// Who is calling. Each authenticator looks at the request and either names a user or passes;
// node credentials and ServiceAccount tokens join this list later.
import type { Env } from "../env.ts";

export interface UserInfo {
  username: string;
  groups: string[];
}

type Authenticator = (
  token: string,
  env: Env,
) => Promise<UserInfo | undefined> | UserInfo | undefined;

const adminToken: Authenticator = (token, env) =>
  env.ADMIN_TOKEN && timingSafeEqual(token, env.ADMIN_TOKEN)
    ? { username: "admin", groups: ["system:masters", "system:authenticated"] }
    : undefined;

const authenticators: Authenticator[] = [adminToken];

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

function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
