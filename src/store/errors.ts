// SQL failures that mean something to the API, recognised in one place (kine does the same).

export type StoreFailure = "exists" | "conflict" | "allocated";

/** Which precondition a failed batch broke, or undefined for a genuine database error. */
export const classify = (err: unknown): StoreFailure | undefined => {
  const text = messages(err).join("\n");
  if (/CHECK constraint failed: conflict/.test(text)) return "conflict";
  if (/UNIQUE constraint failed: (objects|node_credentials)\./.test(text)) return "exists";
  if (/UNIQUE constraint failed: allocations\./.test(text)) return "allocated";
  return undefined;
};

const messages = (err: unknown): string[] => {
  const out: string[] = [];
  for (let e = err; e instanceof Error && out.length < 5; e = e.cause) out.push(e.message);
  return out;
};

export class StoreError extends Error {
  readonly failure: StoreFailure;
  constructor(failure: StoreFailure, cause: unknown) {
    super(`store: ${failure}`, { cause });
    this.failure = failure;
  }
}
