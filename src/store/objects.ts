import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { DB } from "./db.ts";
import { classify, StoreError } from "./errors.ts";
import { allocations, changes, objects, ownerRefs } from "./schema.ts";
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
  /** MODIFIED: the object's ownerReferences are the stored ones, so the owner index stands. */
  sameOwners?: boolean;
}

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

// Objects this isolate wrote or read last, by key: an update starts from here instead of reading
// D1, and its write's revision precondition proves the copy current (Kubernetes' apiserver
// updates from its watch cache the same way). Another isolate's writes make a copy stale, which
// costs the update one more try. Bounded by the bytes of the bodies kept.
const RECENT_MAX_BYTES = 8 * 1024 * 1024;
const recent = new Map<string, { rv: number; body: string }>();
let recentBytes = 0;
const recentKey = (k: Key) => `${k.resource}\0${k.namespace}\0${k.name}`;

/** Drops the copy of `key` (written by a batch that does not keep copies). */
export function forget(key: Key): void {
  const id = recentKey(key);
  const had = recent.get(id);
  if (!had) return;
  recent.delete(id);
  recentBytes -= had.body.length;
}

function remember(key: Key, rv: number, body: string): void {
  forget(key);
  recent.set(recentKey(key), { rv, body });
  recentBytes += body.length;
  for (const [id, oldest] of recent) {
    if (recentBytes <= RECENT_MAX_BYTES) break;
    recent.delete(id);
    recentBytes -= oldest.body.length;
  }
}

/** The object as this isolate last wrote or read it, which may since have changed. */
export function recentObject(key: Key): Stored | undefined {
  const had = recent.get(recentKey(key));
  return had && { rv: had.rv, object: withRv(had.body, had.rv) };
}

export async function getObject(db: DB, key: Key): Promise<Stored | undefined> {
  const row = await db.$client
    .prepare(SQL.getObject)
    .bind(key.resource, key.namespace, key.name)
    .first<{ rv: number; body: string }>();
  if (!row) {
    forget(key);
    return undefined;
  }
  remember(key, row.rv, row.body);
  return { rv: row.rv, object: withRv(row.body, row.rv) };
}

/** The uid of a live object, without reading its body. */
export async function uidOf(db: DB, key: Key): Promise<string | undefined> {
  const row = await db.$client
    .prepare(SQL.uidOf)
    .bind(key.resource, key.namespace, key.name)
    .first<{ uid: string }>();
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
  const row = await db.$client.prepare(SQL.revision).first<{ rv: number }>();
  return row?.rv ?? 0;
}

// The statements of every single-object write and read, as fixed SQL text: building them with
// drizzle's query builder on each call took about a fifth of the Worker's CPU under load.
const byKey = "resource = ?1 AND namespace = ?2 AND name = ?3";
const newRv = "(SELECT max(rv) FROM changes)";
const guard = (condition: string) =>
  `INSERT INTO write_guard (id, ok) VALUES (1, (${condition})) ON CONFLICT (id) DO UPDATE SET ok = excluded.ok`;
const SQL = {
  getObject: `SELECT rv, body FROM objects WHERE ${byKey}`,
  uidOf: `SELECT uid FROM objects WHERE ${byKey}`,
  revision: "SELECT coalesce(max(rv), 0) AS rv FROM changes",
  guardRevision: guard(`SELECT count(*) FROM objects WHERE ${byKey} AND rv = ?4`),
  guardNamespace: guard(
    `SELECT count(*) FROM objects WHERE resource = 'namespaces' AND namespace = '' AND name = ?1
     AND json_extract(body, '$.metadata.deletionTimestamp') IS NULL`,
  ),
  change:
    "INSERT INTO changes (resource, namespace, name, type, body, prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING rv",
  insertObject: `INSERT INTO objects (resource, namespace, name, uid, rv, body, node_name)
    VALUES (?1, ?2, ?3, ?4, ${newRv}, ?5, ?6)`,
  updateObject: `UPDATE objects SET rv = ${newRv}, body = ?4, node_name = ?5 WHERE ${byKey}`,
  deleteObject: `DELETE FROM objects WHERE ${byKey}`,
  releaseAllocations: "DELETE FROM allocations WHERE owner = ?1",
  dropOwnerRefs: `DELETE FROM owner_refs WHERE ${byKey}`,
  ownerRef:
    "INSERT INTO owner_refs (owner_uid, resource, namespace, name) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
  allocate: "INSERT INTO allocations (kind, value, owner) VALUES (?1, ?2, ?3)",
};

/**
 * Commit one object write as a single atomic batch: precondition, change-log row (its key is the
 * new resourceVersion), object row, owner index, allocations. Returns the new revision. Every
 * statement counts: locally D1's own object spends more on each than SQLite does, and under load
 * it is what everything waits for.
 */
export async function commit(db: DB, w: Write): Promise<number> {
  const d1 = db.$client;
  const { resource, namespace, name } = w.key;
  const body = serialise(w.object);
  const uid: string = w.object.metadata?.uid ?? "";
  const stmts: D1PreparedStatement[] = [];
  if (w.type !== "ADDED") {
    if (w.expectRv === undefined) throw new Error("store: MODIFIED/DELETED need expectRv");
    stmts.push(d1.prepare(SQL.guardRevision).bind(resource, namespace, name, w.expectRv));
  } else if (w.inNamespace) {
    // Creating in a namespace needs it to exist and not be terminating: checked in the same
    // transaction, so a create never lands in a namespace being emptied.
    stmts.push(d1.prepare(SQL.guardNamespace).bind(w.inNamespace));
  }
  const prev = w.prev === undefined ? null : JSON.stringify(w.prev);
  const changeAt = stmts.length;
  stmts.push(d1.prepare(SQL.change).bind(resource, namespace, name, w.type, body, prev));
  const nodeName = w.nodeName ?? null;
  if (w.type === "ADDED") {
    stmts.push(d1.prepare(SQL.insertObject).bind(resource, namespace, name, uid, body, nodeName));
  } else if (w.type === "MODIFIED") {
    stmts.push(d1.prepare(SQL.updateObject).bind(resource, namespace, name, body, nodeName));
  } else {
    stmts.push(d1.prepare(SQL.deleteObject).bind(resource, namespace, name));
    stmts.push(d1.prepare(SQL.releaseAllocations).bind(uid));
  }
  // A new object has no index rows yet (a delete dropped those of any before it); an update that
  // keeps its ownerReferences keeps its rows.
  const keepRows = w.type === "MODIFIED" && w.sameOwners;
  if (w.type !== "ADDED" && !keepRows)
    stmts.push(d1.prepare(SQL.dropOwnerRefs).bind(resource, namespace, name));
  if (w.type !== "DELETED" && !keepRows) {
    for (const ref of w.object.metadata?.ownerReferences ?? []) {
      if (typeof ref?.uid === "string")
        stmts.push(d1.prepare(SQL.ownerRef).bind(ref.uid, resource, namespace, name));
    }
  }
  for (const a of w.allocate ?? []) {
    stmts.push(d1.prepare(SQL.allocate).bind(a.kind, a.value, uid));
  }
  try {
    const results = await d1.batch<{ rv: number }>(stmts);
    const rv = results[changeAt]?.results?.[0]?.rv ?? 0;
    if (w.type === "DELETED") forget(w.key);
    else remember(w.key, rv, body);
    return rv;
  } catch (err) {
    forget(w.key);
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
