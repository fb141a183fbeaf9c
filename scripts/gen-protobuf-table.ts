// Generates src/api/protobuf/fields.gen.json, the field table the Worker decodes Kubernetes
// protobuf request bodies with, from local checkouts of k8s.io/api and k8s.io/apimachinery:
//
//   node scripts/gen-protobuf-table.ts --api ../api --apimachinery ../apimachinery [--out FILE]
//
// The generated.proto files give each message's fields (number, proto type, repeated). The Go
// types beside them give what protobuf cannot: each field's JSON name, whether it is inlined into
// its parent (`json:",inline"`) and whether it is a non-pointer scalar tagged `omitempty` (gogo
// writes such fields even when zero, Go's encoding/json drops them when zero).
//
// Table: message full name → field number → {name, kind, repeated?, inline?, omitEmpty?}, where
// kind is string|bytes|int32|int64|uint32|uint64|bool|double|float|message:<full name>|
// map<string,<kind>>. Only messages reachable from ROOTS are kept.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const API = "k8s.io.api";
const META = "k8s.io.apimachinery.pkg.apis.meta.v1";

/** The kinds whose request bodies are decoded, and so every message they reach. */
const ROOTS = [
  ...[
    "Namespace",
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "Pod",
    "Endpoints",
    "Node",
    "Event",
    "PersistentVolumeClaim",
    "PersistentVolume",
  ].map((k) => `${API}.core.v1.${k}`),
  ...["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"].map((k) => `${API}.apps.v1.${k}`),
  `${API}.batch.v1.Job`,
  `${API}.batch.v1.CronJob`,
  `${API}.coordination.v1.Lease`,
  `${API}.discovery.v1.EndpointSlice`,
  `${API}.networking.v1.Ingress`,
  ...["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"].map((k) => `${API}.rbac.v1.${k}`),
  ...["TokenRequest", "TokenReview", "SelfSubjectReview"].map(
    (k) => `${API}.authentication.v1.${k}`,
  ),
  ...["SelfSubjectAccessReview", "SelfSubjectRulesReview"].map(
    (k) => `${API}.authorization.v1.${k}`,
  ),
  `${API}.policy.v1.Eviction`,
  `${META}.DeleteOptions`,
  `${API}.autoscaling.v1.Scale`,
];

const SCALARS = new Set([
  "string",
  "bytes",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "bool",
  "double",
  "float",
]);

export interface FieldEntry {
  name: string;
  kind: string;
  repeated?: true;
  inline?: true;
  omitEmpty?: true;
}

interface ProtoField {
  name: string;
  number: number;
  type: string; // scalar, or a type name as written
  mapValue?: string; // for map<string, V>: V as written
  repeated: boolean;
}

interface ProtoMessage {
  pkg: string;
  name: string;
  fields: ProtoField[];
}

interface GoField {
  jsonName: string;
  inline: boolean;
  omitEmpty: boolean;
  pointer: boolean;
}

/** The checkout holding an import path such as k8s.io/api/core/v1/generated.proto. */
function resolveImport(path: string, roots: Record<string, string>): string {
  for (const [prefix, dir] of Object.entries(roots))
    if (path.startsWith(`${prefix}/`)) return join(dir, path.slice(prefix.length + 1));
  throw new Error(`no checkout for import ${path}`);
}

/** Messages of one generated.proto (go-to-protobuf output: flat messages, proto2 fields). */
function parseProto(text: string): { pkg: string; imports: string[]; messages: ProtoMessage[] } {
  const src = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(src)?.[1];
  if (!pkg) throw new Error("proto file without a package");
  const imports = [...src.matchAll(/^\s*import\s+"([^"]+)"\s*;/gm)].map((m) => m[1]);
  const messages: ProtoMessage[] = [];
  const messageRe = /\bmessage\s+(\w+)\s*\{([^{}]*)\}/g;
  for (const m of src.matchAll(messageRe)) {
    const fields: ProtoField[] = [];
    for (const line of m[2].split(";")) {
      const s = line.trim();
      if (!s) continue;
      const map = /^map\s*<\s*(\w+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)/.exec(s);
      if (map) {
        if (map[1] !== "string") throw new Error(`${pkg}.${m[1]}: map key ${map[1]}`);
        fields.push({
          name: map[3],
          number: Number(map[4]),
          type: "map",
          mapValue: map[2],
          repeated: false,
        });
        continue;
      }
      const f = /^(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)/.exec(s);
      if (!f) throw new Error(`${pkg}.${m[1]}: cannot parse field "${s}"`);
      fields.push({ name: f[3], number: Number(f[4]), type: f[2], repeated: f[1] === "repeated" });
    }
    messages.push({ pkg, name: m[1], fields });
  }
  const rest = src.replace(messageRe, "");
  if (/\b(message|enum|oneof|service)\b/.test(rest))
    throw new Error(`${pkg}: nested or unsupported declarations`);
  return { pkg, imports, messages };
}

/** Go structs of a package directory: struct name → protobuf field number → JSON facts. */
function parseGoStructs(dir: string): Map<string, Map<number, GoField>> {
  const structs = new Map<string, Map<number, GoField>>();
  const files = readdirSync(dir).filter(
    (f) =>
      f.endsWith(".go") &&
      !f.endsWith("_test.go") &&
      !f.startsWith("zz_generated") &&
      !f.endsWith(".pb.go") &&
      !f.endsWith("_swagger_doc_generated.go"),
  );
  for (const file of files) {
    const text = readFileSync(join(dir, file), "utf8");
    for (const m of text.matchAll(/^type\s+(\w+)\s+struct\s*\{\n([\s\S]*?)^\}/gm)) {
      const fields = new Map<number, GoField>();
      for (const line of m[2].split("\n")) {
        const f = /^\s*(?:(\w+)\s+)?([*\w.[\]]+)\s+`([^`]*)`/.exec(line);
        if (!f) continue;
        const tag = f[3];
        const proto = /\bprotobuf:"([^"]*)"/.exec(tag)?.[1];
        if (!proto || proto === "-") continue;
        const number = Number(proto.split(",")[1]);
        const json = /\bjson:"([^"]*)"/.exec(tag)?.[1] ?? "";
        const [jsonName, ...opts] = json.split(",");
        fields.set(number, {
          jsonName: jsonName === "-" ? "" : jsonName,
          // encoding/json inlines an embedded struct without a JSON name (",inline" or "")
          inline: f[1] === undefined && jsonName === "",
          omitEmpty: opts.includes("omitempty"),
          pointer: f[2].startsWith("*"),
        });
      }
      structs.set(m[1], fields);
    }
  }
  return structs;
}

function generate(roots: Record<string, string>): Record<string, Record<string, FieldEntry>> {
  const messages = new Map<string, ProtoMessage>();
  const goDirs = new Map<string, string>(); // proto package → directory of its Go types
  const loaded = new Set<string>();
  const load = (importPath: string) => {
    if (loaded.has(importPath)) return;
    loaded.add(importPath);
    const file = resolveImport(importPath, roots);
    const parsed = parseProto(readFileSync(file, "utf8"));
    goDirs.set(parsed.pkg, dirname(file));
    for (const msg of parsed.messages) messages.set(`${msg.pkg}.${msg.name}`, msg);
    for (const imp of parsed.imports) load(imp);
  };
  for (const root of ROOTS) {
    const pkg = root.slice(0, root.lastIndexOf("."));
    const path = pkg.startsWith(`${API}.`)
      ? `k8s.io/api/${pkg.slice(API.length + 1).replace(/\./g, "/")}/generated.proto`
      : `k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto`;
    load(path);
  }

  const resolve = (type: string, pkg: string): string => {
    if (SCALARS.has(type)) return type;
    const full = type.startsWith(".")
      ? type.slice(1)
      : messages.has(`${pkg}.${type}`)
        ? `${pkg}.${type}`
        : type;
    if (!messages.has(full)) throw new Error(`unknown type ${type} in ${pkg}`);
    return `message:${full}`;
  };

  const goStructs = new Map<string, Map<string, Map<number, GoField>>>();
  const goFieldsOf = (msg: ProtoMessage) => {
    let structs = goStructs.get(msg.pkg);
    if (!structs) {
      structs = parseGoStructs(goDirs.get(msg.pkg) as string);
      goStructs.set(msg.pkg, structs);
    }
    return structs.get(msg.name);
  };

  const table: Record<string, Record<string, FieldEntry>> = {};
  const queue = [...ROOTS];
  while (queue.length) {
    const full = queue.shift() as string;
    if (table[full]) continue;
    const msg = messages.get(full);
    if (!msg) throw new Error(`message ${full} not found`);
    const goFields = goFieldsOf(msg);
    const entries: Record<string, FieldEntry> = {};
    for (const f of [...msg.fields].sort((a, b) => a.number - b.number)) {
      const kind =
        f.type === "map"
          ? `map<string,${resolve(f.mapValue as string, msg.pkg)}>`
          : resolve(f.type, msg.pkg);
      const go = goFields?.get(f.number);
      if (goFields && goFields.size > 0 && !go)
        console.warn(`warning: ${full} field ${f.number} (${f.name}) has no Go field`);
      // Without a JSON name (no Go field, or a special type marshalled by hand) keep the proto one.
      const entry: FieldEntry = {
        name: go && !go.inline && go.jsonName ? go.jsonName : f.name,
        kind,
      };
      if (f.repeated) entry.repeated = true;
      if (go?.inline) entry.inline = true;
      // Go drops a zero value of a non-pointer scalar tagged omitempty; gogo sends it anyway.
      if (go?.omitEmpty && !go.pointer && !f.repeated && SCALARS.has(kind)) entry.omitEmpty = true;
      entries[f.number] = entry;
      const ref = /message:([\w.]+)/.exec(kind)?.[1];
      if (ref && !table[ref]) queue.push(ref);
    }
    table[full] = entries;
  }
  return Object.fromEntries(Object.entries(table).sort(([a], [b]) => (a < b ? -1 : 1)));
}

const LINE_WIDTH = 100; // biome.json's lineWidth: the committed JSON must already be formatted

function inlineJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{ ${entries.map(([k, v]) => `${JSON.stringify(k)}: ${inlineJson(v)}`).join(", ")} }`;
}

/** JSON laid out as biome formats it: a value stays on one line when it fits, else breaks. */
function formatJson(value: unknown, indent = 0, used = 0): string {
  const inline = inlineJson(value);
  if (value === null || typeof value !== "object" || used + inline.length <= LINE_WIDTH)
    return inline;
  const pad = " ".repeat(indent + 2);
  const entries = Object.entries(value);
  const lines = entries.map(([k, v], i) => {
    const prefix = `${JSON.stringify(k)}: `;
    const comma = i < entries.length - 1 ? "," : "";
    return `${pad}${prefix}${formatJson(v, indent + 2, pad.length + prefix.length + comma.length)}${comma}`;
  });
  return `{\n${lines.join("\n")}\n${" ".repeat(indent)}}`;
}

function main() {
  const { values } = parseArgs({
    options: {
      api: { type: "string" },
      apimachinery: { type: "string" },
      out: { type: "string", default: join(ROOT, "src/api/protobuf/fields.gen.json") },
    },
  });
  if (!values.api || !values.apimachinery) {
    console.error(
      "usage: node scripts/gen-protobuf-table.ts --api <k8s.io/api checkout> --apimachinery <k8s.io/apimachinery checkout> [--out FILE]",
    );
    process.exit(2);
  }
  const table = generate({ "k8s.io/api": values.api, "k8s.io/apimachinery": values.apimachinery });
  writeFileSync(values.out as string, `${formatJson(table)}\n`);
  console.log(`wrote ${Object.keys(table).length} messages to ${values.out}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
