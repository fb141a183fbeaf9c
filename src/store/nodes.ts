// Enrolled nodes: the hashed credential of each node and its pod CIDR, and the reads the node
// authorizer needs (pods bound to a node). Every query here is one indexed lookup.
import { and, eq, sql } from "drizzle-orm";
import type { DB } from "./db.ts";
import { classify, StoreError } from "./errors.ts";
import { allocations, nodeCredentials, objects } from "./schema.ts";

export interface Enrolment {
  nodeName: string;
  podCidr: string;
}

/** The allocation owner of a node's pod CIDR: the credential, not the (deletable) Node object. */
const owner = (nodeName: string) => `node:${nodeName}`;

export async function enrolmentByHash(db: DB, hash: string): Promise<Enrolment | undefined> {
  return db
    .select({ nodeName: nodeCredentials.nodeName, podCidr: nodeCredentials.podCidr })
    .from(nodeCredentials)
    .where(eq(nodeCredentials.hash, hash))
    .get();
}

export async function enrolmentOf(db: DB, nodeName: string): Promise<Enrolment | undefined> {
  return db
    .select({ nodeName: nodeCredentials.nodeName, podCidr: nodeCredentials.podCidr })
    .from(nodeCredentials)
    .where(eq(nodeCredentials.nodeName, nodeName))
    .get();
}

export interface NewCredential {
  nodeName: string;
  hash: string;
  tokenId: string;
  joinedAt: string;
}

/** Replaces an enrolled node's credential hash; false when the node is not enrolled. */
export async function rotateCredential(db: DB, c: NewCredential): Promise<boolean> {
  const res = await db
    .update(nodeCredentials)
    .set({ hash: c.hash, tokenId: c.tokenId, joinedAt: c.joinedAt })
    .where(eq(nodeCredentials.nodeName, c.nodeName))
    .run();
  return res.meta.changes > 0;
}

/**
 * Enrols a new node with the pod CIDR picked for it, atomically. Fails with StoreError "allocated"
 * when another node took the CIDR meanwhile, and "exists" when the name was enrolled meanwhile.
 */
export async function enrol(db: DB, c: NewCredential & { podCidr: string }): Promise<void> {
  try {
    await db.batch([
      db
        .insert(allocations)
        .values({ kind: "podcidr", value: c.podCidr, owner: owner(c.nodeName) }),
      db.insert(nodeCredentials).values(c),
    ]);
  } catch (err) {
    const failure = classify(err);
    if (failure) throw new StoreError(failure, err);
    throw err;
  }
}

/** The node a pod is bound to: null when unscheduled, undefined when there is no such pod. */
export async function podNode(
  db: DB,
  namespace: string,
  name: string,
): Promise<string | null | undefined> {
  const row = await db
    .select({ nodeName: objects.nodeName })
    .from(objects)
    .where(
      and(eq(objects.resource, "pods"), eq(objects.namespace, namespace), eq(objects.name, name)),
    )
    .get();
  return row?.nodeName;
}

/**
 * Bodies of the pods bound to a node in one namespace, only those that contain `text` (a JSON
 * string) when given: the node index narrows to the node's pods, the substring test to the few
 * that can reference an object of that name.
 */
export async function podsOnNode(
  db: DB,
  nodeName: string,
  namespace: string,
  text?: string,
): Promise<string[]> {
  const conds = [
    eq(objects.resource, "pods"),
    eq(objects.nodeName, nodeName),
    eq(objects.namespace, namespace),
  ];
  if (text !== undefined) conds.push(sql`instr(${objects.body}, ${text}) > 0`);
  const rows = await db
    .select({ body: objects.body })
    .from(objects)
    .where(and(...conds));
  return rows.map((r) => r.body);
}
