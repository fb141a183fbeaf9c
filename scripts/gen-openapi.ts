// Generates, from the kubernetes-types declarations (types and JSDoc descriptions):
// - the OpenAPI v3 documents served under /openapi/v3 (kubectl explain/apply/diff read them),
// - src/resources/schema.gen.json, the compact schema the Worker validates and merges with.
//
//   node scripts/gen-openapi.ts [--out public/openapi] [--schema src/resources/schema.gen.json]

import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import ts from "typescript";
import { type ListMeta, patchMeta } from "../src/k8s/patch-meta.ts";
import { catalog, groupVersion, type ResourceInfo } from "../src/resources/catalog.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const TYPES_DIR = join(ROOT, "node_modules/kubernetes-types");
const K8S_VERSION = "v1.32.0";
const META = "io.k8s.apimachinery.pkg.apis.meta.v1";
const QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const SCALE = "io.k8s.api.autoscaling.v1.Scale";
const SCHEMAS = "#/components/schemas/";

// kubernetes-types inlines IntOrString as `number | string`, so its definition is written here.
const INT_OR_STRING_DOC =
  "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.";

/** Meta types every document and the compact schema carry besides the served kinds. */
const META_ROOTS = [
  "Status",
  "StatusDetails",
  "StatusCause",
  "DeleteOptions",
  "Preconditions",
  "ListMeta",
  "ObjectMeta",
  "ManagedFieldsEntry",
  "OwnerReference",
  "APIResourceList",
].map((name) => `${META}.${name}`);

/** Modules of kubernetes-types whose Go package is not k8s.io/api/<group>/<version>. */
const PACKAGES: Record<string, string> = {
  "meta/v1": META,
  "api/resource": "io.k8s.apimachinery.pkg.api.resource",
  runtime: "io.k8s.apimachinery.pkg.runtime",
  version: "io.k8s.apimachinery.pkg.version",
  "apiextensions/v1": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
};

/** Scalar schemas Kubernetes publishes for its named wire types. */
const SCALAR_SCHEMAS: Record<string, JsonObject> = {
  [`${META}.Time`]: { type: "string", format: "date-time" },
  [`${META}.MicroTime`]: { type: "string", format: "date-time" },
  [QUANTITY]: { oneOf: [{ type: "string" }, { type: "number" }] },
  [INT_OR_STRING]: {
    format: "int-or-string",
    oneOf: [{ type: "integer" }, { type: "string" }],
    "x-kubernetes-int-or-string": true,
  },
};

// Map lists whose items Kubernetes keys by more than the strategic-merge key alone.
const LIST_MAP_KEYS: Record<string, string[]> = {
  "io.k8s.api.core.v1.Container.ports": ["containerPort", "protocol"],
  "io.k8s.api.core.v1.EphemeralContainer.ports": ["containerPort", "protocol"],
  "io.k8s.api.core.v1.ServiceSpec.ports": ["port", "protocol"],
  "io.k8s.api.core.v1.PodSpec.topologySpreadConstraints": ["topologyKey", "whenUnsatisfiable"],
};

type Json = string | number | boolean | null | Json[] | JsonObject;
type JsonObject = { [key: string]: Json };

type Scalar = "string" | "integer" | "boolean" | "int-or-string" | "any";
type TypeExpr =
  | { kind: "scalar"; type: Scalar }
  | { kind: "ref"; def: string }
  | { kind: "array"; items: TypeExpr }
  | { kind: "map"; values: TypeExpr };

interface Field {
  name: string;
  type: TypeExpr;
  required: boolean;
  description?: string;
}

/** An interface (fields; none for opaque objects) or a named alias of another type. */
interface Def {
  description?: string;
  fields?: Field[];
  alias?: TypeExpr;
}

type Defs = Map<string, Def>;

/** Maps a type name used in a module to its definition name. */
type Resolve = (name: string) => string;

interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/** Problems found while mapping, by the definition they concern (reported if it is used). */
const warnings = new Map<string, string | undefined>();
const warn = (message: string, def?: string): void => {
  warnings.set(message, def);
};

/** Where a type appears: its definition, and the path reported in warnings. */
interface Where {
  def: string;
  path: string;
}

const warnAt = (where: Where, message: string): void =>
  warn(`${where.path}: ${message}`, where.def);

const scalar = (type: Scalar): TypeExpr => ({ kind: "scalar", type });

// ---- Parsing kubernetes-types ---------------------------------------------------------------

const packageOf = (module: string): string =>
  PACKAGES[module] ?? `io.k8s.api.${module.replaceAll("/", ".")}`;

function loadDefinitions(): Defs {
  const defs: Defs = new Map();
  const files = readdirSync(TYPES_DIR, { recursive: true, encoding: "utf8" });
  for (const file of files.filter((f) => f.endsWith(".d.ts")).sort()) {
    parseModule(file.replaceAll("\\", "/").replace(/\.d\.ts$/, ""), defs);
  }
  defs.set(INT_OR_STRING, { description: INT_OR_STRING_DOC, alias: scalar("int-or-string") });
  return defs;
}

function parseModule(module: string, defs: Defs): void {
  const text = readFileSync(join(TYPES_DIR, `${module}.d.ts`), "utf8");
  const source = ts.createSourceFile(module, text, ts.ScriptTarget.Latest);
  const resolve = nameResolver(source, module);
  for (const stmt of source.statements) {
    if (ts.isInterfaceDeclaration(stmt)) {
      const name = resolve(stmt.name.text);
      defs.set(name, interfaceDef(stmt, name, text, resolve));
    } else if (ts.isTypeAliasDeclaration(stmt)) {
      const name = resolve(stmt.name.text);
      const alias = convertType(stmt.type, resolve, { def: name, path: name });
      defs.set(name, { description: docComment(text, stmt), alias });
    }
  }
}

/** Maps a type name used in a module to its definition name, following the module's imports. */
function nameResolver(source: ts.SourceFile, module: string): Resolve {
  const imported = new Map<string, string>();
  for (const stmt of source.statements) {
    if (!ts.isImportDeclaration(stmt) || !ts.isStringLiteral(stmt.moduleSpecifier)) continue;
    const from = posix.join(posix.dirname(module), stmt.moduleSpecifier.text);
    const bindings = stmt.importClause?.namedBindings;
    if (!bindings || !ts.isNamedImports(bindings)) continue;
    for (const el of bindings.elements) {
      imported.set(el.name.text, `${packageOf(from)}.${(el.propertyName ?? el.name).text}`);
    }
  }
  return (name) => imported.get(name) ?? `${packageOf(module)}.${name}`;
}

function interfaceDef(
  decl: ts.InterfaceDeclaration,
  name: string,
  text: string,
  resolve: Resolve,
): Def {
  if (decl.heritageClauses) warn(`${name}: inherited fields are ignored`, name);
  const fields: Field[] = [];
  for (const member of decl.members) {
    const field = member.name && propertyName(member.name);
    if (!ts.isPropertySignature(member) || !member.type || !field) {
      warn(`${name}: skipped a member that is not a plain property`, name);
      continue;
    }
    fields.push({
      name: field,
      type: convertType(member.type, resolve, { def: name, path: `${name}.${field}` }),
      required: !member.questionToken,
      description: docComment(text, member),
    });
  }
  return { description: docComment(text, decl), fields };
}

function propertyName(name: ts.PropertyName): string | undefined {
  return ts.isIdentifier(name) || ts.isStringLiteral(name) ? name.text : undefined;
}

/** The text of the JSDoc block right before a node, without comment markers. */
function docComment(text: string, node: ts.Node): string | undefined {
  const range = ts.getLeadingCommentRanges(text, node.pos)?.at(-1);
  const raw = range && text.slice(range.pos, range.end);
  if (!raw?.startsWith("/**")) return undefined;
  const lines = raw.slice(3, -2).split("\n");
  return (
    lines
      .map((line) => line.replace(/^\s*\* ?/, ""))
      .join("\n")
      .trim() || undefined
  );
}

function convertType(node: ts.TypeNode, resolve: Resolve, where: Where): TypeExpr {
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return scalar("string");
    case ts.SyntaxKind.NumberKeyword:
      return scalar("integer"); // the reachable API has no floats; Go ints lose their width here
    case ts.SyntaxKind.BooleanKeyword:
      return scalar("boolean");
    case ts.SyntaxKind.AnyKeyword:
    case ts.SyntaxKind.UnknownKeyword:
    case ts.SyntaxKind.ObjectKeyword:
      return scalar("any");
  }
  if (ts.isParenthesizedTypeNode(node)) return convertType(node.type, resolve, where);
  if (ts.isLiteralTypeNode(node)) return literalType(node, where);
  if (ts.isArrayTypeNode(node)) {
    return { kind: "array", items: convertType(node.elementType, resolve, where) };
  }
  if (ts.isUnionTypeNode(node)) return unionType(node, resolve, where);
  if (ts.isTypeLiteralNode(node)) return mapType(node, resolve, where);
  if (ts.isTypeReferenceNode(node)) return referenceType(node, resolve, where);
  warnAt(where, `unsupported type syntax, mapped to any`);
  return scalar("any");
}

function literalType(node: ts.LiteralTypeNode, where: Where): TypeExpr {
  const { kind } = node.literal;
  if (kind === ts.SyntaxKind.StringLiteral) return scalar("string");
  if (kind === ts.SyntaxKind.NumericLiteral) return scalar("integer");
  if (kind === ts.SyntaxKind.TrueKeyword || kind === ts.SyntaxKind.FalseKeyword) {
    return scalar("boolean");
  }
  warnAt(where, `unsupported literal type, mapped to any`);
  return scalar("any");
}

/** `number | string` is how kubernetes-types spells IntOrString; literal unions collapse. */
function unionType(node: ts.UnionTypeNode, resolve: Resolve, where: Where): TypeExpr {
  const members = node.types.map((t) => convertType(t, resolve, where));
  const kinds = new Set(members.map((m) => (m.kind === "scalar" ? m.type : "complex")));
  if (kinds.size === 1 && !kinds.has("complex")) return members[0];
  if (kinds.size === 2 && kinds.has("integer") && kinds.has("string")) {
    return { kind: "ref", def: INT_OR_STRING };
  }
  warnAt(where, `union type mapped to any`);
  return scalar("any");
}

function mapType(node: ts.TypeLiteralNode, resolve: Resolve, where: Where) {
  const [index] = node.members;
  if (node.members.length === 1 && ts.isIndexSignatureDeclaration(index) && index.type) {
    return { kind: "map", values: convertType(index.type, resolve, where) } satisfies TypeExpr;
  }
  warnAt(where, `inline object type mapped to any`);
  return scalar("any");
}

function referenceType(node: ts.TypeReferenceNode, resolve: Resolve, where: Where): TypeExpr {
  const args = node.typeArguments ?? [];
  if (!ts.isIdentifier(node.typeName)) {
    warnAt(where, `qualified type name mapped to any`);
    return scalar("any");
  }
  if (node.typeName.text === "Array" && args.length === 1) {
    return { kind: "array", items: convertType(args[0], resolve, where) };
  }
  if (args.length > 0) warnAt(where, `generic ${node.typeName.text} mapped without arguments`);
  return { kind: "ref", def: resolve(node.typeName.text) };
}

// ---- Selection -----------------------------------------------------------------------------

function* refsOf(type: TypeExpr): Generator<string> {
  if (type.kind === "ref") yield type.def;
  else if (type.kind === "array") yield* refsOf(type.items);
  else if (type.kind === "map") yield* refsOf(type.values);
}

/** Definition names reachable from the roots. */
function closure(roots: string[], defs: Defs): Set<string> {
  const seen = new Set<string>();
  const pending = [...roots];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (seen.has(name)) continue;
    const def = defs.get(name);
    if (!def) {
      warn(`no definition for ${name}`);
      continue;
    }
    seen.add(name);
    const types = def.alias ? [def.alias] : (def.fields ?? []).map((f) => f.type);
    for (const type of types) pending.push(...refsOf(type));
  }
  return seen;
}

function rootsOf(resources: ResourceInfo[]): string[] {
  const roots = [...META_ROOTS];
  for (const r of resources) roots.push(r.definition, ...(r.verbs ? [] : [`${r.definition}List`]));
  if (resources.some((r) => r.subresources?.includes("scale"))) roots.push(SCALE);
  return roots;
}

/** Flags patch-meta.ts entries that name no field, so a typo there does not go unnoticed. */
function checkPatchMeta(defs: Defs): void {
  for (const [defName, fields] of Object.entries(patchMeta)) {
    const known = new Set(defs.get(defName)?.fields?.map((f) => f.name));
    for (const field of Object.keys(fields)) {
      if (!known.has(field)) warn(`patch-meta: ${defName}.${field} is not a field`);
    }
  }
}

// ---- Compact schema (src/resources/schema.gen.json) -----------------------------------------

interface Prop {
  type?: string;
  ref?: string;
  items?: Prop;
  additionalProperties?: Prop;
}

function compactProp(type: TypeExpr, defs: Defs): Prop {
  switch (type.kind) {
    case "scalar":
      return { type: type.type === "integer" ? "number" : type.type };
    case "array":
      return { type: "array", items: compactProp(type.items, defs) };
    case "map":
      return { type: "object", additionalProperties: compactProp(type.values, defs) };
    case "ref": {
      const def = defs.get(type.def);
      if (def?.alias) return compactProp(def.alias, defs); // Time, Quantity, IntOrString
      if (!def?.fields?.length) return { type: "any" }; // opaque: RawExtension, FieldsV1
      return { ref: type.def };
    }
  }
}

function compactSchema(defs: Defs): JsonObject {
  const definitions: JsonObject = {};
  for (const name of closure(rootsOf(catalog), defs)) {
    const fields = defs.get(name)?.fields;
    if (!fields?.length) continue; // inlined into the props that use them
    const properties: JsonObject = {};
    for (const f of fields) properties[f.name] = compactProp(f.type, defs) as JsonObject;
    const required = fields.filter((f) => f.required).map((f) => f.name);
    definitions[name] = required.length > 0 ? { properties, required } : { properties };
  }
  const kinds: JsonObject = {};
  for (const r of catalog) kinds[`${groupVersion(r)}/${r.kind}`] = r.definition;
  return { definitions, kinds };
}

// ---- OpenAPI component schemas --------------------------------------------------------------

const refSchema = (def: string): JsonObject => ({ $ref: `${SCHEMAS}${def}` });

function typeSchema(type: TypeExpr): JsonObject {
  switch (type.kind) {
    case "scalar":
      if (type.type === "int-or-string") return refSchema(INT_OR_STRING);
      return type.type === "any" ? {} : { type: type.type };
    case "array":
      return { type: "array", items: typeSchema(type.items) };
    case "map":
      return { type: "object", additionalProperties: typeSchema(type.values) };
    case "ref":
      return refSchema(type.def);
  }
}

/** Strategic-merge extensions for a field, as Kubernetes publishes its patch struct tags. */
function patchExtensions(owner: string, field: Field): JsonObject {
  const meta: ListMeta | undefined = patchMeta[owner]?.[field.name];
  if (!meta) return {};
  const ext: JsonObject = { "x-kubernetes-patch-strategy": meta.strategy };
  if (meta.key) ext["x-kubernetes-patch-merge-key"] = meta.key;
  if (field.type.kind !== "array" || !meta.strategy.includes("merge")) return ext;
  if (!meta.key) return { ...ext, "x-kubernetes-list-type": "set" };
  const keys = LIST_MAP_KEYS[`${owner}.${field.name}`] ?? [meta.key];
  return { ...ext, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys };
}

function propertySchema(owner: string, field: Field): JsonObject {
  const schema = typeSchema(field.type);
  if (field.description) schema.description = field.description;
  return { ...schema, ...patchExtensions(owner, field) };
}

function componentSchema(name: string, def: Def, gvks: Gvk[] | undefined): JsonObject {
  const schema: JsonObject = def.alias
    ? { ...(SCALAR_SCHEMAS[name] ?? typeSchema(def.alias)) }
    : { type: "object" };
  if (def.description) schema.description = def.description;
  const fields = def.fields ?? [];
  if (fields.length > 0) {
    const properties: JsonObject = {};
    for (const f of fields) properties[f.name] = propertySchema(name, f);
    schema.properties = properties;
  }
  const required = fields.filter((f) => f.required).map((f) => f.name);
  if (required.length > 0) schema.required = required;
  if (gvks) schema["x-kubernetes-group-version-kind"] = gvks.map((g) => ({ ...g }));
  return schema;
}

/** Definition name → the group/version/kinds it is the schema of. */
function gvkIndex(gvs: GroupVersion[]): Map<string, Gvk[]> {
  const index = new Map<string, Gvk[]>();
  const add = (def: string, gvk: Gvk) => index.set(def, [...(index.get(def) ?? []), gvk]);
  for (const r of catalog) {
    const { group, version, kind } = r;
    add(r.definition, { group, version, kind });
    add(`${r.definition}List`, { group, version, kind: `${kind}List` });
  }
  add(SCALE, { group: "autoscaling", version: "v1", kind: "Scale" });
  add(`${META}.Status`, { group: "", version: "v1", kind: "Status" });
  add(`${META}.APIResourceList`, { group: "", version: "v1", kind: "APIResourceList" });
  for (const { group, version } of gvs) {
    add(`${META}.DeleteOptions`, { group, version, kind: "DeleteOptions" });
  }
  return index;
}

// ---- OpenAPI paths --------------------------------------------------------------------------

interface GroupVersion {
  group: string;
  version: string;
  resources: ResourceInfo[];
}

function groupVersions(): GroupVersion[] {
  const byKey = new Map<string, GroupVersion>();
  for (const r of catalog) {
    const key = groupVersion(r);
    const gv = byKey.get(key) ?? { group: r.group, version: r.version, resources: [] };
    gv.resources.push(r);
    byKey.set(key, gv);
  }
  return [...byKey.values()];
}

/** "api/v1" or "apis/apps/v1": the document's key in the index and its URL path. */
const docPath = (gv: Pick<GroupVersion, "group" | "version">): string =>
  gv.group ? `apis/${gv.group}/${gv.version}` : `api/${gv.version}`;

type Action = "get" | "list" | "post" | "put" | "patch" | "delete";

const LIST_PARAMS = [
  "allowWatchBookmarks",
  "continue",
  "fieldSelector",
  "labelSelector",
  "limit",
  "resourceVersion",
  "resourceVersionMatch",
  "timeoutSeconds",
  "watch",
];
const WRITE_PARAMS = ["dryRun", "fieldManager", "fieldValidation"];
const DELETE_PARAMS = ["dryRun", "gracePeriodSeconds", "propagationPolicy"];

/** Per action: HTTP method, operationId verb, description prefix and query parameters. */
const ACTIONS: Record<Action, [method: string, verb: string, text: string, params: string[]]> = {
  get: ["get", "read", "read the specified", []],
  list: ["get", "list", "list or watch objects of kind", LIST_PARAMS],
  post: ["post", "create", "create a", WRITE_PARAMS],
  put: ["put", "replace", "replace the specified", WRITE_PARAMS],
  patch: ["patch", "patch", "partially update the specified", [...WRITE_PARAMS, "force"]],
  delete: ["delete", "delete", "delete a", DELETE_PARAMS],
};

const QUERY_PARAMS: Record<string, [type: string, description: string]> = {
  allowWatchBookmarks: [
    "boolean",
    'Request watch events of type "BOOKMARK". Ignored unless watching.',
  ],
  continue: ["string", "The continue token of a previous chunked list, to fetch the next chunk."],
  dryRun: [
    "string",
    "When present, modifications are not persisted. The only valid value is All: run every stage.",
  ],
  fieldManager: ["string", "Name of the actor making these changes, recorded in managedFields."],
  fieldSelector: ["string", "Restrict the returned objects by their fields. Defaults to all."],
  fieldValidation: [
    "string",
    "How to treat unknown or duplicate fields in the body: Ignore, Warn (default) or Strict.",
  ],
  force: ["boolean", "Force an apply, taking over fields owned by other managers. Apply only."],
  gracePeriodSeconds: ["integer", "Seconds before the object is deleted; zero means at once."],
  labelSelector: ["string", "Restrict the returned objects by their labels. Defaults to all."],
  limit: ["integer", "Maximum number of items to return; continue fetches the rest."],
  pretty: ["string", "If 'true', then the output is pretty printed."],
  propagationPolicy: ["string", "How dependents are collected: Orphan, Background or Foreground."],
  resourceVersion: ["string", "Which resource versions the request may be served from."],
  resourceVersionMatch: ["string", "How resourceVersion applies to a list: Exact or NotOlderThan."],
  timeoutSeconds: ["integer", "Timeout for the list or watch call."],
  watch: ["boolean", "Watch for changes to the described resources, as a stream of events."],
};

const queryParam = (name: string): JsonObject => ({
  name,
  in: "query",
  description: QUERY_PARAMS[name][1],
  schema: { type: QUERY_PARAMS[name][0], uniqueItems: true },
});

const pathParam = (name: string, description: string): JsonObject => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string", uniqueItems: true },
});

const PATCH_TYPES = [
  "application/apply-patch+yaml",
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
];

function content(def: string, types: string[]): JsonObject {
  const out: JsonObject = {};
  for (const type of types) out[type] = { schema: refSchema(def) };
  return out;
}

const BODY_TYPES = ["application/json", "application/yaml"];
const reply = (description: string, def: string, types = BODY_TYPES): JsonObject => ({
  description,
  content: content(def, types),
});

function responses(action: Action, def: string): JsonObject {
  const unauthorized = { description: "Unauthorized" };
  const ok = reply("OK", def);
  switch (action) {
    case "list":
      return {
        "200": reply("OK", def, [...BODY_TYPES, "application/json;stream=watch"]),
        "401": unauthorized,
      };
    case "get":
      return { "200": ok, "401": unauthorized };
    case "post":
      return {
        "200": ok,
        "201": reply("Created", def),
        "202": reply("Accepted", def),
        "401": unauthorized,
      };
    case "put":
    case "patch":
      return { "200": ok, "201": reply("Created", def), "401": unauthorized };
    case "delete":
      return {
        "200": reply("OK", `${META}.Status`),
        "202": reply("Accepted", `${META}.Status`),
        "401": unauthorized,
      };
  }
}

function requestBody(action: Action, def: string): JsonObject | undefined {
  if (action === "post" || action === "put") {
    return { required: true, content: content(def, BODY_TYPES) };
  }
  if (action === "patch") return { required: true, content: content(`${META}.Patch`, PATCH_TYPES) };
  if (action === "delete")
    return { content: content(`${META}.DeleteOptions`, ["application/json"]) };
  return undefined;
}

/** What one path's operations act on. */
interface Target {
  /** operationId without its verb, e.g. AppsV1NamespacedDeploymentScale */
  id: string;
  gvk: Gvk;
  /** Definition of the object read and written (the List kind for list). */
  def: string;
  tag: string;
}

function operation(action: Action, target: Target): JsonObject {
  const [, verb, text, params] = ACTIONS[action];
  const op: JsonObject = {
    description: `${text} ${target.gvk.kind}`,
    operationId: `${verb}${target.id}`,
    parameters: params.map(queryParam),
    responses: responses(action, target.def),
    tags: [target.tag],
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": { ...target.gvk },
  };
  const body = requestBody(action, target.def);
  if (body) op.requestBody = body;
  return op;
}

function pathItem(params: JsonObject[], actions: Action[], target: Target): JsonObject {
  const item: JsonObject = { parameters: [...params, queryParam("pretty")] };
  for (const action of actions) item[ACTIONS[action][0]] = operation(action, target);
  return item;
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Kubernetes' operationId prefix: "CoreV1", "AppsV1", "NetworkingV1" (networking.k8s.io). */
function idPrefix(gv: Pick<GroupVersion, "group" | "version">): string {
  const group = gv.group ? gv.group.replace(/\.k8s\.io$/, "").split(".") : ["core"];
  return [...group, gv.version].map(capitalize).join("");
}

function resourcePaths(r: ResourceInfo, tag: string): JsonObject {
  const base = `/${docPath(r)}`;
  const collection = r.namespaced
    ? `${base}/namespaces/{namespace}/${r.plural}`
    : `${base}/${r.plural}`;
  const item = `${collection}/{name}`;
  const scope = r.namespaced
    ? [pathParam("namespace", "object name and auth scope, such as for teams and projects")]
    : [];
  const named = [pathParam("name", `name of the ${r.kind}`), ...scope];
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  const id = `${idPrefix(r)}${r.namespaced ? "Namespaced" : ""}${r.kind}`;
  const self: Target = { id, gvk, def: r.definition, tag };
  // A review is only ever created.
  if (r.verbs)
    return { [collection]: { ...pathItem(scope, [], self), post: operation("post", self) } };

  const paths: JsonObject = {
    [collection]: {
      ...pathItem(scope, ["list"], { ...self, def: `${r.definition}List` }),
      post: operation("post", self),
    },
    [item]: pathItem(named, ["get", "put", "patch", "delete"], self),
  };
  if (r.namespaced) {
    const all = {
      ...self,
      id: `${idPrefix(r)}${r.kind}ForAllNamespaces`,
      def: `${r.definition}List`,
    };
    paths[`${base}/${r.plural}`] = pathItem([], ["list"], all);
  }
  if (r.subresources?.includes("status")) {
    paths[`${item}/status`] = pathItem(named, ["get", "put", "patch"], {
      ...self,
      id: `${id}Status`,
    });
  }
  if (r.subresources?.includes("scale")) {
    const scale = { group: "autoscaling", version: "v1", kind: "Scale" };
    paths[`${item}/scale`] = pathItem(named, ["get", "put", "patch"], {
      ...self,
      id: `${id}Scale`,
      gvk: scale,
      def: SCALE,
    });
  }
  return paths;
}

function gvDocument(gv: GroupVersion, defs: Defs, gvks: Map<string, Gvk[]>): JsonObject {
  const group = gv.group ? gv.group.replace(/\.k8s\.io$/, "").replaceAll(".", "_") : "core";
  const paths: JsonObject = {};
  for (const r of gv.resources) Object.assign(paths, resourcePaths(r, `${group}_${gv.version}`));
  const schemas: JsonObject = {};
  for (const name of closure([...rootsOf(gv.resources), `${META}.Patch`], defs)) {
    const def = defs.get(name);
    if (def) schemas[name] = componentSchema(name, def, gvks.get(name));
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: K8S_VERSION },
    paths,
    components: { schemas },
  };
}

// ---- Output ---------------------------------------------------------------------------------

/** Recursively sorted object keys, for stable output and hashes. */
function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const out: JsonObject = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
  return out;
}

const LINE_WIDTH = 100; // biome.json's lineWidth: the committed JSON must already be formatted

function inlineJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(inlineJson).join(", ")}]`;
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{ ${entries.map(([k, v]) => `${JSON.stringify(k)}: ${inlineJson(v)}`).join(", ")} }`;
}

/** JSON laid out as biome formats it: a value stays on one line when it fits, else breaks. */
function formatJson(value: Json, indent = 0, used = 0): string {
  const inline = inlineJson(value);
  if (value === null || typeof value !== "object" || used + inline.length <= LINE_WIDTH) {
    return inline;
  }
  const pad = " ".repeat(indent + 2);
  const entries: [string, Json][] = Array.isArray(value)
    ? value.map((v) => ["", v])
    : Object.entries(value).map(([k, v]) => [`${JSON.stringify(k)}: `, v]);
  const lines = entries.map(([prefix, v], i) => {
    const comma = i < entries.length - 1 ? "," : "";
    const width = pad.length + prefix.length + comma.length;
    return `${pad}${prefix}${formatJson(v, indent + 2, width)}${comma}`;
  });
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return `${open}\n${lines.join("\n")}\n${" ".repeat(indent)}${close}`;
}

function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** Kubernetes' document hash: SHA-512 of the served bytes, upper-case hex. */
const hashOf = (text: string): string =>
  createHash("sha512").update(text).digest("hex").toUpperCase();

function writeDocuments(out: string, defs: Defs): { path: string; bytes: number }[] {
  const gvs = groupVersions();
  const gvks = gvkIndex(gvs);
  const index: JsonObject = {};
  const written = [];
  for (const gv of gvs) {
    const path = docPath(gv);
    const text = JSON.stringify(sortKeys(gvDocument(gv, defs, gvks)));
    writeFile(join(out, "v3", `${path}.json`), text);
    index[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hashOf(text)}` };
    written.push({ path, bytes: Buffer.byteLength(text) });
  }
  writeFile(join(out, "v3", "index.json"), JSON.stringify(sortKeys({ paths: index })));
  return written;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: "string", default: join(ROOT, "public/openapi") },
      schema: { type: "string", default: join(ROOT, "src/resources/schema.gen.json") },
    },
  });
  const defs = loadDefinitions();
  checkPatchMeta(defs);
  const schema = sortKeys(compactSchema(defs)) as JsonObject;
  const schemaText = `${formatJson(schema)}\n`;
  writeFile(values.schema, schemaText);
  const docs = writeDocuments(values.out, defs);

  const count = Object.keys(schema.definitions as JsonObject).length;
  console.log(`${values.schema}: ${count} definitions, ${Buffer.byteLength(schemaText)} bytes`);
  for (const doc of docs) console.log(`${values.out}/v3/${doc.path}.json: ${doc.bytes} bytes`);
  const used = closure([...rootsOf(catalog), `${META}.Patch`], defs);
  for (const [message, def] of warnings) {
    if (!def || used.has(def)) console.warn(`warning: ${message}`);
  }
}

main();
