// Decoding checks against the Kubernetes schema (generated from kubernetes-types): wrong JSON
// types fail as Go's decoder fails; unknown fields are what fieldValidation=Strict|Warn reports.
import { createSchemaLookup, type SchemaJson } from "../k8s/schema.ts";
import schema from "./schema.gen.json" with { type: "json" };

export interface Prop {
  type?: string;
  ref?: string;
  items?: Prop;
  additionalProperties?: Prop;
}

interface Definition {
  properties?: Record<string, Prop>;
  required?: string[];
}

const definitions = schema.definitions as Record<string, Definition>;
const kinds = schema.kinds as Record<string, string>;

export const schemaJson = schema;

export interface CheckResult {
  unknown: string[];
  /** The first type mismatch, worded as encoding/json's UnmarshalTypeError. */
  typeError?: string;
}

export function definitionFor(apiVersion: string, kind: string): string | undefined {
  return kinds[`${apiVersion}/${kind}`];
}

/** Check `value` against a definition, dropping unknown fields from it in place. */
export function checkObject(defName: string, value: unknown): CheckResult {
  const out: CheckResult = { unknown: [] };
  walkDef(defName, value, "", out);
  return out;
}

const shortName = (def: string) => def.slice(def.lastIndexOf(".") + 1);

function walkDef(defName: string, value: unknown, path: string, out: CheckResult) {
  const def = definitions[defName];
  if (!def || value === null || value === undefined) return;
  if (typeof value !== "object" || Array.isArray(value)) {
    mismatch(out, value, `${shortName(defName)}.${path}`, "object");
    return;
  }
  const props = def.properties ?? {};
  for (const [k, v] of Object.entries(value)) {
    const p = props[k];
    const at = path ? `${path}.${k}` : k;
    if (!p) {
      // Go's decoder drops what the type does not have; so do we, whatever fieldValidation says.
      out.unknown.push(at);
      delete (value as Record<string, unknown>)[k];
      continue;
    }
    walkProp(p, v, at, out, defName);
  }
}

function walkProp(p: Prop, v: unknown, path: string, out: CheckResult, owner: string) {
  if (v === null || v === undefined) return;
  if (p.ref) return walkDef(p.ref, v, path, out);
  const where = `${shortName(owner)}.${path}`;
  switch (p.type) {
    case "string":
      if (typeof v !== "string") mismatch(out, v, where, "string");
      return;
    case "number":
      if (typeof v !== "number") mismatch(out, v, where, "number");
      return;
    case "boolean":
      if (typeof v !== "boolean") mismatch(out, v, where, "bool");
      return;
    case "int-or-string":
      if (typeof v !== "number" && typeof v !== "string") mismatch(out, v, where, "IntOrString");
      return;
    case "array":
      if (!Array.isArray(v)) return mismatch(out, v, where, "array");
      if (p.items)
        for (const [i, item] of v.entries()) walkProp(p.items, item, `${path}[${i}]`, out, owner);
      return;
    case "object":
      if (typeof v !== "object" || Array.isArray(v)) return mismatch(out, v, where, "map");
      if (p.additionalProperties)
        for (const [k, item] of Object.entries(v))
          walkProp(p.additionalProperties, item, `${path}.${k}`, out, owner);
      return;
    default:
      return;
  }
}

const jsonType = (v: unknown) =>
  Array.isArray(v) ? "array" : typeof v === "boolean" ? "bool" : typeof v;

function mismatch(out: CheckResult, v: unknown, where: string, goType: string) {
  out.typeError ??= `json: cannot unmarshal ${jsonType(v)} into Go struct field ${where} of type ${goType}`;
}

/** The schema as strategic merge and server-side apply navigate it. */
export const schemaLookup = createSchemaLookup(schema as SchemaJson);
