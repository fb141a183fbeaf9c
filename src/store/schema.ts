import { sql } from "drizzle-orm";
import {
  check,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

/** One row per live object. The body is stored without metadata.resourceVersion: the rv column is it. */
export const objects = sqliteTable(
  "objects",
  {
    /** `<group>/<plural>` or `<plural>` for the core group. */
    resource: text().notNull(),
    /** "" for cluster-scoped objects. */
    namespace: text().notNull(),
    name: text().notNull(),
    uid: text().notNull(),
    rv: integer().notNull(),
    body: text().notNull(),
    /** Pods' spec.nodeName: the agent's watch selects on it. */
    nodeName: text("node_name"),
  },
  (t) => [
    primaryKey({ columns: [t.resource, t.namespace, t.name] }),
    index("objects_node").on(t.resource, t.nodeName),
    index("objects_uid").on(t.uid),
  ],
);

/** The append-only change log. Its key IS the resourceVersion. */
export const changes = sqliteTable(
  "changes",
  {
    rv: integer().primaryKey({ autoIncrement: true }),
    resource: text().notNull(),
    namespace: text().notNull(),
    name: text().notNull(),
    type: text({ enum: ["ADDED", "MODIFIED", "DELETED"] }).notNull(),
    body: text().notNull(),
    /** Labels and selectable fields of the previous version, so a filtered watch sees objects leave. */
    prev: text(),
  },
  (t) => [index("changes_resource").on(t.resource, t.rv)],
);

/** Small server state: the compacted revision, bootstrap marker. */
export const meta = sqliteTable("meta", {
  key: text().primaryKey(),
  value: text().notNull(),
});

/**
 * A write's precondition. A batch writes `ok` = (condition holds); the CHECK aborts the whole
 * batch otherwise, since D1 has no interactive transactions to roll back by hand.
 */
export const writeGuard = sqliteTable(
  "write_guard",
  {
    id: integer().primaryKey(),
    ok: integer().notNull(),
  },
  (t) => [check("conflict", sql`${t.ok} = 1`)],
);

/**
 * Allocated ClusterIPs, NodePorts and pod CIDRs; the primary key makes a double allocation
 * impossible.
 */
export const allocations = sqliteTable(
  "allocations",
  {
    kind: text({ enum: ["clusterip", "nodeport", "podcidr"] }).notNull(),
    value: text().notNull(),
    /**
     * uid of the owning object, so a delete releases exactly its own values; a pod CIDR belongs to
     * the node credential (`node:<name>`), so it outlives the Node object.
     */
    owner: text().notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.value] }), index("allocations_owner").on(t.owner)],
);

/** Owner uid → dependent, maintained with every write: garbage collection looks dependents up here. */
export const ownerRefs = sqliteTable(
  "owner_refs",
  {
    ownerUid: text("owner_uid").notNull(),
    resource: text().notNull(),
    namespace: text().notNull(),
    name: text().notNull(),
  },
  (t) => [primaryKey({ columns: [t.ownerUid, t.resource, t.namespace, t.name] })],
);

/**
 * Enrolled hosts: one credential per node name. Only the SHA-256 of the credential is kept; the
 * node's pod CIDR is also in `allocations` (kind "podcidr"), which keeps it unique.
 */
export const nodeCredentials = sqliteTable(
  "node_credentials",
  {
    nodeName: text("node_name").primaryKey(),
    /** base64url SHA-256 of the bearer credential. */
    hash: text().notNull(),
    podCidr: text("pod_cidr").notNull(),
    /** The join token's id that enrolled (or last re-enrolled) the node. */
    tokenId: text("token_id").notNull(),
    joinedAt: text("joined_at").notNull(),
  },
  (t) => [uniqueIndex("node_credentials_hash").on(t.hash)],
);
