// Field ownership as the apiserver's fieldmanager tracks it: fieldsV1 sets
// (sigs.k8s.io/structured-merge-diff fieldpath), the typed walks that compute them, and the
// managedFields bookkeeping of ordinary create/update/patch requests.
import type { ListType, Prop, SchemaLookup } from "./schema.ts";

type JsonMap = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Path elements and field sets

export type PathElement =
  | { field: string }
  | { key: [string, unknown][] } // sorted by name
  | { value: unknown }
  | { index: number };
export type Path = PathElement[];

// A key or value element's identity is Go-style JSON, which is dear to build; the same element
// object is asked for it many times in one write (every path through a list item).
const ids = new WeakMap<PathElement, string>();

/** The element as fieldsV1 spells it; also its identity. */
export function peId(pe: PathElement): string {
  if ("field" in pe) return `f:${pe.field}`;
  if ("index" in pe) return `i:${pe.index}`;
  let id = ids.get(pe);
  if (id === undefined) {
    id =
      "key" in pe
        ? `k:{${pe.key.map(([k, v]) => `${goJson(k)}:${goJson(v)}`).join(",")}}`
        : `v:${goJson(pe.value)}`;
    ids.set(pe, id);
  }
  return id;
}

function parsePe(s: string): PathElement | undefined {
  const body = s.slice(2);
  switch (s.slice(0, 2)) {
    case "f:":
      return { field: body };
    case "k:": {
      const obj = JSON.parse(body) as JsonMap;
      return { key: Object.entries(obj).sort(([a], [b]) => cmpStr(a, b)) };
    }
    case "v:":
      return { value: JSON.parse(body) };
    case "i:":
      return { index: Number(body) };
    default:
      return undefined; // unknown element types are dropped, as structured-merge-diff does
  }
}

/** Path element as conflict messages print it: .spec, [name="x"], [="v"], [0]. */
export function peString(pe: PathElement): string {
  if ("field" in pe) return `.${pe.field}`;
  if ("key" in pe) return `[${pe.key.map(([k, v]) => `${k}=${valueString(v)}`).join(",")}]`;
  if ("value" in pe) return `[=${valueString(pe.value)}]`;
  return `[${pe.index}]`;
}

export const pathString = (p: Path): string => p.map(peString).join("");

function valueString(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(valueString).join(",")}]`;
  if (typeof v === "object")
    return Object.entries(v)
      .map(([k, x]) => `${k}=${valueString(x)}`)
      .join("");
  return String(v);
}

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
// value.Compare's order of kinds: numbers, strings, booleans, lists, maps, null.
const KIND_RANK: Record<string, number> = { number: 0, string: 1, boolean: 2 };
const rank = (v: unknown) =>
  KIND_RANK[typeof v] ?? (Array.isArray(v) ? 3 : v === null || v === undefined ? 5 : 4);

/** value.Compare: a total order over JSON values. */
function cmpValue(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return Math.sign((a as number) - (b as number));
  if (ra === 1) return cmpStr(a as string, b as string);
  if (ra === 2) return Number(a) - Number(b);
  if (ra === 3) {
    const x = a as unknown[];
    const y = b as unknown[];
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const c = cmpValue(x[i], y[i]);
      if (c) return c;
    }
    return x.length - y.length;
  }
  if (ra === 4) return cmpStr(goJson(a), goJson(b));
  return 0;
}

function cmpPe(a: PathElement, b: PathElement): number {
  const order = (pe: PathElement) => ("field" in pe ? 0 : "key" in pe ? 1 : "value" in pe ? 2 : 3);
  if (order(a) !== order(b)) return order(a) - order(b);
  if ("field" in a && "field" in b) return cmpStr(a.field, b.field);
  if ("key" in a && "key" in b) {
    for (let i = 0; i < Math.min(a.key.length, b.key.length); i++) {
      const c = cmpStr(a.key[i][0], b.key[i][0]) || cmpValue(a.key[i][1], b.key[i][1]);
      if (c) return c;
    }
    return a.key.length - b.key.length;
  }
  if ("value" in a && "value" in b) return cmpValue(a.value, b.value);
  return (a as { index: number }).index - (b as { index: number }).index;
}

/** A set of field paths: `members` are paths ending here, `children` hold longer ones. */
export class FieldSet {
  readonly members = new Map<string, PathElement>();
  readonly children = new Map<string, { pe: PathElement; set: FieldSet }>();

  static of(...paths: Path[]): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  insert(path: Path): void {
    if (path.length === 0) return;
    let set: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) {
      const id = peId(path[i]);
      let c = set.children.get(id);
      if (!c) {
        c = { pe: path[i], set: new FieldSet() };
        set.children.set(id, c);
      }
      set = c.set;
    }
    const last = path[path.length - 1];
    set.members.set(peId(last), last);
  }

  has(path: Path): boolean {
    if (path.length === 0) return false;
    let set: FieldSet | undefined = this;
    for (let i = 0; i < path.length - 1 && set; i++) set = set.children.get(peId(path[i]))?.set;
    return set?.members.has(peId(path[path.length - 1])) ?? false;
  }

  /** The paths below `pe`, without it (fieldpath's WithPrefix). */
  withPrefix(pe: PathElement): FieldSet {
    return this.children.get(peId(pe))?.set ?? new FieldSet();
  }

  empty(): boolean {
    return this.members.size === 0 && this.children.size === 0;
  }

  union(o: FieldSet): FieldSet {
    return this.combine(
      o,
      (a, b) => a || b,
      (a, b) => (a && b ? a.union(b) : (a ?? b)),
    );
  }

  difference(o: FieldSet): FieldSet {
    return this.combine(
      o,
      (a, b) => a && !b,
      (a, b) => (a && b ? a.difference(b) : a),
    );
  }

  intersection(o: FieldSet): FieldSet {
    return this.combine(
      o,
      (a, b) => a && b,
      (a, b) => (a && b ? a.intersection(b) : undefined),
    );
  }

  /** Removes `o`'s members and everything below them. */
  recursiveDifference(o: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const [id, pe] of this.members) if (!o.members.has(id)) out.members.set(id, pe);
    for (const [id, c] of this.children) {
      if (o.members.has(id)) continue;
      const other = o.children.get(id);
      const set = other ? c.set.recursiveDifference(other.set) : c.set;
      if (!set.empty()) out.children.set(id, { pe: c.pe, set });
    }
    return out;
  }

  private combine(
    o: FieldSet,
    member: (a: boolean, b: boolean) => boolean,
    child: (a?: FieldSet, b?: FieldSet) => FieldSet | undefined,
  ): FieldSet {
    const out = new FieldSet();
    for (const [id, pe] of [...this.members, ...o.members])
      if (member(this.members.has(id), o.members.has(id))) out.members.set(id, pe);
    for (const [id, c] of [...this.children, ...o.children]) {
      if (out.children.has(id)) continue;
      const set = child(this.children.get(id)?.set, o.children.get(id)?.set);
      if (set && !set.empty()) out.children.set(id, { pe: c.pe, set });
    }
    return out;
  }

  /** Every path, in fieldpath's Iterate order: members first, then children, each sorted. */
  paths(prefix: Path = []): Path[] {
    const out: Path[] = [];
    for (const pe of [...this.members.values()].sort(cmpPe)) out.push([...prefix, pe]);
    for (const c of [...this.children.values()].sort((a, b) => cmpPe(a.pe, b.pe)))
      out.push(...c.set.paths([...prefix, c.pe]));
    return out;
  }

  /** The fieldsV1 JSON object, keys in structured-merge-diff's order. */
  toFieldsV1(includeSelf = false): JsonMap {
    const out: JsonMap = {};
    if (includeSelf && !this.empty()) out["."] = {};
    const pes = new Map<string, PathElement>(this.members);
    for (const [id, c] of this.children) pes.set(id, c.pe);
    for (const [id] of [...pes].sort((a, b) => cmpPe(a[1], b[1]))) {
      const c = this.children.get(id);
      out[id] = c ? c.set.toFieldsV1(this.members.has(id)) : {};
    }
    return out;
  }

  static fromFieldsV1(v: unknown): FieldSet {
    const set = new FieldSet();
    if (typeof v !== "object" || v === null || Array.isArray(v)) return set;
    for (const [k, sub] of Object.entries(v)) {
      if (k === ".") continue;
      const pe = parsePe(k);
      if (!pe) continue;
      const id = peId(pe);
      const child = FieldSet.fromFieldsV1(sub);
      const selfMember = typeof sub === "object" && sub !== null && Object.hasOwn(sub, ".");
      if (child.empty() || selfMember) set.members.set(id, pe);
      if (!child.empty()) set.children.set(id, { pe, set: child });
    }
    return set;
  }
}

// ---------------------------------------------------------------------------------------------
// Types: the schema as structured-merge-diff sees it

export type TypeRef =
  | { kind: "struct"; def: string }
  | { kind: "map"; elem: TypeRef; atomic: boolean }
  | { kind: "list"; elem: TypeRef; list: ListType }
  | { kind: "scalar" }
  | { kind: "any" };

const ANY: TypeRef = { kind: "any" };
const SCALAR: TypeRef = { kind: "scalar" };

/** Resolves field types against the schema; unknown definitions and fields become deduced. */
export class Typer {
  readonly lookup: SchemaLookup;

  constructor(lookup: SchemaLookup) {
    this.lookup = lookup;
  }

  root(defName: string | undefined): TypeRef {
    return defName ? { kind: "struct", def: defName } : ANY;
  }

  fieldType(t: TypeRef, key: string): TypeRef {
    if (t.kind === "map") return t.elem;
    if (t.kind !== "struct") return ANY;
    const p = this.lookup.field(t.def, key);
    return p ? this.fromProp(p, t.def, key) : ANY;
  }

  /** Whether `key` is a declared field of a struct (named fields vs map keys). */
  isField(t: TypeRef, key: string): boolean {
    return t.kind === "struct" && this.lookup.field(t.def, key) !== undefined;
  }

  private fromProp(p: Prop, owner?: string, field = ""): TypeRef {
    if (p.ref) return { kind: "struct", def: p.ref };
    if (p.type === "array") {
      const list = owner ? this.lookup.listType(owner, field) : ({ type: "atomic" } as const);
      return { kind: "list", list, elem: p.items ? this.fromProp(p.items) : ANY };
    }
    if (p.additionalProperties)
      return {
        kind: "map",
        elem: this.fromProp(p.additionalProperties),
        atomic: owner ? this.lookup.atomic(owner, field) : false,
      };
    if (p.type === "object" || p.type === "any" || p.type === undefined) return ANY;
    return SCALAR;
  }

  isRequired(t: TypeRef, key: string): boolean {
    return t.kind === "struct" && this.lookup.required(t.def, key);
  }

  /** How a value is walked: a granular map, a list, an atomic value or a leaf. */
  shape(
    t: TypeRef,
    v: unknown,
  ):
    | { kind: "leaf" }
    | { kind: "map"; type: TypeRef }
    | { kind: "list"; list: ListType; elem: TypeRef } {
    const isObj = typeof v === "object" && v !== null && !Array.isArray(v);
    if (t.kind === "any") {
      if (isObj) return { kind: "map", type: { kind: "map", elem: ANY, atomic: false } };
      return { kind: "leaf" }; // deduced lists are atomic
    }
    if (t.kind === "struct" && isObj && !this.lookup.atomic(t.def)) return { kind: "map", type: t };
    if (t.kind === "map" && isObj && !t.atomic) return { kind: "map", type: t };
    if (t.kind === "list" && Array.isArray(v) && t.list.type !== "atomic")
      return { kind: "list", list: t.list, elem: t.elem };
    return { kind: "leaf" };
  }
}

/** A list item's path element: its key fields, or its value for sets. */
export function itemPe(list: ListType, item: unknown): PathElement | string {
  if (list.type === "map") {
    if (item === null) return "associative list with keys may not have a null element";
    if (typeof item !== "object" || Array.isArray(item))
      return "associative list with keys may not have non-map elements";
    const key: [string, unknown][] = [];
    for (const k of list.keys) {
      const v = Object.hasOwn(item, k) ? (item as JsonMap)[k] : list.defaults?.[k];
      if (v !== undefined) key.push([k, v]);
    }
    if (key.length === 0)
      return `associative list with keys has an element that omits all key fields ${goJson(list.keys)} (and doesn't have default values for any key fields)`;
    return { key: key.sort(([a], [b]) => cmpStr(a, b)) };
  }
  if (item === null) return "associative list without keys has an element that's an explicit null";
  if (Array.isArray(item)) return "not supported: associative list with lists as elements";
  if (typeof item === "object")
    return "associative list without keys has an element that's a map type";
  return { value: item };
}

/** Indexes a list's items by path element (first occurrence order); bad items become errors. */
export function indexItems(list: ListType, items: unknown[], at: Path, errors: string[]) {
  const pes: PathElement[] = [];
  const byId = new Map<string, unknown[]>();
  items.forEach((item, i) => {
    const pe = itemPe(list, item);
    if (typeof pe === "string") {
      errors.push(`${pathString(at)}: element ${i}: ${pe}`);
      return;
    }
    const id = peId(pe);
    const seen = byId.get(id);
    if (seen) seen.push(item);
    else {
      byId.set(id, [item]);
      pes.push(pe);
    }
  });
  return { pes, byId };
}

// ---------------------------------------------------------------------------------------------
// Typed walks

/** TypedValue.ToFieldSet. Without allowDuplicates, duplicate list keys are errors (validation). */
export function toFieldSet(
  typer: Typer,
  value: unknown,
  t: TypeRef,
  allowDuplicates = false,
): { set: FieldSet; errors: string[] } {
  const set = new FieldSet();
  const errors: string[] = [];
  const walk = (v: unknown, type: TypeRef, path: Path) => {
    const s = typer.shape(type, v);
    if (s.kind === "leaf") {
      if (v !== null) set.insert(path); // a null is inserted by its parent
      return;
    }
    if (s.kind === "list") {
      const { pes, byId } = indexItems(s.list, v as unknown[], path, errors);
      for (const pe of pes) {
        const items = byId.get(peId(pe)) ?? [];
        const at = [...path, pe];
        if (items.length > 1) {
          if (!allowDuplicates)
            errors.push(`${pathString(path)}: duplicate entries for key ${peString(pe)}`);
          set.insert(at);
          continue;
        }
        walk(items[0], s.elem, at);
        set.insert(at);
      }
      return;
    }
    for (const [k, x] of Object.entries(v as JsonMap)) {
      const at: Path = [...path, { field: k }];
      walk(x, typer.fieldType(s.type, k), at);
      const emptyMap =
        typeof x === "object" && x !== null && !Array.isArray(x) && !Object.keys(x).length;
      if (x === null || emptyMap || !typer.isField(s.type, k)) set.insert(at);
    }
  };
  walk(value, t, []);
  return { set, errors };
}

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** TypedValue.Compare: which leaves and items `rhs` adds, changes or removes relative to `lhs`. */
export function compare(typer: Typer, lhs: unknown, rhs: unknown, t: TypeRef): Comparison {
  const c: Comparison = {
    added: new FieldSet(),
    modified: new FieldSet(),
    removed: new FieldSet(),
  };
  const errors: string[] = [];
  const leaf = (l: unknown, r: unknown, path: Path) => {
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!jsonEqual(l, r)) c.modified.insert(path);
  };
  // `always`: the value exists on both sides in Go's typed objects (a non-pointer struct, or a
  // required list/map serialized as null), so only its contents count as added or removed.
  const walk = (l: unknown, r: unknown, type: TypeRef, path: Path, always = true) => {
    const ls = l === undefined ? undefined : typer.shape(type, l);
    const rs = r === undefined ? undefined : typer.shape(type, r);
    const s = ls ?? rs;
    if (
      !s ||
      s.kind === "leaf" ||
      (ls && rs && ls.kind !== rs.kind) ||
      (isEmpty(l) && isEmpty(r))
    ) {
      leaf(l, r, path);
      return;
    }
    if (s.kind === "list") {
      const li = indexItems(s.list, (l as unknown[] | undefined) ?? [], path, errors);
      const ri = indexItems(s.list, (r as unknown[] | undefined) ?? [], path, errors);
      const all = [...li.pes, ...ri.pes.filter((pe) => !li.byId.has(peId(pe)))];
      for (const pe of all) {
        const id = peId(pe);
        const ll = li.byId.get(id) ?? [];
        const rl = ri.byId.get(id) ?? [];
        const at = [...path, pe];
        if (ll.length <= 1 && rl.length <= 1) walk(ll[0], rl[0], s.elem, at, false);
        else if (ll.length >= 2 && rl.length >= 2) {
          if (!jsonEqual(ll, rl)) c.modified.insert(at);
        } else if (ll.length >= 2) {
          if (rl.length) walk(undefined, rl[0], s.elem, at, false);
          c.removed.insert(at);
        } else {
          if (ll.length) walk(ll[0], undefined, s.elem, at, false);
          c.added.insert(at);
        }
      }
    } else {
      const lm = (l as JsonMap | undefined) ?? {};
      const rm = (r as JsonMap | undefined) ?? {};
      for (const k of new Set([...Object.keys(lm), ...Object.keys(rm)])) {
        const ft = typer.fieldType(s.type, k);
        const always = ft.kind === "struct" || typer.isRequired(s.type, k);
        walk(lm[k], rm[k], ft, [...path, { field: k }], always);
      }
    }
    if (always) return;
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
  };
  walk(lhs, rhs, t, []);
  return c;
}

const isEmpty = (v: unknown) =>
  v === undefined ||
  (Array.isArray(v)
    ? v.length === 0
    : typeof v === "object" && v !== null && !Object.keys(v).length);

/** Set.EnsureNamedFieldsAreMembers: parents that are struct fields become members too. */
export function ensureNamedFieldsAreMembers(typer: Typer, set: FieldSet, t: TypeRef): FieldSet {
  const out = new FieldSet();
  for (const [id, pe] of set.members) out.members.set(id, pe);
  for (const [id, c] of set.children) {
    let childType: TypeRef = ANY;
    if ("field" in c.pe && (t.kind === "struct" || t.kind === "map")) {
      childType = typer.fieldType(t, c.pe.field);
      if (typer.isField(t, c.pe.field)) out.members.set(id, c.pe);
    } else if ("key" in c.pe && t.kind === "list") childType = t.elem;
    out.children.set(id, { pe: c.pe, set: ensureNamedFieldsAreMembers(typer, c.set, childType) });
  }
  return out;
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ak = Object.keys(a);
  const bm = b as JsonMap;
  return (
    ak.length === Object.keys(bm).length &&
    ak.every((k) => Object.hasOwn(bm, k) && jsonEqual((a as JsonMap)[k], bm[k]))
  );
}

/** JSON as Go's encoding/json writes it: map keys sorted, <, > and & escaped. */
export function goJson(v: unknown): string {
  const sorted = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sorted);
    if (typeof x === "object" && x !== null)
      return Object.fromEntries(
        Object.keys(x)
          .sort()
          .map((k) => [k, sorted((x as JsonMap)[k])]),
      );
    return x;
  };
  return escapeHtml(JSON.stringify(sorted(v)));
}

const escapeHtml = (json: string) =>
  json.replace(
    /[<>&\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );

// ---------------------------------------------------------------------------------------------
// managedFields entries and the manager bookkeeping

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time?: string;
  fieldsType: "FieldsV1";
  fieldsV1: JsonMap;
  subresource?: string;
}

export interface VersionedSet {
  set: FieldSet;
  apiVersion: string;
  applied: boolean;
}

/** Decoded managedFields keyed by manager identifier (manager, operation, version, subresource). */
export interface Managed {
  fields: Map<string, VersionedSet>;
  times: Map<string, string | undefined>;
}

export const emptyManaged = (): Managed => ({ fields: new Map(), times: new Map() });

export const copyManaged = (m: Managed): Managed => ({
  fields: new Map(m.fields),
  times: new Map(m.times),
});

interface ManagerInfo {
  manager: string;
  operation: string;
  apiVersion?: string;
  subresource?: string;
}

/** BuildManagerIdentifier: the entry minus time and fields; Apply entries ignore the version. */
export function managerId(e: ManagerInfo): string {
  const id: JsonMap = {};
  if (e.manager) id.manager = e.manager;
  if (e.operation) id.operation = e.operation;
  if (e.operation !== "Apply" && e.apiVersion) id.apiVersion = e.apiVersion;
  if (e.subresource) id.subresource = e.subresource;
  return escapeHtml(JSON.stringify(id)); // json.Marshal of the entry: struct order, omitempty
}

export function parseManagerId(id: string): ManagerInfo {
  return JSON.parse(id) as ManagerInfo;
}

/** DecodeManagedFields; throws with the apiserver's wording on malformed entries. */
export function decodeManagedFields(entries: unknown): Managed {
  const m = emptyManaged();
  if (entries === undefined || entries === null) return m;
  if (!Array.isArray(entries)) throw new Error("managedFields must be a list");
  entries.forEach((raw, i) => {
    const e = (raw ?? {}) as Partial<ManagedFieldsEntry>;
    if (e.operation !== "Apply" && e.operation !== "Update")
      throw new Error("operation must be `Apply` or `Update`");
    if (!e.apiVersion) throw new Error("apiVersion must not be empty");
    if (!e.fieldsType) throw new Error(`missing fieldsType in managed fields entry ${i}`);
    if (e.fieldsType !== "FieldsV1")
      throw new Error(`invalid fieldsType "${e.fieldsType}" in managed fields entry ${i}`);
    const id = managerId({ ...e, manager: e.manager ?? "", operation: e.operation });
    m.fields.set(id, {
      set: FieldSet.fromFieldsV1(e.fieldsV1),
      apiVersion: e.apiVersion,
      applied: e.operation === "Apply",
    });
    m.times.set(id, e.time);
  });
  return m;
}

const seconds = (t?: string) => (t ? Math.floor(Date.parse(t) / 1000) : 0);

/** encodeManagedFields: entries sorted by operation, time, manager, version, subresource. */
export function encodeManagedFields(m: Managed): ManagedFieldsEntry[] {
  const out: ManagedFieldsEntry[] = [];
  for (const [id, vs] of m.fields) {
    const info = parseManagerId(id);
    const time = m.times.get(id);
    // key order of metav1.ManagedFieldsEntry's JSON
    out.push({
      manager: info.manager ?? "",
      operation: vs.applied ? "Apply" : "Update",
      apiVersion: vs.apiVersion,
      ...(time ? { time } : {}),
      fieldsType: "FieldsV1",
      fieldsV1: vs.set.toFieldsV1(),
      ...(info.subresource ? { subresource: info.subresource } : {}),
    });
  }
  return out.sort(
    (p, q) =>
      cmpStr(p.operation, q.operation) ||
      seconds(p.time) - seconds(q.time) ||
      cmpStr(p.manager, q.manager) ||
      cmpStr(p.apiVersion, q.apiVersion) ||
      cmpStr(p.subresource ?? "", q.subresource ?? ""),
  );
}

/** RFC 3339 in seconds, as metav1.Time serializes. */
export const formatTime = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, "Z");

// Fields the server owns; fieldmanager's stripMeta drops them from every operation's set.
const stripSet = FieldSet.of(
  [{ field: "apiVersion" }],
  [{ field: "kind" }],
  [{ field: "metadata" }],
  ...[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
  ].map((f) => [{ field: "metadata" }, { field: f }]),
);

export function stripMeta(m: Managed, id: string): void {
  const vs = m.fields.get(id);
  if (!vs) return;
  const set = vs.set.difference(stripSet);
  if (set.empty()) m.fields.delete(id);
  else m.fields.set(id, { ...vs, set });
}

/** The reset-fields filter: what a request to the main resource or a subresource can't own. */
export function resetFilter(subresource?: string, resetFields?: string[][]): FieldSet {
  const paths =
    resetFields ?? (subresource === "status" ? [["spec"]] : subresource ? [] : [["status"]]);
  return FieldSet.of(...paths.map((p) => p.map((field) => ({ field }))));
}

/**
 * Updater.update: ownership after `live` became `next`. Fields others owned and `workflow`
 * changed are conflicts (an error unless forced, then ownership moves); removed fields are
 * no longer owned by anyone.
 */
export function updateOwnership(
  typer: Typer,
  live: unknown,
  next: unknown,
  t: TypeRef,
  reset: FieldSet,
  m: Managed,
  workflow: string,
  force: boolean,
): { comparison: Comparison; conflicts: Map<string, FieldSet> } {
  const raw = compare(typer, live, next, t);
  const cmp: Comparison = {
    added: raw.added.recursiveDifference(reset),
    modified: raw.modified.recursiveDifference(reset),
    removed: raw.removed.recursiveDifference(reset),
  };
  const changed = cmp.modified.union(cmp.added);
  const conflicts = new Map<string, FieldSet>();
  for (const [id, vs] of m.fields) {
    if (id === workflow) continue;
    const c = vs.set.intersection(changed);
    if (!c.empty()) conflicts.set(id, c);
  }
  if (!force && conflicts.size) return { comparison: cmp, conflicts };
  for (const [id, vs] of [...m.fields]) {
    if (id === workflow) continue;
    const set = vs.set.difference(conflicts.get(id) ?? new FieldSet()).difference(cmp.removed);
    if (set.empty()) m.fields.delete(id);
    else m.fields.set(id, { ...vs, set });
  }
  return { comparison: cmp, conflicts };
}

/** Records an Update by `id` (structured Update + stripMeta + managedFieldsUpdater). */
export function recordUpdate(
  typer: Typer,
  live: unknown,
  next: unknown,
  t: TypeRef,
  reset: FieldSet,
  m: Managed,
  id: string,
  apiVersion: string,
  now: string,
): void {
  const self = "current-operation";
  const { comparison: c } = updateOwnership(typer, live, next, t, reset, m, self, true);
  m.fields.set(self, {
    set: c.modified.union(c.added).recursiveDifference(reset),
    apiVersion,
    applied: false,
  });
  stripMeta(m, self);
  const vs = m.fields.get(self);
  m.fields.delete(self);
  if (!vs) return;
  const previous = m.fields.get(id);
  m.fields.set(id, { ...vs, set: previous ? vs.set.union(previous.set) : vs.set });
  m.times.set(id, now);
}

/** capManagersManager: more than 10 Update managers fold the oldest into "ancient-changes". */
export function capUpdateManagers(m: Managed, max = 10): void {
  const updaters = [...m.fields].filter(([, vs]) => !vs.applied).map(([id]) => id);
  if (updaters.length <= max) return;
  updaters.sort((a, b) => seconds(m.times.get(a)) - seconds(m.times.get(b)) || cmpStr(a, b));
  const firstByVersion = new Map<string, string>();
  let length = updaters.length;
  for (let i = 0; i < updaters.length && length > max; i++) {
    const id = updaters[i];
    const vs = m.fields.get(id) as VersionedSet;
    const time = m.times.get(id);
    const bucket = managerId({
      manager: "ancient-changes",
      operation: "Update",
      apiVersion: vs.apiVersion,
    });
    const first = firstByVersion.get(vs.apiVersion);
    if (first === undefined) {
      firstByVersion.set(vs.apiVersion, id);
      continue;
    }
    if (!m.fields.has(bucket)) {
      m.fields.set(bucket, m.fields.get(first) as VersionedSet);
      m.fields.delete(first);
    }
    const b = m.fields.get(bucket) as VersionedSet;
    m.fields.set(bucket, { ...vs, set: vs.set.union(b.set) });
    m.fields.delete(id);
    length--;
    m.times.set(bucket, time);
  }
}

// ---------------------------------------------------------------------------------------------
// Ordinary writes

export interface FieldManagerOptions {
  /** group/version of the request; defaults to the object's apiVersion. */
  apiVersion?: string;
  /** e.g. "status" for writes through a subresource. */
  subresource?: string;
  /** Top-level paths the request can't own (the strategy's reset fields). Default: status for
   * the main resource, spec for the status subresource. */
  resetFields?: string[][];
}

const apiVersionOf = (o: unknown): string | undefined => {
  const v = (o as JsonMap | undefined)?.apiVersion;
  return typeof v === "string" && v ? v : undefined;
};

export const metaOf = (o: unknown): JsonMap => {
  const m = (o as JsonMap | undefined)?.metadata;
  return typeof m === "object" && m !== null ? (m as JsonMap) : {};
};

/** A copy of an object without metadata.managedFields. */
export function withoutManagedFields(o: unknown): JsonMap {
  const copy = structuredClone((o ?? {}) as JsonMap);
  const meta = copy.metadata as JsonMap | undefined;
  if (meta && typeof meta === "object") delete meta.managedFields;
  return copy;
}

/** The object without metadata.managedFields, sharing the rest: for reads only (no deep copy). */
function withoutManagedFieldsView(o: unknown): JsonMap {
  const obj = (o ?? {}) as JsonMap;
  const meta = obj.metadata;
  if (typeof meta !== "object" || meta === null || !("managedFields" in meta)) return obj;
  const { managedFields: _, ...rest } = meta as JsonMap;
  return { ...obj, metadata: rest };
}

/**
 * The managedFields to store after a create (`old` undefined), update or patch by `manager`:
 * the writer takes ownership of every field it set or changed. An empty list means none.
 */
export function updateManagedFields(
  old: unknown,
  next: unknown,
  manager: string,
  operation: "Update",
  lookup: SchemaLookup,
  defName: string | undefined,
  now: Date,
  opts: FieldManagerOptions = {},
): ManagedFieldsEntry[] {
  const apiVersion = opts.apiVersion ?? apiVersionOf(next) ?? apiVersionOf(old);
  if (!apiVersion) throw new Error("updateManagedFields: the object has no apiVersion");
  const managed = decodeLiveOrNew(old, next, !!opts.subresource);
  // skipNonAppliedManager: objects that predate field tracking stay untracked until applied.
  if (managed.fields.size === 0 && old !== undefined && metaOf(old).uid) return [];
  const typer = new Typer(lookup);
  const id = managerId({
    manager: manager || "unknown",
    operation,
    apiVersion,
    subresource: opts.subresource,
  });
  try {
    recordUpdate(
      typer,
      withoutManagedFieldsView(old),
      withoutManagedFieldsView(next),
      typer.root(defName),
      resetFilter(opts.subresource, opts.resetFields),
      managed,
      id,
      apiVersion,
      formatTime(now),
    );
  } catch {
    // UpdateNoErrors: a failure keeps the live object's managedFields.
    const entries = metaOf(old).managedFields;
    return Array.isArray(entries) ? (entries as ManagedFieldsEntry[]) : [];
  }
  capUpdateManagers(managed);
  return encodeManagedFields(managed);
}

/** decodeLiveOrNew: a request may set or reset managedFields, except through a subresource. */
function decodeLiveOrNew(old: unknown, next: unknown, isSubresource: boolean): Managed {
  const decode = (o: unknown) => {
    try {
      return decodeManagedFields(metaOf(o).managedFields);
    } catch {
      return emptyManaged();
    }
  };
  if (isSubresource) return decode(old);
  const requested = metaOf(next).managedFields;
  if (Array.isArray(requested)) {
    const reset =
      requested.length === 0 ||
      (requested.length === 1 &&
        typeof requested[0] === "object" &&
        requested[0] !== null &&
        Object.keys(requested[0]).length === 0);
    if (reset) return emptyManaged();
    try {
      const m = decodeManagedFields(requested);
      if (m.fields.size) return m;
    } catch {
      // fall back to the live object's
    }
  }
  return decode(old);
}
