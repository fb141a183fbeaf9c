// Template history in ControllerRevisions (Kubernetes' pkg/controller/history), shared by the
// DaemonSet and StatefulSet controllers. A revision's data is the patch that restores its
// template (`{"spec":{"template":{…,"$patch":"replace"}}}`), which is exactly what
// `kubectl rollout undo` sends back as a strategic merge patch; `kubectl rollout history` lists
// the revisions by the owner's selector and reads their numbers and change-cause annotations.
import { ApiError } from "../k8s/errors.ts";
import { jsonEqual } from "../resources/diff.ts";
import { type Ctx, create, get, remove, update } from "../resources/rest.ts";
import type { KObject } from "../store/objects.ts";
import { controllerRefTo, ignoreGone, ownedBy, strategy } from "./job.ts";
import { computeHash } from "./template-hash.ts";

export const REVISIONS = "apps/controllerrevisions";
/** Label of revisions (and DaemonSet pods) with the template's hash. */
export const REVISION_HASH = "controller-revision-hash";
/** How many hash collisions to step over before giving up (a collision is astronomically rare). */
const MAX_COLLISIONS = 16;

const revisions = () => strategy("apps", "controllerrevisions");

/** getPatch: the template, replaced whole. */
export const revisionData = (template: KObject): KObject => ({
  spec: { template: { ...structuredClone(template), $patch: "replace" } },
});

/** ApplyRevision, for the one field a revision restores. */
export function templateOf(revision: KObject): KObject {
  const t = structuredClone(revision.data?.spec?.template ?? {});
  delete t.$patch;
  return t;
}

const number = (r: KObject): number => r.revision ?? 0;

/** The owner's revisions, oldest first (history.SortControllerRevisions). */
export async function listRevisions(ctx: Ctx, owner: KObject): Promise<KObject[]> {
  const list = await ownedBy(ctx, REVISIONS, owner.metadata.namespace, owner.metadata.uid);
  return list.sort(
    (a, b) =>
      number(a) - number(b) ||
      (Date.parse(a.metadata.creationTimestamp) || 0) -
        (Date.parse(b.metadata.creationTimestamp) || 0) ||
      (a.metadata.name < b.metadata.name ? -1 : 1),
  );
}

export interface Current {
  revision: KObject;
  /** The collision count the revision's name was found with (status.collisionCount). */
  collisionCount: number;
}

/**
 * The revision holding `template`, made the newest: an equal older one gets the next number
 * (a rollback), else a new one is created as `<owner>-<hash>`; a name taken by other data is a
 * hash collision, stepped over by counting collisions as Kubernetes does.
 */
export async function currentRevision(
  ctx: Ctx,
  owner: KObject,
  history: KObject[],
  template: KObject,
  collisionCount = 0,
): Promise<Current> {
  const data = revisionData(template);
  const max = history.reduce((m, r) => Math.max(m, number(r)), 0);
  const equal = history.filter((r) => jsonEqual(r.data, data));
  const newest = equal[equal.length - 1];
  if (newest) return { revision: await renumber(ctx, newest, max), collisionCount };
  for (let c = collisionCount; c < collisionCount + MAX_COLLISIONS; c++) {
    const hash = computeHash(template, c || undefined);
    const name = `${owner.metadata.name}-${hash}`;
    try {
      const { object } = await create(ctx, revisions(), owner.metadata.namespace, {
        metadata: {
          name,
          labels: { ...template.metadata?.labels, [REVISION_HASH]: hash },
          ...(owner.metadata.annotations && { annotations: owner.metadata.annotations }),
          ownerReferences: [controllerRefTo(owner)],
        },
        data,
        revision: max + 1,
      });
      return { revision: object, collisionCount: c };
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 409)) throw err;
      const { object } = await get(ctx, revisions(), owner.metadata.namespace, name);
      // Made by an earlier pass this one did not list: the same revision.
      if (jsonEqual(object.data, data)) return { revision: object, collisionCount: c };
    }
  }
  throw new Error(`${owner.metadata.name}: too many ControllerRevision hash collisions`);
}

/** Give an older revision the next number, so it is the newest again. */
async function renumber(ctx: Ctx, r: KObject, max: number): Promise<KObject> {
  if (number(r) === max) return r;
  const { object } = await update(
    ctx,
    revisions(),
    r.metadata.namespace,
    r.metadata.name,
    (cur) => {
      cur.metadata.resourceVersion = r.metadata.resourceVersion;
      cur.revision = max + 1;
      return cur;
    },
  );
  return object;
}

/** Delete revisions, each only if it is still the one read. */
export async function deleteRevisions(ctx: Ctx, doomed: KObject[]): Promise<void> {
  for (const r of doomed)
    await ignoreGone(
      remove(ctx, revisions(), r.metadata.namespace, r.metadata.name, {
        preconditions: { uid: r.metadata.uid },
      }),
    );
}
