import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { DB } from "./db.ts";
import { classify, StoreError } from "./errors.ts";
import { allocations, changes, objects, ownerRefs, writeGuard } from "./schema.ts";
import { seal, unseal } from "./sealing.ts";

export interface Key {
  resource: string;
  namespace: string;
  name: string;
}

export interface Stored {
  rv: number;
  /** The object with metadata.resourceVersion set from rv. */
  object: KObject;
}

export type KObject = Record<string, any>;

export interface Allocation {
  kind: "clusterip" | "nodeport" | "podcidr";
  value: string;
  /** Named by the client (not picked by the allocator): a clash is the client's error. */
  requested?: boolean;
}

export interface Write {
  key: Key;
  type: "ADDED" | "MODIFIED" | "DELETED";
  /** The new object (for DELETED, its last state). Its resourceVersion is ignored. */
  object: KObject;
  /** MODIFIED/DELETED: the revision the caller read; the write fails with "conflict" if it moved. */
  expectRv?: number;
  /** Labels and selectable fields of the version replaced, for watch filters. */
  prev?: unknown;
  nodeName?: string | null;
  allocate?: Allocation[];
  /** ADDED: the namespace that must exist, live, when the write commits ("conflict" if not). */
  inNamespace?: string;
}

const where = (k: Key) =>
  and(
    eq(objects.resource, k.resource),
    eq(objects.namespace, k.namespace),
    eq(objects.name, k.name),
  );

/** Serialise without resourceVersion: the rv column is the one truth. */
export const serialise = (o: KObject): string => {
  const { resourceVersion: _, ...meta } = o.metadata ?? {};
  return JSON.stringify(seal({ ...o, metadata: meta }));
};

export const withRv = (body: string, rv: number): KObject => {
  const o = unseal(JSON.parse(body));
  o.metadata = { ...o.metadata, resourceVersion: String(rv) };
  return o;
};

export async function getObject(db: DB, key: Key): Promise<Stored | undefined> {
  const row = await db
    .select({ rv: objects.rv, body: objects.body })
    .from(objects)
    .where(where(key))
    .get();
  return row && { rv: row.rv, object: withRv(row.body, row.rv) };
}

/** The uid of a live object, without reading its body. */
export async function uidOf(db: DB, key: Key): Promise<string | undefined> {
  const row = await db.select({ uid: objects.uid }).from(objects).where(where(key)).get();
  return row?.uid;
}

export async function getByUid(db: DB, uid: string): Promise<(Stored & Key) | undefined> {
  const row = await db.select().from(objects).where(eq(objects.uid, uid)).get();
  return (
    row && {
      resource: row.resource,
      namespace: row.namespace,
      name: row.name,
      rv: row.rv,
      object: withRv(row.body, row.rv),
    }
  );
}

export interface ListQuery {
  resource: string;
  namespace?: string;
  nodeName?: string;
  /** Exclusive start key (namespace, name) for continue tokens. */
  after?: { namespace: string; name: string };
  limit?: number;
}

export interface ListRows {
  rows: { namespace: string; name: string; rv: number; body: string }[];
  /** The store's revision when the rows were read (same transaction). */
  rv: number;
}

export async function listObjects(db: DB, q: ListQuery): Promise<ListRows> {
  const conds = [eq(objects.resource, q.resource)];
  if (q.namespace) conds.push(eq(objects.namespace, q.namespace));
  if (q.nodeName !== undefined) conds.push(eq(objects.nodeName, q.nodeName));
  if (q.after)
    conds.push(
      sql`(${objects.namespace}, ${objects.name}) > (${q.after.namespace}, ${q.after.name})`,
    );
  let select = db
    .select({
      namespace: objects.namespace,
      name: objects.name,
      rv: objects.rv,
      body: objects.body,
    })
    .from(objects)
    .where(and(...conds))
    .orderBy(asc(objects.namespace), asc(objects.name))
    .$dynamic();
  if (q.limit) select = select.limit(q.limit);
  const [rows, rev] = await db.batch([select, currentRevisionQuery(db)]);
  return { rows, rv: rev[0]?.rv ?? 0 };
}

const currentRevisionQuery = (db: DB) =>
  db.select({ rv: sql<number>`coalesce(max(${changes.rv}), 0)` }).from(changes);

export async function currentRevision(db: DB): Promise<number> {
  const rows = await currentRevisionQuery(db);
  return rows[0]?.rv ?? 0;
}

/**
 * Commit one object write as a single atomic batch: precondition, change-log row (its key is the
 * new resourceVersion), object row, owner index, allocations. Returns the new revision.
 */
export async function commit(db: DB, w: Write): Promise<number> {
  const { key } = w;
  const body = serialise(w.object);
  const uid: string = w.object.metadata?.uid ?? "";
  const newRv = sql`(SELECT max(${changes.rv}) FROM ${changes})`;
  const stmts: BatchItem<"sqlite">[] = [];
  const guard = (condition: ReturnType<typeof sql>) =>
    db
      .insert(writeGuard)
      .values({ id: 1, ok: condition })
      .onConflictDoUpdate({ target: writeGuard.id, set: { ok: sql`excluded.ok` } });
  if (w.type !== "ADDED") {
    if (w.expectRv === undefined) throw new Error("store: MODIFIED/DELETED need expectRv");
    stmts.push(
      guard(
        sql`(SELECT count(*) FROM ${objects} WHERE ${and(where(key), eq(objects.rv, w.expectRv))})`,
      ),
    );
  } else if (w.inNamespace) {
    // Creating in a namespace needs it to exist and not be terminating: checked in the same
    // transaction, so a create never lands in a namespace being emptied.
    const ns = { resource: "namespaces", namespace: "", name: w.inNamespace };
    stmts.push(
      guard(
        sql`(SELECT count(*) FROM ${objects} WHERE ${and(where(ns), sql`json_extract(${objects.body}, '$.metadata.deletionTimestamp') IS NULL`)})`,
      ),
    );
  }
  stmts.push(
    db.insert(changes).values({
      ...key,
      type: w.type,
      body,
      prev: w.prev === undefined ? null : JSON.stringify(w.prev),
    }),
  );
  const nodeName = w.nodeName ?? null;
  if (w.type === "ADDED") {
    stmts.push(db.insert(objects).values({ ...key, uid, rv: newRv, body, nodeName }));
  } else if (w.type === "MODIFIED") {
    stmts.push(db.update(objects).set({ rv: newRv, body, nodeName }).where(where(key)));
  } else {
    stmts.push(db.delete(objects).where(where(key)));
    stmts.push(db.delete(allocations).where(eq(allocations.owner, uid)));
  }
  stmts.push(
    db
      .delete(ownerRefs)
      .where(
        and(
          eq(ownerRefs.resource, key.resource),
          eq(ownerRefs.namespace, key.namespace),
          eq(ownerRefs.name, key.name),
        ),
      ),
  );
  if (w.type !== "DELETED") {
    for (const ref of w.object.metadata?.ownerReferences ?? []) {
      if (typeof ref?.uid === "string")
        stmts.push(
          db
            .insert(ownerRefs)
            .values({ ownerUid: ref.uid, ...key })
            .onConflictDoNothing(),
        );
    }
  }
  for (const a of w.allocate ?? []) {
    stmts.push(db.insert(allocations).values({ kind: a.kind, value: a.value, owner: uid }));
  }
  stmts.push(currentRevisionQuery(db));
  try {
    const results = await db.batch(stmts as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
    const last = results[results.length - 1] as { rv: number }[];
    return last[0].rv;
  } catch (err) {
    const failure = classify(err);
    if (failure) throw new StoreError(failure, err);
    throw err;
  }
}

export interface ChangeRow {
  rv: number;
  resource: string;
  namespace: string;
  name: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  body: string;
  prev: string | null;
}

/** Changes after `rv` in order, optionally for one resource, at most `limit` rows. */
export async function changesAfter(
  db: DB,
  rv: number,
  limit: number,
  resource?: string,
): Promise<ChangeRow[]> {
  const cond = resource
    ? and(gt(changes.rv, rv), eq(changes.resource, resource))
    : gt(changes.rv, rv);
  return db.select().from(changes).where(cond).orderBy(asc(changes.rv)).limit(limit);
}

/** Dependents of an owner, for garbage collection. */
export async function dependentsOf(db: DB, ownerUid: string): Promise<Key[]> {
  return db
    .select({ resource: ownerRefs.resource, namespace: ownerRefs.namespace, name: ownerRefs.name })
    .from(ownerRefs)
    .where(eq(ownerRefs.ownerUid, ownerUid));
}

export async function allocated(db: DB, kind: Allocation["kind"]): Promise<Set<string>> {
  const rows = await db
    .select({ value: allocations.value })
    .from(allocations)
    .where(eq(allocations.kind, kind));
  return new Set(rows.map((r) => r.value));
}
