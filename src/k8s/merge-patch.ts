// RFC 7386 JSON merge patch (application/merge-patch+json), as evanphx/json-patch applies and
// creates it for Kubernetes. Inputs are never mutated.

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Applies a merge patch: null deletes a key, objects merge recursively, anything else
 * (arrays included) replaces the target value. Inputs are decoded JSON (hence `unknown`).
 */
export function applyMergePatch(target: unknown, patch: unknown): JsonValue {
  if (!isJsonObject(patch)) return patch as JsonValue;
  const out: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value);
  }
  return out;
}

/** Structural equality of JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (!isJsonObject(a) || !isJsonObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/**
 * The smallest merge patch turning `original` into `modified`: removed keys become null,
 * changed objects recurse, everything else that differs is copied whole. Returns {} when
 * nothing changed.
 */
export function createMergePatch(original: object, modified: object): JsonObject {
  return diffObjects(original as JsonObject, modified as JsonObject);
}

function diffObjects(original: JsonObject, modified: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const key of Object.keys(original)) {
    if (!Object.hasOwn(modified, key)) patch[key] = null;
  }
  for (const [key, value] of Object.entries(modified)) {
    const before = Object.hasOwn(original, key) ? original[key] : undefined;
    if (isJsonObject(before) && isJsonObject(value)) {
      const sub = diffObjects(before, value);
      if (Object.keys(sub).length > 0) patch[key] = sub;
    } else if (before === undefined || !jsonEqual(before, value)) {
      patch[key] = value;
    }
  }
  return patch;
}
