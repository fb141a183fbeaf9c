// Namespace deletion (Kubernetes' namespace controller): a Terminating namespace is emptied,
// then its `kubernetes` finalizer is removed and it goes.
import { ApiError } from "../k8s/errors.ts";
import { allStrategies, storeResource, strategyFor } from "../resources/registry.ts";
import { type Ctx, remove, update } from "../resources/rest.ts";
import { listObjects } from "../store/objects.ts";
import { beingDeleted, countInNamespace } from "../store/ownership.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";

const RESYNC_MS = 30_000;

/** Singleton ("namespaces"): finishes every Terminating namespace. */
export class NamespaceLifecycle extends Reconciler {
  protected override resyncMs = RESYNC_MS;

  protected async reconcile(ctx: Ctx): Promise<Next> {
    let busy = false;
    for (const ns of await beingDeleted(ctx.db, "namespaces")) {
      try {
        busy = (await this.finish(ctx, ns.name)) || busy;
      } catch (err) {
        console.error("namespace lifecycle", ns.name, err);
        busy = true;
      }
    }
    return busy ? soon(1000) : "resync";
  }

  /** Delete everything in the namespace; once it is empty, let the namespace go. True if not yet. */
  private async finish(ctx: Ctx, namespace: string): Promise<boolean> {
    for (const s of allStrategies()) {
      if (!s.info.namespaced) continue;
      const { rows } = await listObjects(ctx.db, { resource: storeResource(s.info), namespace });
      for (const row of rows) {
        try {
          await remove(ctx, s, namespace, row.name, {
            propagationPolicy: "Background",
            gracePeriodSeconds: 0,
          });
        } catch (err) {
          if (!(err instanceof ApiError && err.code === 404)) throw err;
        }
      }
    }
    if ((await countInNamespace(ctx.db, namespace)) > 0) return true;
    const ns = strategyFor("", "namespaces");
    if (!ns) return false;
    try {
      await update(ctx, ns, "", namespace, (o) => {
        o.spec = { ...o.spec, finalizers: [] };
        return o;
      });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
    return false;
  }
}
