// Per-request plumbing shared by the handlers: the store context and query option parsing.
import type { Context } from "hono";
import type { UserInfo } from "../auth/authenticate.ts";
import { nodeAdmission } from "../auth/node-admission.ts";
import { isMaster } from "../auth/rbac.ts";
import { escalationCheck } from "../auth/rbac-escalation.ts";
import { writeCtx } from "../controllers/context.ts";
import type { Env } from "../env.ts";
import { badRequest } from "../k8s/errors.ts";
import { chain } from "../resources/admission.ts";
import type { Ctx } from "../resources/rest.ts";

export type HonoEnv = { Bindings: Env; Variables: { user: UserInfo; warnings: string[] } };
export type C = Context<HonoEnv>;

/**
 * The store context of a request; a node's writes also go through node admission, and other
 * users' (but system:masters') writes of RBAC objects through escalation prevention.
 */
export function storeCtx(c: C): Ctx {
  const ctx = writeCtx(c.env, (p) => c.executionCtx.waitUntil(p));
  const user = c.get("user");
  if (!user || isMaster(user)) return ctx;
  const escalation = escalationCheck(ctx.db, user);
  const extra = user.node ? chain(nodeAdmission(user.node), escalation) : escalation;
  return { ...ctx, admit: ctx.admit ? chain(ctx.admit, extra) : extra };
}

export const query = (c: C, name: string): string | undefined => c.req.query(name) ?? undefined;

export function intQuery(c: C, name: string): number | undefined {
  const v = query(c, name);
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw badRequest(`invalid value for ${name}: ${v}`);
  return n;
}

export const boolQuery = (c: C, name: string): boolean => {
  const v = query(c, name);
  return v === "true" || v === "1";
};

export function dryRun(c: C): boolean {
  const v = c.req.queries("dryRun") ?? [];
  for (const d of v) if (d !== "All") throw badRequest(`Invalid dry run value: ${d}`);
  return v.length > 0;
}

/** Who wrote a field: the fieldManager parameter, else the client's name from its User-Agent. */
export function fieldManager(c: C): string {
  const m = query(c, "fieldManager");
  if (m) {
    if (m.length > 128) throw badRequest("fieldManager: Too long: may not be longer than 128");
    return m;
  }
  const ua = c.req.header("user-agent") ?? "unknown";
  return ua.split("/")[0] || "unknown";
}

export type FieldValidation = "Strict" | "Warn" | "Ignore";

export function fieldValidation(c: C): FieldValidation {
  const v = query(c, "fieldValidation") ?? "Warn";
  if (v !== "Strict" && v !== "Warn" && v !== "Ignore")
    throw badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict", got ${v}`);
  return v;
}
