// Impersonation (staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go): with the
// `impersonate` verb on users, groups, serviceaccounts, uids and userextras, a caller acts as
// someone else through the Impersonate-* headers (`kubectl --as`, `--as-group`, `--as-uid`).
import { badRequest } from "../k8s/errors.ts";
import type { DB } from "../store/db.ts";
import type { UserInfo } from "./authenticate.ts";
import { type Attributes, forbiddenFor } from "./node-authorizer.ts";
import { canDo, isMaster } from "./rbac.ts";

const EXTRA = "impersonate-extra-";
const SA_PREFIX = "system:serviceaccount:";
const AUTHN = "authentication.k8s.io";

/** The user the request acts as: the caller, or whom its Impersonate-* headers name. */
export async function impersonated(db: DB, caller: UserInfo, headers: Headers): Promise<UserInfo> {
  const username = headers.get("impersonate-user");
  const groups = headerValues(headers, "impersonate-group");
  const uid = headers.get("impersonate-uid");
  const extra: Record<string, string[]> = {};
  for (const [name, value] of headers)
    if (name.startsWith(EXTRA)) {
      let key: string;
      try {
        key = decodeURIComponent(name.slice(EXTRA.length));
      } catch {
        throw badRequest(`malformed impersonation header ${name}: not percent-encoded`);
      }
      extra[key] = [...(extra[key] ?? []), ...value.split(",").map((v) => v.trim())];
    }
  if (username === null) {
    if (groups.length || uid !== null || Object.keys(extra).length)
      throw badRequest("requested impersonation without impersonating a user");
    return caller;
  }
  if (!username) throw badRequest("impersonated user may not be empty");

  const check = async (a: Omit<Attributes, "verb">) => {
    const attrs = { verb: "impersonate", ...a };
    if (!isMaster(caller) && !(await canDo(db, caller, attrs)))
      throw forbiddenFor(caller.username, attrs);
  };
  const account = username.startsWith(SA_PREFIX) ? username.slice(SA_PREFIX.length).split(":") : [];
  const user: UserInfo = { username, groups: [...groups] };
  if (account.length === 2) {
    await check({
      group: "",
      resource: "serviceaccounts",
      namespace: account[0],
      name: account[1],
    });
    if (!groups.length)
      user.groups.push("system:serviceaccounts", `system:serviceaccounts:${account[0]}`);
  } else await check({ group: "", resource: "users", name: username });
  for (const g of groups) await check({ group: "", resource: "groups", name: g });
  if (uid !== null) {
    await check({ group: AUTHN, resource: "uids", name: uid });
    user.uid = uid;
  }
  for (const [key, values] of Object.entries(extra))
    for (const v of values)
      await check({ group: AUTHN, resource: "userextras", subresource: key, name: v });
  if (Object.keys(extra).length) user.extra = extra;
  // Everyone but the anonymous user is authenticated.
  if (username !== "system:anonymous" && !user.groups.includes("system:authenticated"))
    user.groups.push("system:authenticated");
  return user;
}

const headerValues = (headers: Headers, name: string): string[] => {
  const v = headers.get(name);
  return v === null ? [] : v.split(",").map((s) => s.trim());
};
