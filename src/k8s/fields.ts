// Field selectors as fields.ParseSelector reads them: "a=b,c!=d", values escaped with \ , =.
// No whitespace trimming: Kubernetes treats "a = b" as field "a " and value " b".

import { goQuote } from "./validation.ts";

export type FieldOperator = "=" | "!=";

export interface FieldRequirement {
  readonly field: string;
  /** "==" in the input is reported as "=", as selection.Equals is for both. */
  readonly operator: FieldOperator;
  readonly value: string;
}

/** A malformed or unsupported field selector; the message is the 400 Status message. */
export class FieldSelectorError extends Error {
  override name = "FieldSelectorError";

  /** For an unsupported field: which field, and for which kind (for logs; not in the message). */
  readonly field?: string;
  readonly kind?: string;

  constructor(message: string, field?: string, kind?: string) {
    super(message);
    this.field = field;
    this.kind = kind;
  }
}

export interface FieldSelector {
  /** Absent fields read as "", so "spec.nodeName=" matches unscheduled pods. */
  matches(fields: Record<string, string>): boolean;
  empty(): boolean;
  requirements(): readonly FieldRequirement[];
  requiresExactMatch(field: string): string | undefined;
  toString(): string;
}

/** fields.EscapeValue. */
export function escapeValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/** fields.UnescapeValue: only \\, \, and \= are valid escapes; bare , and = are errors. */
export function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = "";
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== "\\" && c !== "," && c !== "=") {
        throw new FieldSelectorError(`invalid field selector: invalid escape sequence: \\${c}`);
      }
      out += c;
      inSlash = false;
    } else if (c === "\\") {
      inSlash = true;
    } else if (c === "," || c === "=") {
      // Go prints the rune with %v, i.e. as its code point number.
      throw new FieldSelectorError(
        `invalid field selector: unescaped character in value: ${c.codePointAt(0)}`,
      );
    } else {
      out += c;
    }
  }
  if (inSlash) throw new FieldSelectorError("invalid field selector: invalid escape sequence: \\");
  return out;
}

/** Splits on commas not preceded by an escaping backslash. */
function splitTerms(selector: string): string[] {
  if (selector === "") return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (inSlash) inSlash = false;
    else if (c === "\\") inSlash = true;
    else if (c === ",") {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

// At each position "!=" is tried before "==" before "=", as fields.splitTerm does.
const termOperators = ["!=", "==", "="] as const;

function splitTerm(term: string): { lhs: string; op: string; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    const op = termOperators.find((o) => term.startsWith(o, i));
    if (op) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
  }
  return undefined;
}

function requirementMatches(r: FieldRequirement, fields: Record<string, string>): boolean {
  const actual = Object.hasOwn(fields, r.field) ? fields[r.field] : "";
  return r.operator === "=" ? actual === r.value : actual !== r.value;
}

class TermsSelector implements FieldSelector {
  readonly #reqs: readonly FieldRequirement[];

  constructor(reqs: readonly FieldRequirement[]) {
    this.#reqs = reqs;
  }

  matches(fields: Record<string, string>): boolean {
    return this.#reqs.every((r) => requirementMatches(r, fields));
  }

  empty(): boolean {
    return this.#reqs.length === 0;
  }

  requirements(): readonly FieldRequirement[] {
    return this.#reqs;
  }

  requiresExactMatch(field: string): string | undefined {
    return this.#reqs.find((r) => r.field === field && r.operator === "=")?.value;
  }

  toString(): string {
    return this.#reqs.map((r) => `${r.field}${r.operator}${escapeValue(r.value)}`).join(",");
  }
}

/** fields.Everything(). */
export function everythingFields(): FieldSelector {
  return new TermsSelector([]);
}

/** fields.SelectorFromSet: field=value for each entry. */
export function fieldSelectorFromSet(set: Record<string, string>): FieldSelector {
  const reqs = Object.entries(set).map(
    ([field, value]): FieldRequirement => ({ field, operator: "=", value }),
  );
  return new TermsSelector(reqs);
}

/** fields.ParseSelector. Terms are sorted as raw text first, as Kubernetes does. Throws FieldSelectorError. */
export function parseFieldSelector(selector: string): FieldSelector {
  const reqs: FieldRequirement[] = [];
  // Go's sort.Strings compares bytes; UTF-16 order differs only beyond the BMP.
  const parts = splitTerms(selector).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const part of parts) {
    if (part === "") continue;
    const term = splitTerm(part);
    if (!term) {
      throw new FieldSelectorError(`invalid selector: '${selector}'; can't understand '${part}'`);
    }
    const value = unescapeValue(term.rhs);
    reqs.push({ field: term.lhs, operator: term.op === "!=" ? "!=" : "=", value });
  }
  return new TermsSelector(reqs);
}

// Kinds without their own field label conversion accept only these, and say so when refusing.
const metadataFields = ["metadata.name", "metadata.namespace"];

/**
 * The API server's field label conversion check: every field must be selectable for the kind.
 * Kinds whose `allowed` list is only metadata.name/metadata.namespace get the generic message
 * (runtime.DefaultMetaV1FieldSelectorConversion); kinds with their own conversion function
 * (Pod, Node, Event, ...) answer "field label not supported: <field>".
 */
export function validateFieldSelector(
  sel: FieldSelector,
  allowed: readonly string[],
  kind?: string,
): void {
  const generic = allowed.every((f) => metadataFields.includes(f));
  for (const r of sel.requirements()) {
    if (allowed.includes(r.field)) continue;
    const msg = generic
      ? `${goQuote(r.field)} is not a known field selector: only "metadata.name", "metadata.namespace"`
      : `field label not supported: ${r.field}`;
    throw new FieldSelectorError(msg, r.field, kind);
  }
}
