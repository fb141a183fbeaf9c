// Kubernetes' tokencleaner: expired join tokens (bootstrap-token Secrets) are deleted, so `npm run
// token -- list` and the Secrets in kube-system show only tokens that still work.
import { expired, SECRET_TYPE } from "../auth/bootstrap-token.ts";
import { ApiError } from "../k8s/errors.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Ctx, remove } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import { listObjects, withRv } from "../store/objects.ts";

const NAMESPACE = "kube-system";

export async function cleanExpiredTokens(ctx: Ctx): Promise<void> {
  const { rows } = await listObjects(ctx.db, { resource: "secrets", namespace: NAMESPACE });
  const secrets = strategyFor("", "secrets") as Strategy;
  for (const row of rows) {
    if (!row.name.startsWith("bootstrap-token-")) continue;
    const o = withRv(row.body, row.rv);
    if (o.type !== SECRET_TYPE || !expired(o, ctx.now())) continue;
    try {
      await remove(ctx, secrets, NAMESPACE, row.name, {
        preconditions: { uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion },
      });
    } catch (err) {
      // Deleted or changed meanwhile: the next sweep looks again.
      if (!(err instanceof ApiError && (err.code === 404 || err.code === 409))) throw err;
    }
  }
}
