// ControllerRefManager (Kubernetes' pkg/controller/controller_ref_manager.go): a controller claims
// what its selector matches — adopting orphans, releasing what it owns but no longer selects —
// and never touches what another controller owns.
import { ApiError } from "../k8s/errors.ts";
import type { Selector } from "../k8s/labels.ts";
import { controllerRef, newControllerRef, type OwnerReference } from "../k8s/owner-refs.ts";
import { type Ctx, update } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import type { KObject } from "../store/objects.ts";

const isNotFound = (err: unknown) => err instanceof ApiError && err.code === 404;

/** The owner as newControllerRef needs it. */
const ownerOf = (o: KObject) => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  metadata: { name: o.metadata.name, uid: o.metadata.uid },
});

/**
 * The candidates `owner` controls after adopting and releasing. `canAdopt` re-reads the owner
 * once before the first adoption (RecheckDeletionTimestamp): an owner deleted meanwhile adopts
 * nothing.
 */
export async function claim(
  ctx: Ctx,
  s: Strategy,
  owner: KObject,
  selector: Selector,
  candidates: KObject[],
  canAdopt: () => Promise<boolean>,
): Promise<KObject[]> {
  const uid: string = owner.metadata.uid;
  const deleting = !!owner.metadata.deletionTimestamp;
  const claimed: KObject[] = [];
  let adoptable: boolean | undefined;
  for (const c of candidates) {
    const labels = c.metadata?.labels ?? {};
    const ref = controllerRef(c);
    if (ref) {
      if (ref.uid !== uid) continue;
      if (selector.matches(labels)) claimed.push(c);
      else if (!deleting) await release(ctx, s, c, uid);
      continue;
    }
    if (deleting || c.metadata?.deletionTimestamp || !selector.matches(labels)) continue;
    adoptable ??= await canAdopt();
    if (!adoptable) continue;
    const adopted = await adopt(ctx, s, owner, c);
    if (adopted) claimed.push(adopted);
  }
  return claimed;
}

async function adopt(ctx: Ctx, s: Strategy, owner: KObject, c: KObject) {
  try {
    const { object } = await update(ctx, s, c.metadata.namespace ?? "", c.metadata.name, (o) => {
      // Someone else adopted it first, or it is another object of the same name now.
      if (controllerRef(o) || o.metadata.uid !== c.metadata.uid) return o;
      const refs = (o.metadata.ownerReferences ?? []).filter(
        (r: OwnerReference) => r.uid !== owner.metadata.uid,
      );
      o.metadata.ownerReferences = [...refs, newControllerRef(ownerOf(owner))];
      return o;
    });
    return controllerRef(object)?.uid === owner.metadata.uid ? object : undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function release(ctx: Ctx, s: Strategy, c: KObject, uid: string) {
  try {
    await update(ctx, s, c.metadata.namespace ?? "", c.metadata.name, (o) => {
      if (o.metadata.uid !== c.metadata.uid) return o;
      const refs = (o.metadata.ownerReferences ?? []).filter((r: OwnerReference) => r.uid !== uid);
      if (refs.length) o.metadata.ownerReferences = refs;
      else delete o.metadata.ownerReferences;
      return o;
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
