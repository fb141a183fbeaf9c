// Queries the garbage collector and namespace lifecycle need: dangling owner references, objects
// waiting on deletion finalizers, namespaces lacking what each must hold.
import { and, eq, isNotNull, notInArray, sql } from "drizzle-orm";
import type { DB } from "./db.ts";
import { type Key, type Stored, withRv } from "./objects.ts";
import { objects, ownerRefs } from "./schema.ts";

/** Owner uids that dependents still point at but that no longer exist. */
export async function missingOwners(db: DB, limit: number): Promise<string[]> {
  const rows = await db
    .selectDistinct({ uid: ownerRefs.ownerUid })
    .from(ownerRefs)
    .where(notInArray(ownerRefs.ownerUid, db.select({ uid: objects.uid }).from(objects)))
    .limit(limit);
  return rows.map((r) => r.uid);
}

/** Objects with a deletionTimestamp (waiting on finalizers), optionally of one resource. */
export async function beingDeleted(db: DB, resource?: string): Promise<(Stored & Key)[]> {
  const deleting = isNotNull(sql`json_extract(${objects.body}, '$.metadata.deletionTimestamp')`);
  const rows = await db
    .select()
    .from(objects)
    .where(resource ? and(eq(objects.resource, resource), deleting) : deleting);
  return rows.map((r) => ({
    resource: r.resource,
    namespace: r.namespace,
    name: r.name,
    rv: r.rv,
    object: withRv(r.body, r.rv),
  }));
}

/** Does an object with this uid exist? */
export async function uidExists(db: DB, uid: string): Promise<boolean> {
  const row = await db.select({ uid: objects.uid }).from(objects).where(eq(objects.uid, uid)).get();
  return !!row;
}

/** How many objects live in a namespace (of namespaced kinds). */
export async function countInNamespace(db: DB, namespace: string): Promise<number> {
  const row = await db
    .select({ n: sql<number>`count(*)` })
    .from(objects)
    .where(eq(objects.namespace, namespace))
    .get();
  return row?.n ?? 0;
}

/** Namespaces, not being deleted, that have no object of this resource and name. */
export async function activeNamespacesWithout(
  db: DB,
  resource: string,
  name: string,
): Promise<string[]> {
  const rows = await db
    .select({ name: objects.name })
    .from(objects)
    .where(
      and(
        eq(objects.resource, "namespaces"),
        sql`json_extract(${objects.body}, '$.metadata.deletionTimestamp') IS NULL`,
        sql`NOT EXISTS (SELECT 1 FROM objects o WHERE o.resource = ${resource} AND o.namespace = ${objects.name} AND o.name = ${name})`,
      ),
    );
  return rows.map((r) => r.name);
}
