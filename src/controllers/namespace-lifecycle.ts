// Namespaces' lifecycle: every active namespace holds a `default` ServiceAccount (Kubernetes'
// serviceaccounts controller, which also puts it back when deleted); a Terminating namespace is
// emptied, then its `kubernetes` finalizer is removed and it goes (the namespace controller).
import { ApiError } from "../k8s/errors.ts";
import { allStrategies, storeResource, strategyFor } from "../resources/registry.ts";
import { type Ctx, create, remove, update } from "../resources/rest.ts";
import { listObjects } from "../store/objects.ts";
import { activeNamespacesWithout, beingDeleted, countInNamespace } from "../store/ownership.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";

const RESYNC_MS = 30_000;

/** Singleton ("namespaces"): default accounts, and finishes every Terminating namespace. */
export class NamespaceLifecycle extends Reconciler {
  protected override resyncMs = RESYNC_MS;

  protected async reconcile(ctx: Ctx): Promise<Next> {
    let busy = false;
    const accounts = strategyFor("", "serviceaccounts");
    for (const namespace of await activeNamespacesWithout(ctx.db, "serviceaccounts", "default")) {
      try {
        if (accounts) await create(ctx, accounts, namespace, { metadata: { name: "default" } });
      } catch (err) {
        // Made meanwhile, or the namespace began terminating: nothing to do.
        if (!(err instanceof ApiError && (err.code === 409 || err.code === 403))) throw err;
      }
    }
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
