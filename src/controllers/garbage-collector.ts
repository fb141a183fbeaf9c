// Garbage collection by ownerReferences (Kubernetes' garbagecollector): dependents of a deleted
// owner go (Background), an owner deleted in Foreground waits for its blocking dependents, an
// Orphan delete strips the references and lets the dependents live.
import { ApiError } from "../k8s/errors.ts";
import { allStrategies, storeResource } from "../resources/registry.ts";
import { type Ctx, remove, update } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import { dependentsOf, getObject, type Key, type KObject } from "../store/objects.ts";
import { beingDeleted, missingOwners, uidExists } from "../store/ownership.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";

const RESYNC_MS = 30_000;
const BATCH = 50;

interface OwnerRef {
  uid: string;
  blockOwnerDeletion?: boolean;
}

const strategyByResource = (resource: string): Strategy | undefined =>
  allStrategies().find((s) => storeResource(s.info) === resource);

/** 404 means someone else finished the job: fine for an idempotent reconcile. */
async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return undefined;
    throw err;
  }
}

/** Singleton ("gc"): each pass handles owners being deleted and dependents of vanished owners. */
export class GarbageCollector extends Reconciler {
  protected override resyncMs = RESYNC_MS;

  protected async reconcile(ctx: Ctx): Promise<Next> {
    return (await this.collect(ctx)) ? soon(1000) : "resync";
  }

  /** One bounded pass; true when more work is likely left. */
  async collect(ctx: Ctx): Promise<boolean> {
    let busy = false;
    for (const owner of await beingDeleted(ctx.db)) {
      const finalizers: string[] = owner.object.metadata.finalizers ?? [];
      try {
        if (finalizers.includes("orphan")) busy = (await this.orphan(ctx, owner)) || busy;
        else if (finalizers.includes("foregroundDeletion"))
          busy = (await this.foreground(ctx, owner)) || busy;
      } catch (err) {
        console.error("gc: owner", owner.name, err);
        busy = true;
      }
    }
    const missing = await missingOwners(ctx.db, BATCH);
    for (const uid of missing) {
      try {
        await this.dangling(ctx, uid);
      } catch (err) {
        console.error("gc: dangling owner", uid, err);
      }
    }
    return busy || missing.length === BATCH;
  }

  /** Dependents of a vanished owner: drop the reference if other owners live, else delete. */
  private async dangling(ctx: Ctx, ownerUid: string) {
    for (const key of await dependentsOf(ctx.db, ownerUid)) {
      const s = strategyByResource(key.resource);
      const dep = await getObject(ctx.db, key);
      if (!s || !dep) continue;
      const refs: OwnerRef[] = dep.object.metadata.ownerReferences ?? [];
      const others = refs.filter((r) => r.uid !== ownerUid);
      let solid = false;
      for (const r of others) if (await uidExists(ctx.db, r.uid)) solid = true;
      if (solid) await this.dropRef(ctx, s, key, ownerUid);
      else if (!dep.object.metadata.deletionTimestamp)
        await ignoreNotFound(
          remove(ctx, s, key.namespace, key.name, { propagationPolicy: "Background" }),
        );
    }
  }

  private async foreground(ctx: Ctx, owner: Key & { object: KObject }): Promise<boolean> {
    let blocking = 0;
    for (const key of await dependentsOf(ctx.db, owner.object.metadata.uid)) {
      const s = strategyByResource(key.resource);
      const dep = await getObject(ctx.db, key);
      if (!s || !dep) continue;
      const ref = (dep.object.metadata.ownerReferences ?? []).find(
        (r: OwnerRef) => r.uid === owner.object.metadata.uid,
      );
      if (ref?.blockOwnerDeletion) blocking++;
      if (!dep.object.metadata.deletionTimestamp)
        await ignoreNotFound(
          remove(ctx, s, key.namespace, key.name, { propagationPolicy: "Foreground" }),
        );
    }
    if (blocking > 0) return true;
    await this.dropFinalizer(ctx, owner, "foregroundDeletion");
    return false;
  }

  private async orphan(ctx: Ctx, owner: Key & { object: KObject }): Promise<boolean> {
    const uid = owner.object.metadata.uid;
    for (const key of await dependentsOf(ctx.db, uid)) {
      const s = strategyByResource(key.resource);
      if (s) await this.dropRef(ctx, s, key, uid);
    }
    await this.dropFinalizer(ctx, owner, "orphan");
    return false;
  }

  private async dropRef(ctx: Ctx, s: Strategy, key: Key, uid: string) {
    await ignoreNotFound(
      update(ctx, s, key.namespace, key.name, (o) => {
        const refs = (o.metadata.ownerReferences ?? []).filter((r: OwnerRef) => r.uid !== uid);
        if (refs.length) o.metadata.ownerReferences = refs;
        else delete o.metadata.ownerReferences;
        return o;
      }),
    );
  }

  private async dropFinalizer(ctx: Ctx, owner: Key, finalizer: string) {
    const s = strategyByResource(owner.resource);
    if (!s) return;
    await ignoreNotFound(
      update(ctx, s, owner.namespace, owner.name, (o) => {
        const f = (o.metadata.finalizers ?? []).filter((x: string) => x !== finalizer);
        if (f.length) o.metadata.finalizers = f;
        else delete o.metadata.finalizers;
        return o;
      }),
    );
  }
}
