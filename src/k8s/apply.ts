// Server-side apply as the apiserver's fieldmanager runs it: merge the applied configuration into
// the live object (structured-merge-diff), drop what this manager applied before but no longer
// does, and refuse to change fields other managers own unless forced.
import { ApiError } from "./errors.ts";
import {
  type Comparison,
  capUpdateManagers,
  compare,
  copyManaged,
  decodeManagedFields,
  encodeManagedFields,
  ensureNamedFieldsAreMembers,
  type FieldManagerOptions,
  FieldSet,
  formatTime,
  goJson,
  indexItems,
  itemPe,
  jsonEqual,
  type Managed,
  type ManagedFieldsEntry,
  managerId,
  metaOf,
  type Path,
  type PathElement,
  parseManagerId,
  pathString,
  peId,
  peString,
  recordUpdate,
  resetFilter,
  stripMeta,
  type TypeRef,
  Typer,
  toFieldSet,
  updateOwnership,
  withoutManagedFields,
} from "./managed-fields.ts";
import type { ListType, SchemaLookup } from "./schema.ts";

type JsonMap = Record<string, unknown>;

export const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

export interface ApplyConflict {
  /** The owning manager's name, e.g. "kubectl-client-side-apply". */
  manager: string;
  /** The field as Kubernetes prints it, e.g. ".spec.replicas". */
  field: string;
}

/** 409 Conflict: fields owned by other managers would change (errors.NewApplyConflict). */
export class ApplyConflictError extends ApiError {
  readonly conflicts: ApplyConflict[];

  constructor(byManager: Map<string, FieldSet>) {
    const ids = [...byManager.keys()].sort();
    const list = ids.flatMap((id) =>
      (byManager.get(id) as FieldSet).paths().map((p) => ({ id, field: pathString(p) })),
    );
    let message: string;
    if (list.length === 1) {
      message = `Apply failed with 1 conflict: conflict with ${printManager(list[0].id)}: ${list[0].field}`;
    } else {
      const lines = ids.flatMap((id) => [
        `conflicts with ${printManager(id)}:`,
        ...list.filter((c) => c.id === id).map((c) => `- ${c.field}`),
      ]);
      message = `Apply failed with ${list.length} conflicts: ${lines.join("\n")}`;
    }
    super(409, "Conflict", message, {
      causes: list.map((c) => ({
        reason: "FieldManagerConflict",
        message: `conflict with ${printManager(c.id)}`,
        field: c.field,
      })),
    });
    this.name = "ApplyConflictError";
    this.conflicts = list.map((c) => ({
      manager: parseManagerId(c.id).manager ?? "",
      field: c.field,
    }));
  }
}

function printManager(id: string): string {
  const info = parseManagerId(id);
  let s = JSON.stringify(info.manager ?? "");
  if (info.subresource) s += ` with subresource ${JSON.stringify(info.subresource)}`;
  return info.operation === "Update" ? `${s} using ${info.apiVersion}` : s;
}

export interface ApplyResult {
  object: JsonMap;
  managedFields: ManagedFieldsEntry[];
}

/**
 * Server-side apply of `applied` by `manager` onto `live` (undefined to create). Returns the new
 * object, metadata.managedFields included, or throws ApplyConflictError / ApiError.
 */
export function apply(
  live: unknown,
  applied: unknown,
  manager: string,
  force: boolean,
  lookup: SchemaLookup,
  defName: string | undefined,
  now: Date,
  opts: FieldManagerOptions = {},
): ApplyResult {
  const config = checkApplied(live, applied);
  const apiVersion = opts.apiVersion ?? (config.apiVersion as string);
  let managed0: Managed;
  try {
    managed0 = decodeManagedFields(metaOf(live).managedFields);
  } catch (e) {
    throw new ApiError(500, "", `failed to decode managed fields: ${(e as Error).message}`);
  }
  const typer = new Typer(lookup);
  const ctx: Ctx = {
    typer,
    type: typer.root(defName),
    reset: resetFilter(opts.subresource, opts.resetFields),
    apiVersion,
    now: formatTime(now),
  };
  const { errors } = toFieldSet(typer, config, ctx.type);
  if (errors.length) {
    const m = metaOf(config);
    const gvk = gvkString(config);
    throw new ApiError(
      500,
      "",
      `failed to create typed patch object (${m.namespace ?? ""}/${m.name ?? ""}; ${gvk}): ${validationMessage(errors)}`,
    );
  }
  const liveObj = live === undefined ? {} : withoutManagedFields(live);
  const id = managerId({
    manager: manager || "unknown",
    operation: "Apply",
    subresource: opts.subresource,
  });

  const run = (forced: boolean) => {
    const m = copyManaged(managed0);
    if (m.fields.size === 0) {
      // skipNonAppliedManager: whoever wrote the untracked object owns what it holds.
      const before = managerId({
        manager: "before-first-apply",
        operation: "Update",
        apiVersion,
        subresource: opts.subresource,
      });
      recordUpdate(typer, {}, liveObj, ctx.type, ctx.reset, m, before, apiVersion, ctx.now);
      capUpdateManagers(m);
    }
    return applyManaged(ctx, liveObj, config, m, id, forced);
  };

  let result = run(force);
  if ("conflicts" in result && manager === "kubectl") {
    // lastAppliedManager: kubectl's first server-side apply over client-side apply takes over
    // the fields whose live values still match the last-applied annotation.
    const allowed = allowedFromLastApplied(ctx, live, apiVersion);
    if (allowed) {
      const remaining = new Map<string, FieldSet>();
      for (const [owner, set] of result.conflicts) {
        const left = FieldSet.of(...set.paths().filter((p) => !allowed.has(p)));
        if (!left.empty()) remaining.set(owner, left);
      }
      result = remaining.size ? { conflicts: remaining } : run(true);
    }
  }
  if ("conflicts" in result) throw new ApplyConflictError(result.conflicts);

  const object = result.object;
  if (manager === "kubectl") syncLastApplied(object, config);
  const managedFields = encodeManagedFields(result.managed);
  if (!object.metadata) object.metadata = {};
  const meta = object.metadata as JsonMap;
  if (managedFields.length) meta.managedFields = managedFields;
  else delete meta.managedFields;
  return { object, managedFields };
}

interface Ctx {
  typer: Typer;
  type: TypeRef;
  reset: FieldSet;
  apiVersion: string;
  now: string;
}

function checkApplied(live: unknown, applied: unknown): JsonMap {
  if (typeof applied !== "object" || applied === null || Array.isArray(applied))
    throw new ApiError(400, "BadRequest", "the apply patch must be an object");
  const config = structuredClone(applied) as JsonMap;
  const json = JSON.stringify(config);
  if (typeof config.kind !== "string" || !config.kind)
    throw new ApiError(400, "BadRequest", `Object 'Kind' is missing in '${json}'`);
  if (typeof config.apiVersion !== "string" || !config.apiVersion)
    throw new ApiError(400, "BadRequest", `Object 'apiVersion' is missing in '${json}'`);
  const l = live as JsonMap | undefined;
  if (l?.kind && (l.apiVersion !== config.apiVersion || l.kind !== config.kind))
    throw new ApiError(400, "BadRequest", `invalid object type: ${gvkString(config)}`);
  const mf = metaOf(config).managedFields;
  if (mf !== undefined && mf !== null)
    throw new ApiError(400, "BadRequest", "metadata.managedFields must be nil");
  return config;
}

function gvkString(o: JsonMap): string {
  const av = String(o.apiVersion ?? "");
  const [group, version] = av.includes("/") ? av.split("/", 2) : ["", av];
  return `${group}/${version}, Kind=${String(o.kind ?? "")}`;
}

const validationMessage = (errors: string[]) =>
  errors.length === 1 ? errors[0] : ["errors:", ...errors.map((e) => `  ${e}`)].join("\n");

/** Updater.Apply + stripMeta + the managedFieldsUpdater's timestamp. */
function applyManaged(
  ctx: Ctx,
  live: JsonMap,
  config: JsonMap,
  managed: Managed,
  id: string,
  force: boolean,
): { object: JsonMap; managed: Managed } | { conflicts: Map<string, FieldSet> } {
  const { typer, type } = ctx;
  const merged = (merge(typer, live, config, type, []) ?? {}) as JsonMap;
  const lastSet = managed.fields.get(id)?.set;
  const m = copyManaged(managed);
  const set = toFieldSet(typer, config, type).set.recursiveDifference(ctx.reset);
  m.fields.set(id, { set, apiVersion: ctx.apiVersion, applied: true });
  const next = prune(typer, merged, type, m, lastSet);
  const { conflicts } = updateOwnership(typer, live, next, type, ctx.reset, m, id, force);
  if (!force && conflicts.size) return { conflicts };
  stripMeta(m, id);
  if (jsonEqual(live, next)) return { object: structuredClone(live), managed: m };
  m.times.set(id, ctx.now);
  return { object: stripNulls(next) as JsonMap, managed: m };
}

// ---------------------------------------------------------------------------------------------
// typed merge (structured-merge-diff typed/merge.go, rule "keep RHS")

function merge(typer: Typer, l: unknown, r: unknown, t: TypeRef, path: Path): unknown {
  const ls = l === undefined ? undefined : typer.shape(t, l);
  const rs = r === undefined ? undefined : typer.shape(t, r);
  const s = rs ?? ls;
  if (!s || s.kind === "leaf" || (ls && rs && ls.kind !== rs.kind) || (isEmpty(l) && isEmpty(r)))
    return r !== undefined ? r : l;
  if (s.kind === "map") {
    const lm = (l ?? {}) as JsonMap;
    const rm = (r ?? {}) as JsonMap;
    const out: JsonMap = {};
    for (const k of new Set([...Object.keys(lm), ...Object.keys(rm)])) {
      const v = merge(typer, lm[k], rm[k], typer.fieldType(s.type, k), [...path, { field: k }]);
      if (v !== undefined) out[k] = v;
    }
    return Object.keys(out).length ? out : undefined;
  }
  const out = mergeList(typer, (l ?? []) as unknown[], (r ?? []) as unknown[], s, path);
  return out.length ? out : undefined;
}

/** Associative list merge: applied items keep their order, live-only items stay where they were. */
function mergeList(
  typer: Typer,
  lhs: unknown[],
  rhs: unknown[],
  s: { list: ListType; elem: TypeRef },
  path: Path,
): unknown[] {
  const errors: string[] = [];
  const r = indexItems(s.list, rhs, path, errors);
  for (const [id, items] of r.byId)
    if (items.length > 1)
      errors.push(
        `${pathString(path)}: duplicate entries for key ${peString(r.pes[r.pes.findIndex((pe) => peId(pe) === id)])}`,
      );
  // Every live item, duplicates included; a duplicated key has no single live value.
  const lPes = lhs.map((item) => itemPe(s.list, item));
  const lObserved = new Map<string, unknown>();
  lPes.forEach((pe, i) => {
    if (typeof pe === "string") errors.push(`${pathString(path)}: element ${i}: ${pe}`);
    else lObserved.set(peId(pe), lObserved.has(peId(pe)) ? null : lhs[i]);
  });
  if (errors.length)
    throw new ApiError(500, "", `failed to merge config: ${validationMessage(errors)}`);
  const pes = new Map<string, PathElement>();
  for (const pe of [...(lPes as PathElement[]), ...r.pes]) pes.set(peId(pe), pe);
  const lIds = (lPes as PathElement[]).map(peId);
  const rIds = r.pes.map(peId);
  const rObserved = (id: string) => (r.byId.get(id) ?? [])[0];
  const item = (id: string, l: unknown, rv: unknown) =>
    merge(typer, l, rv, s.elem, [...path, pes.get(id) as PathElement]);

  const out: unknown[] = [];
  const push = (v: unknown) => v !== undefined && out.push(v);
  const shared = rIds.filter((id) => lObserved.has(id));
  let nextShared = shared.shift();
  const mergedRhs = new Set<string>();
  let li = 0;
  let ri = 0;
  while (li < lIds.length || ri < rIds.length) {
    if (li < lIds.length && ri < rIds.length) {
      const id = lIds[li];
      if (id === rIds[ri]) {
        mergedRhs.add(id);
        push(item(id, lObserved.get(id), rObserved(id)));
        li++;
        ri++;
        nextShared = shared.shift();
        continue;
      }
      if (r.byId.has(id) && nextShared !== undefined && nextShared !== id) {
        li++;
        continue;
      }
    }
    if (li < lIds.length) {
      const id = lIds[li];
      if (!r.byId.has(id)) {
        push(item(id, lhs[li], undefined));
        li++;
        continue;
      }
      if (mergedRhs.has(id)) li++;
    }
    if (ri < rIds.length) {
      const id = rIds[ri];
      mergedRhs.add(id);
      push(item(id, lObserved.get(id), rObserved(id)));
      ri++;
      if (nextShared === id) nextShared = shared.shift();
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// pruning (merge/update.go prune, addBackOwnedItems, addBackDanglingItems)

function prune(
  typer: Typer,
  merged: JsonMap,
  t: TypeRef,
  m: Managed,
  lastSet: FieldSet | undefined,
): JsonMap {
  if (!lastSet || lastSet.empty()) return merged;
  const ensure = (s: FieldSet) => ensureNamedFieldsAreMembers(typer, s, t);
  const setOf = (v: unknown) => ensure(toFieldSet(typer, v, t, true).set);
  const remove = (s: FieldSet) => (removeItems(typer, merged, t, s) ?? {}) as JsonMap;
  const last = ensure(lastSet);
  let pruned = remove(last);
  let owned = new FieldSet();
  for (const vs of m.fields.values()) owned = owned.union(vs.set);
  const mergedSet = setOf(merged);
  pruned = remove(mergedSet.difference(setOf(pruned).union(ensure(owned))));
  return remove(mergedSet.difference(setOf(pruned)).intersection(last));
}

/** TypedValue.RemoveItems: drops the listed fields and items (and whatever is below them). */
function removeItems(typer: Typer, v: unknown, t: TypeRef, toRemove: FieldSet): unknown {
  const s = typer.shape(t, v);
  if (s.kind === "leaf") return v;
  if (s.kind === "list") {
    const items = v as unknown[];
    if (!items.length) return undefined;
    const out: unknown[] = [];
    for (const item of items) {
      const pe = itemPe(s.list, item);
      if (typeof pe === "string") {
        out.push(item);
        continue;
      }
      if (toRemove.has([pe])) continue;
      const sub = toRemove.withPrefix(pe);
      out.push(sub.empty() ? item : (removeItems(typer, item, s.elem, sub) ?? {}));
    }
    return out.length ? out : undefined;
  }
  const map = v as JsonMap;
  const out: JsonMap = {};
  for (const [k, x] of Object.entries(map)) {
    const pe = { field: k };
    if (toRemove.has([pe])) continue;
    const sub = toRemove.withPrefix(pe);
    const y = sub.empty() ? x : removeItems(typer, x, typer.fieldType(s.type, k), sub);
    if (y !== undefined) out[k] = y;
  }
  return Object.keys(out).length ? out : undefined;
}

const isEmpty = (v: unknown) =>
  v === undefined ||
  (Array.isArray(v)
    ? v.length === 0
    : typeof v === "object" && v !== null && !Object.keys(v).length);

/** Nulls left by the applied configuration; the typed object has no such values. */
function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== null)
      .map(([k, x]) => [k, stripNulls(x)]),
  );
}

// ---------------------------------------------------------------------------------------------
// kubectl's last-applied annotation

/** Fields the last-applied annotation claims and the live object still holds unchanged. */
function allowedFromLastApplied(ctx: Ctx, live: unknown, apiVersion: string): FieldSet | undefined {
  const raw = (metaOf(live).annotations as JsonMap | undefined)?.[LAST_APPLIED];
  if (typeof raw !== "string" || !raw) return undefined;
  let last: JsonMap;
  try {
    last = JSON.parse(raw) as JsonMap;
  } catch {
    return undefined;
  }
  if (typeof last !== "object" || last === null || last.apiVersion !== apiVersion) return undefined;
  const { set, errors } = toFieldSet(ctx.typer, last, ctx.type);
  if (errors.length) return undefined;
  let c: Comparison;
  try {
    c = compare(ctx.typer, last, live, ctx.type);
  } catch {
    return undefined;
  }
  return set.difference(c.modified).difference(c.added).difference(c.removed);
}

/** lastAppliedUpdater: keep an existing annotation in step with what kubectl applied. */
function syncLastApplied(object: JsonMap, config: JsonMap): void {
  const annotations = metaOf(object).annotations as JsonMap | undefined;
  if (typeof annotations?.[LAST_APPLIED] !== "string" || !annotations[LAST_APPLIED]) return;
  const copy = structuredClone(config);
  const a = metaOf(copy).annotations as JsonMap | undefined;
  if (a) delete a[LAST_APPLIED];
  annotations[LAST_APPLIED] = `${goJson(copy)}\n`;
}
