// The authorizer chain, as kube-apiserver's --authorization-mode=Node,RBAC: system:masters pass,
// a node's own requests are the node authorizer's, and whatever it does not allow RBAC may.
import { ApiError } from "../k8s/errors.ts";
import type { DB } from "../store/db.ts";
import type { UserInfo } from "./authenticate.ts";
import { authorizeNode, authorizeNodePath } from "./node-authorizer.ts";
import { authorizeRbac, canDo, isMaster, isPath, type RequestAttributes } from "./rbac.ts";

const isForbidden = (err: unknown): err is ApiError => err instanceof ApiError && err.code === 403;

/** Allows the request or throws 403 Forbidden. */
export async function authorize(db: DB, user: UserInfo, a: RequestAttributes): Promise<void> {
  if (isMaster(user)) return;
  if (!user.node) return authorizeRbac(db, user, a);
  try {
    if (isPath(a)) authorizeNodePath(user.node.name, a.verb, a.path);
    else await authorizeNode(db, user.node.name, a);
  } catch (err) {
    // The node authorizer's refusal says more than RBAC's would.
    if (!isForbidden(err) || !(await canDo(db, user, a))) throw err;
  }
}

/** Whether the chain allows the request, and if not, the refusal (SelfSubjectAccessReview). */
export async function decide(
  db: DB,
  user: UserInfo,
  a: RequestAttributes,
): Promise<{ allowed: boolean; reason?: string }> {
  try {
    await authorize(db, user, a);
    return { allowed: true };
  } catch (err) {
    if (isForbidden(err)) return { allowed: false, reason: err.message };
    throw err;
  }
}
