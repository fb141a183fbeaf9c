// create, update, patch, delete and deletecollection.
import { ApiError, badRequest, invalid } from "../../k8s/errors.ts";
import { storeResource } from "../../resources/registry.ts";
import * as rest from "../../resources/rest.ts";
import { checkObject, definitionFor } from "../../resources/schema-check.ts";
import type { Strategy } from "../../resources/types.ts";
import { type KObject, listObjects, withRv } from "../../store/objects.ts";
import { parseJson, readBody, readObject, readPatch } from "../body.ts";
import {
  type C,
  dryRun,
  fieldManager,
  fieldValidation,
  intQuery,
  query,
  storeCtx,
} from "../context.ts";
import { json } from "../output.ts";
import { applyPatch } from "../patch.ts";
import type { ResourcePath } from "../paths.ts";
import { selectors } from "./read.ts";

const apiVersion = (s: Strategy) => rest.apiVersionOf(s);

/** The body must be this kind in this version; anything else is refused before it is stored. */
function checkKind(s: Strategy, o: KObject) {
  if (o.apiVersion && o.apiVersion !== apiVersion(s))
    throw badRequest(
      `the API version in the data (${o.apiVersion}) does not match the expected API version (${apiVersion(s)})`,
    );
  if (o.kind && o.kind !== s.info.kind)
    throw badRequest(
      `the object provided is unrecognized (must be of type ${s.info.kind}): couldn't get version/kind; json parse error`,
    );
}

/** Decoding checks: wrong types fail; unknown fields fail, warn or pass per fieldValidation. */
export function checkFields(c: C, s: Strategy, o: KObject) {
  const def = definitionFor(apiVersion(s), s.info.kind);
  if (!def) return;
  const { unknown, typeError } = checkObject(def, o);
  if (typeError)
    throw badRequest(
      `${s.info.kind} in version "${s.info.version}" cannot be handled as a ${s.info.kind}: ${typeError}`,
    );
  if (!unknown.length) return;
  const mode = fieldValidation(c);
  if (mode === "Strict")
    throw badRequest(
      `strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(", ")}`,
    );
  if (mode === "Warn") for (const f of unknown) c.get("warnings").push(`unknown field "${f}"`);
}

export async function create(c: C, s: Strategy, p: ResourcePath) {
  const o = await readObject(c.req.raw);
  checkKind(s, o);
  checkFields(c, s, o);
  const { object } = await rest.create(
    storeCtx(c),
    s,
    p.namespace ?? o.metadata?.namespace ?? "",
    o,
    {
      dryRun: dryRun(c),
      fieldManager: fieldManager(c),
    },
  );
  return json(object, 201);
}

export async function replace(c: C, s: Strategy, p: ResourcePath) {
  const o = await readObject(c.req.raw);
  checkKind(s, o);
  checkFields(c, s, o);
  const { object } = await rest.update(
    storeCtx(c),
    s,
    p.namespace ?? "",
    p.name as string,
    () => o,
    {
      dryRun: dryRun(c),
      fieldManager: fieldManager(c),
      subresource: p.subresource === "status" ? "status" : undefined,
    },
  );
  return json(object);
}

export async function patch(c: C, s: Strategy, p: ResourcePath) {
  const { type, body } = await readPatch(c.req.raw);
  const ctx = storeCtx(c);
  const name = p.name as string;
  const namespace = p.namespace ?? "";
  const force = query(c, "force") === "true";
  if (force && type !== "apply") throw badRequest("force is only allowed for apply patches");
  const manager = type === "apply" ? query(c, "fieldManager") : fieldManager(c);
  if (type === "apply" && !manager)
    throw badRequest("PATCH with apply requires fieldManager as a query parameter");
  const subresource = p.subresource === "status" ? ("status" as const) : undefined;
  const opts = { dryRun: dryRun(c), fieldManager: manager, subresource, applied: type === "apply" };
  const pins = patchNamesResourceVersion(type, body);
  const mutate = (current: KObject | undefined, rv?: string) => {
    // The patch sees the current resourceVersion (JSON patch tests it); only a patch that names
    // one pins the write to it, others are retried on conflict.
    if (current && rv) current.metadata.resourceVersion = rv;
    const next = applyPatch(s, current, type, body, {
      manager: manager as string,
      force,
      subresource,
    });
    if (!pins && next.metadata) delete next.metadata.resourceVersion;
    checkKind(s, next);
    checkFields(c, s, next);
    return next;
  };
  try {
    const { object } = await rest.update(ctx, s, namespace, name, mutate, opts);
    return json(object);
  } catch (err) {
    // Server-side apply creates what does not exist yet.
    if (type === "apply" && err instanceof ApiError && err.code === 404 && !p.subresource) {
      const { object } = await rest.create(ctx, s, namespace, mutate(undefined), opts);
      return json(object, 201);
    }
    throw err;
  }
}

/** Whether a patch sets or tests metadata.resourceVersion (optimistic concurrency on request). */
function patchNamesResourceVersion(type: string, body: unknown): boolean {
  if (type === "json")
    return Array.isArray(body) && body.some((op) => op?.path === "/metadata/resourceVersion");
  return !!(body as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
}

interface DeleteBody {
  gracePeriodSeconds?: number;
  propagationPolicy?: "Orphan" | "Background" | "Foreground";
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

async function deleteOptions(c: C): Promise<rest.DeleteOptions> {
  const text = await readBody(c.req.raw);
  const body: DeleteBody = text.trim() ? (parseJson(text) as DeleteBody) : {};
  const policy = query(c, "propagationPolicy") ?? body.propagationPolicy;
  if (policy && !["Orphan", "Background", "Foreground"].includes(policy))
    throw invalid(
      "DeleteOptions",
      "",
      "",
      `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
      [],
    );
  const orphan = query(c, "orphanDependents") ?? body.orphanDependents;
  return {
    dryRun: dryRun(c) || (body.dryRun?.length ?? 0) > 0,
    gracePeriodSeconds: intQuery(c, "gracePeriodSeconds") ?? body.gracePeriodSeconds,
    propagationPolicy:
      (policy as rest.DeleteOptions["propagationPolicy"]) ??
      (orphan === true || orphan === "true" ? "Orphan" : undefined),
    preconditions: body.preconditions,
  };
}

export async function remove(c: C, s: Strategy, p: ResourcePath) {
  const opts = await deleteOptions(c);
  const res = await rest.remove(storeCtx(c), s, p.namespace ?? "", p.name as string, opts);
  return json(res.object);
}

export async function removeCollection(c: C, s: Strategy, p: ResourcePath) {
  const opts = await deleteOptions(c);
  const ctx = storeCtx(c);
  const sel = selectors(c, s);
  const { rows, rv } = await listObjects(ctx.db, {
    resource: storeResource(s.info),
    namespace: p.namespace,
  });
  const items: KObject[] = [];
  for (const row of rows) {
    const o = withRv(row.body, row.rv);
    if (sel.any && !sel.matches(o)) continue;
    try {
      items.push((await rest.remove(ctx, s, row.namespace, row.name, opts)).object);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }
  return json({
    kind: `${s.info.kind}List`,
    apiVersion: apiVersion(s),
    metadata: { resourceVersion: String(rv) },
    items,
  });
}
