// Comparing decoded JSON the way Kubernetes compares typed objects (apiequality.Semantic):
// key order never matters, and an absent field equals its empty value ("", [], {}), since a
// Go struct cannot tell them apart. Numbers and booleans stay significant (they are pointers
// in the API types whenever absence means something).

const isEmpty = (v: unknown): boolean =>
  v === undefined ||
  v === null ||
  v === "" ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

/** Semantic equality of two decoded JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (isEmpty(a) && isEmpty(b)) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
    for (const k of keys) if (!jsonEqual(x[k], y[k])) return false;
    return true;
  }
  return a === b;
}

const show = (v: unknown): string => (v === undefined ? "<unset>" : JSON.stringify(v));

/**
 * Where two values differ, one "-"/"+" pair per leaf, for the diff Kubernetes appends to
 * "may not change" errors (it prints go-cmp's diff; this is the same information, flatter).
 */
export function jsonDiff(a: unknown, b: unknown, path = ""): string[] {
  if (jsonEqual(a, b)) return [];
  const bothObjects =
    a &&
    b &&
    typeof a === "object" &&
    typeof b === "object" &&
    !Array.isArray(a) &&
    !Array.isArray(b);
  const sameLengthArrays = Array.isArray(a) && Array.isArray(b) && a.length === b.length;
  if (bothObjects) {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])];
    return keys.flatMap((k) => jsonDiff(x[k], y[k], path ? `${path}.${k}` : k));
  }
  if (sameLengthArrays) return a.flatMap((x, i) => jsonDiff(x, b[i], `${path}[${i}]`));
  const at = path || "<root>";
  return [`-\t${at}: ${show(a)}`, `+\t${at}: ${show(b)}`];
}
