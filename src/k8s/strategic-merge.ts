// Strategic merge patch, as k8s.io/apimachinery/pkg/util/strategicpatch applies it on the server
// (StrategicMergeMapPatch: MergeParallelList and IgnoreUnmatchedNulls on). Lists merge by the
// patch-meta merge key; fields the schema doesn't know fall back to JSON merge patch semantics.
import { ApiError, type StatusDetails } from "./errors.ts";
import type { ListMeta, Prop, SchemaLookup } from "./schema.ts";

type JsonMap = Record<string, unknown>;
type Schema = Prop | undefined;

/** A patch Kubernetes refuses; code and wording follow the apiserver's patch handler. */
export class PatchError extends ApiError {
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(code, reason, message, details);
    this.name = "PatchError";
  }
}

const DIRECTIVE = "$patch";
const RETAIN_KEYS = "$retainKeys";
const DELETE_PREFIX = "$deleteFromPrimitiveList";
const ORDER_PREFIX = "$setElementOrder";

// interpretStrategicMergePatchError: these sentinel errors are 400 or 422; anything else reaches
// the client as a 500 with the raw message and no reason.
const badRequest = (m: string) => new PatchError(400, "BadRequest", m);
const internal = (m: string) => new PatchError(500, "", m);
const noListOfLists = () =>
  new PatchError(422, "Invalid", "the server rejected our request due to an error in our request", {
    causes: [{ reason: "UnexpectedServerResponse", message: "lists of lists are not supported" }],
  });
const BAD_PRIMITIVE_LIST = "invalid patch format of primitive list";
const BAD_RETAIN_KEYS = "invalid patch format of retainKeys";
const BAD_ORDER_LIST = "invalid patch format of setElementOrder list";

/** Applies a strategic merge patch to a copy of `original`; defName names its schema definition. */
export function applyStrategicMergePatch(
  original: unknown,
  patch: unknown,
  lookup: SchemaLookup,
  defName: string | undefined,
): JsonMap {
  const base = isMap(original) ? structuredClone(original) : {};
  if (patch === null || patch === undefined) return base;
  if (!isMap(patch)) {
    const t = Array.isArray(patch) ? "array" : typeof patch === "boolean" ? "bool" : typeof patch;
    throw badRequest(`json: cannot unmarshal ${t} into Go value of type map[string]interface {}`);
  }
  return new Merger(lookup).mergeMap(
    base,
    structuredClone(patch),
    defName ? { ref: defName } : undefined,
  );
}

class Merger {
  private readonly lookup: SchemaLookup;

  constructor(lookup: SchemaLookup) {
    this.lookup = lookup;
  }

  /** Schema and list metadata of a map's field; unknown → JSON merge semantics. */
  private sub(schema: Schema, key: string): { prop: Schema; meta?: ListMeta } {
    if (schema?.ref)
      return {
        prop: this.lookup.field(schema.ref, key),
        meta: this.lookup.listMeta(schema.ref, key),
      };
    if (schema?.additionalProperties) return { prop: schema.additionalProperties };
    return { prop: undefined };
  }

  mergeMap(original: JsonMap, patch: JsonMap, schema: Schema): JsonMap {
    if (Object.hasOwn(patch, DIRECTIVE)) return directiveInMap(patch[DIRECTIVE], patch);
    applyRetainKeys(original, patch);
    this.mergeOrderedLists(original, patch, schema);

    for (const [rawKey, patchV] of Object.entries(patch)) {
      const isDeleteList = rawKey.startsWith(DELETE_PREFIX);
      const k = isDeleteList ? extractKey(rawKey, DELETE_PREFIX) : rawKey;
      if (patchV === null) {
        delete original[k];
        continue;
      }
      if (!Object.hasOwn(original, k)) {
        if (!isDeleteList) setClean(original, k, patchV);
        continue;
      }
      const origV = original[k];
      const kind = goType(origV);
      if (kind !== goType(patchV)) {
        if (!isDeleteList) setClean(original, k, patchV);
        continue;
      }
      const { prop, meta } = this.sub(schema, k);
      if (kind === "map") {
        original[k] = this.mergeMap(origV as JsonMap, patchV as JsonMap, prop);
      } else if (kind === "slice") {
        original[k] = this.mergeSliceHandler(
          origV as unknown[],
          patchV as unknown[],
          prop?.items,
          meta,
          isDeleteList,
        );
      } else {
        original[k] = patchV; // same scalar type: even a delete list overwrites, as Go does
      }
    }
    return original;
  }

  private mergeSliceHandler(
    original: unknown[],
    patch: unknown[],
    elem: Schema,
    meta: ListMeta | undefined,
    isDeleteList: boolean,
  ): unknown[] {
    if (strategyOf(meta) === "merge" || isDeleteList)
      return this.mergeSlice(original, patch, elem, meta?.key ?? "", isDeleteList);
    return patch;
  }

  private mergeSlice(
    original: unknown[],
    patch: unknown[],
    elem: Schema,
    mergeKey: string,
    isDeleteList: boolean,
  ): unknown[] {
    if (original.length === 0 && patch.length === 0) return original;
    const kind = sliceElementType([original, patch]);
    let merged: unknown[];
    if (kind !== "map") {
      if (isDeleteList) return original.filter((v) => !patch.includes(v));
      merged = dedupe([...original, ...patch]);
    } else {
      if (!mergeKey)
        throw internal(`cannot merge lists without merge key for ${elem?.ref ?? "struct"}`);
      [original, patch] = withSpecialElements(original, patch as JsonMap[], mergeKey);
      merged = [...original];
      for (const v of patch as JsonMap[]) {
        if (!Object.hasOwn(v, mergeKey)) throw internal(noMergeKey(v, mergeKey));
        const i = findByKey(merged, mergeKey, v[mergeKey]);
        if (i >= 0) merged[i] = this.mergeMap(merged[i] as JsonMap, v, elem);
        else merged.push(clean(v));
      }
    }
    const [patchItems, serverOnly] = partition(merged, patch, mergeKey);
    return normalizeElementOrder(patchItems, serverOnly, patch, original, mergeKey, kind);
  }

  /** Lists named by `$setElementOrder/<field>`: merged, then ordered as the directive says. */
  private mergeOrderedLists(original: JsonMap, patch: JsonMap, schema: Schema): void {
    for (const key of Object.keys(patch)) {
      if (!key.startsWith(ORDER_PREFIX) || !Object.hasOwn(patch, key)) continue;
      const order = patch[key];
      delete patch[key];
      if (!Array.isArray(order)) throw internal(badArgType("[]interface {}", order));
      const field = extractKey(key, ORDER_PREFIX);
      const foundOrig = Object.hasOwn(original, field);
      const foundPatch = Object.hasOwn(patch, field);
      const origList = original[field];
      const patchList = patch[field];
      if (foundOrig && !Array.isArray(origList))
        throw internal(badArgType("[]interface {}", origList));
      if (foundPatch && !Array.isArray(patchList))
        throw internal(badArgType("[]interface {}", patchList));
      const origArr = (origList as unknown[] | undefined) ?? [];
      const patchArr = (patchList as unknown[] | undefined) ?? [];
      const { prop, meta } = this.sub(schema, field);
      const mergeKey = meta?.key ?? "";
      validateOrder(patchArr, order, mergeKey);
      let merged: unknown[];
      if (foundOrig && foundPatch)
        merged = this.mergeSliceHandler(origArr, patchArr, prop?.items, meta, false);
      else if (foundOrig) merged = origArr;
      else if (foundPatch) merged = clean(patchArr) as unknown[];
      else continue;
      const kind = sliceElementType([origArr, patchArr]);
      if (kind === "map" && !mergeKey)
        throw internal("cannot order a list of maps without merge key");
      const [patchItems, serverOnly] = partition(merged, order, mergeKey);
      original[field] = normalizeElementOrder(
        patchItems,
        serverOnly,
        order,
        origArr,
        mergeKey,
        kind,
      );
      delete patch[field];
    }
  }
}

function strategyOf(meta: ListMeta | undefined): string {
  return (meta?.strategy ?? "").split(",").find((s) => s !== "retainKeys") ?? "";
}

function directiveInMap(directive: unknown, patch: JsonMap): JsonMap {
  if (directive === "replace") {
    delete patch[DIRECTIVE];
    return clean(patch) as JsonMap;
  }
  if (directive === "delete") return {};
  throw internal(`unknown patch type: ${String(directive)} in map: ${goFmt(patch)}`);
}

function applyRetainKeys(original: JsonMap, patch: JsonMap): void {
  if (!Object.hasOwn(patch, RETAIN_KEYS)) return;
  const list = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(list)) throw badRequest(BAD_RETAIN_KEYS);
  const keep = new Set(list);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_PREFIX) || k.startsWith(ORDER_PREFIX)) continue;
    if (!keep.has(k)) throw badRequest(BAD_RETAIN_KEYS);
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

function extractKey(s: string, prefix: string): string {
  const slash = s.indexOf("/");
  if (slash < 0 || s.slice(0, slash) !== prefix)
    throw badRequest(prefix === DELETE_PREFIX ? BAD_PRIMITIVE_LIST : BAD_ORDER_LIST);
  return s.slice(slash + 1);
}

/** Applies `$patch` list items: delete removes by key, replace drops the original list. */
function withSpecialElements(
  original: unknown[],
  patch: JsonMap[],
  mergeKey: string,
): [unknown[], JsonMap[]] {
  const plain: JsonMap[] = [];
  let replace = false;
  for (const v of patch) {
    if (!Object.hasOwn(v, DIRECTIVE)) {
      plain.push(v);
      continue;
    }
    const d = v[DIRECTIVE];
    if (d === "delete") {
      if (!Object.hasOwn(v, mergeKey)) throw internal(noMergeKey(v, mergeKey));
      original = original.filter((o) => {
        if (!isMap(o)) throw internal("value for key is not a map");
        return !(Object.hasOwn(o, mergeKey) && o[mergeKey] === v[mergeKey]);
      });
    } else if (d === "replace") {
      replace = true;
    } else if (d === "merge") {
      throw internal("merging lists cannot yet be specified in the patch");
    } else {
      throw internal(`unknown patch type: ${String(d)} in map: ${goFmt(v)}`);
    }
  }
  return replace ? [plain.map((v) => clean(v) as JsonMap), []] : [original, plain];
}

function findByKey(list: unknown[], key: string, value: unknown): number {
  for (let i = 0; i < list.length; i++) {
    const m = list[i];
    if (!isMap(m)) throw internal(`value for key ${i} is not a map`);
    if (Object.hasOwn(m, key) && m[key] === value) return i;
  }
  return -1;
}

/** Splits `merged` into items present in `by` (by merge key for maps) and server-only items. */
function partition(merged: unknown[], by: unknown[], mergeKey: string): [unknown[], unknown[]] {
  const inPatch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const v of merged) {
    let found: boolean;
    if (!mergeKey) found = by.includes(v);
    else {
      if (!isMap(v)) throw internal(badArgType("map[string]interface {}", v));
      if (!Object.hasOwn(v, mergeKey)) throw internal(noMergeKey(v, mergeKey));
      found = findByKey(by, mergeKey, v[mergeKey]) >= 0;
    }
    (found ? inPatch : serverOnly).push(v);
  }
  return [inPatch, serverOnly];
}

// Order rules of Kubernetes: patch items follow the patch (or $setElementOrder) order,
// server-only items keep their relative order and are interleaved by the live order. Items new
// to the list therefore come before the server-only ones.
function normalizeElementOrder(
  patch: unknown[],
  serverOnly: unknown[],
  patchOrder: unknown[],
  serverOrder: unknown[],
  mergeKey: string,
  kind: string,
): unknown[] {
  const p = normalizeSliceOrder(patch, patchOrder, mergeKey, kind);
  const s = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(s, p, serverOrder, mergeKey, kind);
}

function normalizeSliceOrder(
  toSort: unknown[],
  order: unknown[],
  mergeKey: string,
  kind: string,
): unknown[] {
  let items = toSort;
  let toDelete: unknown[] = [];
  if (kind === "map") {
    for (const list of [toSort, order])
      for (const item of list) {
        if (!isMap(item)) throw internal(badArgType("map[string]interface {}", item));
        if (!Object.hasOwn(item, mergeKey)) throw internal(noMergeKey(item, mergeKey));
      }
    items = toSort.filter((v) => (v as JsonMap)[DIRECTIVE] !== "delete");
    toDelete = toSort.filter((v) => (v as JsonMap)[DIRECTIVE] === "delete");
  }
  // Go's sort.SliceStable (insertion sort) with its "not found sorts first" comparator.
  const less = (a: unknown, b: unknown) => {
    const ia = indexIn(order, a, mergeKey, kind);
    if (ia < 0) return true;
    const ib = indexIn(order, b, mergeKey, kind);
    return ib < 0 ? true : ia < ib;
  };
  const out = [...items];
  for (let i = 1; i < out.length; i++)
    for (let j = i; j > 0 && less(out[j], out[j - 1]); j--)
      [out[j], out[j - 1]] = [out[j - 1], out[j]];
  return [...out, ...toDelete];
}

function mergeSortedSlice(
  left: unknown[],
  right: unknown[],
  serverOrder: unknown[],
  mergeKey: string,
  kind: string,
): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey, kind);
      const ri = indexIn(serverOrder, right[j], mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

function indexIn(list: unknown[], item: unknown, mergeKey: string, kind: string): number {
  const val = (v: unknown) => (kind === "map" ? (isMap(v) ? (v[mergeKey] ?? null) : null) : v);
  const want = val(item);
  return list.findIndex((v) => val(v) === want);
}

function validateOrder(patchList: unknown[], order: unknown[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  let items = patchList;
  if (mergeKey) {
    for (const v of patchList)
      if (!isMap(v)) throw internal(badArgType("map[string]interface {}", v));
    items = patchList.filter((v) => (v as JsonMap)[DIRECTIVE] !== "delete");
  }
  let pi = 0;
  let si = 0;
  while (pi < items.length && si < order.length) {
    const item = items[pi];
    if (isMap(item) && Object.hasOwn(item, DIRECTIVE)) {
      pi++;
      continue;
    }
    if (keyEqual(item, order[si], mergeKey)) pi++;
    si++;
  }
  if (pi < items.length && si >= order.length)
    throw internal(
      `The order in patch list:\n${goFmt(patchList)}\n doesn't match ${ORDER_PREFIX} list:\n${goFmt(order)}\n`,
    );
}

function keyEqual(a: unknown, b: unknown, mergeKey: string): boolean {
  if (!mergeKey) return a === b;
  for (const v of [a, b]) {
    if (!isMap(v)) throw internal(badArgType("map[string]interface {}", v));
    if (!Object.hasOwn(v, mergeKey)) throw internal(noMergeKey(v, mergeKey));
  }
  return (a as JsonMap)[mergeKey] === (b as JsonMap)[mergeKey];
}

/** Element kind shared by all items, as strategicpatch's sliceElementType checks it. */
function sliceElementType(lists: unknown[][]): string {
  let prev: string | undefined;
  for (const list of lists)
    for (const v of list) {
      const t = goType(v);
      if (prev === undefined) {
        if (t === "slice") throw noListOfLists();
        prev = t;
      } else if (t !== prev) {
        throw internal(`list element types are not identical: ${goFmt(lists)}`);
      }
    }
  if (prev === undefined) throw internal("no elements in any of the given slices");
  return prev;
}

function dedupe(list: unknown[]): unknown[] {
  return list.filter((v, i) => list.indexOf(v) === i);
}

function setClean(target: JsonMap, k: string, v: unknown): void {
  const [out, keep] = removeDirectives(discardNulls(v));
  if (keep) target[k] = stripDirectiveKeys(out);
  else delete target[k];
}

/** A patch value as the typed object stores it: no nulls, no directives. */
function clean(v: unknown): unknown {
  return stripDirectiveKeys(removeDirectives(discardNulls(v))[0]);
}

function discardNulls(v: unknown): unknown {
  if (Array.isArray(v)) v.forEach(discardNulls);
  else if (isMap(v))
    for (const [k, x] of Object.entries(v)) {
      if (x === null) delete v[k];
      else discardNulls(x);
    }
  return v;
}

/** Drops maps carrying `$patch`; returns [value, keep]. */
function removeDirectives(v: unknown): [unknown, boolean] {
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const x of v) {
      const [y, keep] = removeDirectives(x);
      if (keep) out.push(y);
    }
    return [out, true];
  }
  if (isMap(v)) {
    if (Object.hasOwn(v, DIRECTIVE)) return [null, false];
    for (const [k, x] of Object.entries(v)) {
      const [y, keep] = removeDirectives(x);
      if (keep) v[k] = y;
      else delete v[k];
    }
  }
  return [v, true];
}

// Parallel-list and retainKeys directives inside a new value: the typed decode would drop them.
function stripDirectiveKeys(v: unknown): unknown {
  if (Array.isArray(v)) v.forEach(stripDirectiveKeys);
  else if (isMap(v))
    for (const [k, x] of Object.entries(v)) {
      if (
        k === RETAIN_KEYS ||
        k.startsWith(`${ORDER_PREFIX}/`) ||
        k.startsWith(`${DELETE_PREFIX}/`)
      )
        delete v[k];
      else stripDirectiveKeys(x);
    }
  return v;
}

function isMap(v: unknown): v is JsonMap {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The Go type a JSON value decodes to (ints and floats differ, as PreserveInts decodes them). */
function goType(v: unknown): string {
  if (v === null || v === undefined) return "nil";
  if (Array.isArray(v)) return "slice";
  if (typeof v === "object") return "map";
  if (typeof v === "number") return Number.isInteger(v) ? "int64" : "float64";
  return typeof v === "boolean" ? "bool" : "string";
}

function badArgType(expected: string, actual: unknown): string {
  const names: Record<string, string> = {
    nil: "%!s(<nil>)",
    slice: "[]interface {}",
    map: "map[string]interface {}",
  };
  const t = goType(actual);
  return `expected a ${expected}, but received a ${names[t] ?? t}`;
}

function noMergeKey(m: unknown, key: string): string {
  return `map: ${goFmt(m)} does not contain declared merge key: ${key}`;
}

/** fmt's %v of a decoded JSON value, for error messages worded as Go prints them. */
export function goFmt(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (Array.isArray(v)) return `[${v.map(goFmt).join(" ")}]`;
  if (isMap(v))
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goFmt(v[k])}`)
      .join(" ")}]`;
  return String(v);
}
