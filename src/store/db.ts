import { drizzle } from "drizzle-orm/d1";

export type DB = ReturnType<typeof drizzle<Record<string, never>, D1Database>>;

// One drizzle instance per binding: building it walks the schema, which showed in profiles when
// every request and alarm built its own.
const instances = new WeakMap<D1Database, DB>();

export const openDb = (d1: D1Database): DB => {
  let db = instances.get(d1);
  if (!db) {
    db = drizzle(d1);
    instances.set(d1, db);
  }
  return db;
};
