import { and, eq, lte, sql } from "drizzle-orm";
import type { DB } from "./db.ts";
import { changes, meta } from "./schema.ts";

const COMPACTED = "compacted_rv";
const BATCH = 1000;

/** Revisions at or below this are gone from the change log: watching from them gets 410. */
export async function compactedRevision(db: DB): Promise<number> {
  const row = await db.select().from(meta).where(eq(meta.key, COMPACTED)).get();
  return row ? Number(row.value) : 0;
}

/**
 * Keep the newest `retain` changes. Deletes in bounded batches so one call never holds the single
 * D1 writer for long; returns how many rows went (call again while it returns BATCH).
 */
export async function compact(db: DB, retain: number): Promise<number> {
  const head = await db.select({ rv: sql<number>`coalesce(max(${changes.rv}), 0)` }).from(changes);
  const upTo = (head[0]?.rv ?? 0) - retain;
  if (upTo <= 0) return 0;
  const victims = db
    .select({ rv: changes.rv })
    .from(changes)
    .where(lte(changes.rv, upTo))
    .orderBy(changes.rv)
    .limit(BATCH);
  const [deleted] = await db.batch([
    db
      .delete(changes)
      .where(and(sql`${changes.rv} IN ${victims}`))
      .returning({ rv: changes.rv }),
    db
      .insert(meta)
      .values({ key: COMPACTED, value: String(upTo) })
      .onConflictDoUpdate({
        target: meta.key,
        set: { value: sql`max(CAST(${meta.value} AS INTEGER), ${upTo})` },
      }),
  ]);
  return deleted.length;
}
