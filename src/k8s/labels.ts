// Label selectors: the string syntax of labels.Parse and metav1.LabelSelectorAsSelector.
// Parse errors carry apimachinery's exact wording because the API server returns them
// verbatim in a 400 Status.

import {
  aggregateErrors,
  type FieldError,
  fieldErrorMessage,
  goQuote,
  invalid,
  isQualifiedName,
  isValidLabelValue,
  notSupported,
} from "./validation.ts";

/** selection.Operator values, spelled as Kubernetes spells them. */
export type Operator = "in" | "notin" | "=" | "==" | "!=" | "exists" | "!" | "gt" | "lt";

export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  /** Parsed selectors hold sorted, de-duplicated values; LabelSelector ones keep input order. */
  readonly values: readonly string[];
}

export interface Selector {
  matches(labels: Record<string, string> | undefined): boolean;
  /** True when the selector does not restrict anything (Everything). */
  empty(): boolean;
  /** Requirements sorted by key; null for the Nothing selector (selects nothing). */
  requirements(): readonly Requirement[] | null;
  /** The single value a label must have, when the selector pins one (=, ==, or a one-value in). */
  requiresExactMatch(label: string): string | undefined;
  toString(): string;
}

/** A malformed selector; the message is what Kubernetes puts in the 400 Status. */
export class SelectorError extends Error {
  override name = "SelectorError";
}

const binaryOperators: Operator[] = ["in", "notin", "=", "==", "!=", "gt", "lt"];
const validOperators: Operator[] = [...binaryOperators, "exists", "!"];

// ---------------------------------------------------------------------------
// Requirements

function hasLabel(labels: Record<string, string> | undefined, key: string): boolean {
  return labels !== undefined && Object.hasOwn(labels, key);
}

const int64Re = /^[+-]?[0-9]+$/;
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/** strconv.ParseInt(s, 10, 64), or undefined when Go would return an error. */
function parseInt64(s: string): bigint | undefined {
  if (!int64Re.test(s)) return undefined;
  const n = BigInt(s);
  return n < int64Min || n > int64Max ? undefined : n;
}

/** Requirement.Matches. */
export function requirementMatches(
  r: Requirement,
  labels: Record<string, string> | undefined,
): boolean {
  const has = hasLabel(labels, r.key);
  const value = has ? (labels as Record<string, string>)[r.key] : "";
  switch (r.operator) {
    case "in":
    case "=":
    case "==":
      return has && r.values.includes(value);
    case "notin":
    case "!=":
      return !has || !r.values.includes(value);
    case "exists":
      return has;
    case "!":
      return !has;
    case "gt":
    case "lt":
      return has && compareInt(r, value);
  }
}

function compareInt(r: Requirement, value: string): boolean {
  const actual = parseInt64(value);
  const bound = r.values.length === 1 ? parseInt64(r.values[0]) : undefined;
  if (actual === undefined || bound === undefined) return false;
  return r.operator === "gt" ? actual > bound : actual < bound;
}

/** Go's sort.Strings order (byte-wise; label values are ASCII). */
function sortedStrings(values: readonly string[]): string[] {
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const operatorText: Partial<Record<Operator, string>> = {
  "=": "=",
  "==": "==",
  "!=": "!=",
  in: " in ",
  notin: " notin ",
  gt: ">",
  lt: "<",
};

/** Requirement.String: "key in (a,b)", "!key", "key!=v". */
export function requirementString(r: Requirement): string {
  if (r.operator === "exists") return r.key;
  if (r.operator === "!") return `!${r.key}`;
  const values = r.values.length === 1 ? r.values[0] : sortedStrings(r.values).join(",");
  const set = r.operator === "in" || r.operator === "notin";
  return `${r.key}${operatorText[r.operator]}${set ? `(${values})` : values}`;
}

/**
 * labels.NewRequirement: validates key, operator arity and values.
 * Field paths are relative ("key", "values[0][app]") as Kubernetes prints them.
 * A null values list stands for Go's nil slice, which error messages print as null.
 */
export function newRequirement(
  key: string,
  operator: Operator,
  values: readonly string[] | null,
): Requirement {
  const errs: FieldError[] = [];
  const keyErr = validateLabelKey(key, "key");
  if (keyErr) errs.push(keyErr);
  errs.push(...arityErrors(operator, values));
  const list = values ?? [];
  list.forEach((v, i) => {
    const msgs = isValidLabelValue(v);
    if (msgs.length > 0) errs.push(invalid(`values[${i}][${key}]`, v, msgs.join("; ")));
  });
  if (errs.length > 0) throw new SelectorError(aggregateErrors(errs));
  return { key, operator, values: list };
}

function arityErrors(op: Operator, raw: readonly string[] | null): FieldError[] {
  const values = raw ?? [];
  switch (op) {
    case "in":
    case "notin":
      return values.length === 0
        ? [invalid("values", raw, "for 'in', 'notin' operators, values set can't be empty")]
        : [];
    case "=":
    case "==":
    case "!=":
      return values.length !== 1
        ? [invalid("values", raw, "exact-match compatibility requires one single value")]
        : [];
    case "exists":
    case "!":
      return values.length !== 0
        ? [invalid("values", raw, "values set must be empty for exists and does not exist")]
        : [];
    case "gt":
    case "lt":
      return intArityErrors(raw);
    default:
      return [notSupported("operator", op, validOperators)];
  }
}

function intArityErrors(raw: readonly string[] | null): FieldError[] {
  const errs: FieldError[] = [];
  const values = raw ?? [];
  if (values.length !== 1) {
    errs.push(invalid("values", raw, "for 'Gt', 'Lt' operators, exactly one value is required"));
  }
  values.forEach((v, i) => {
    if (parseInt64(v) === undefined) {
      errs.push(
        invalid(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"),
      );
    }
  });
  return errs;
}

function validateLabelKey(key: string, path: string): FieldError | undefined {
  const msgs = isQualifiedName(key);
  return msgs.length > 0 ? invalid(path, key, msgs.join("; ")) : undefined;
}

// ---------------------------------------------------------------------------
// Selectors

class RequirementSelector implements Selector {
  readonly #reqs: readonly Requirement[];

  constructor(reqs: readonly Requirement[]) {
    // Sorted by key for a deterministic String(), as internalSelector.Add does (stable here).
    this.#reqs = [...reqs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  matches(labels: Record<string, string> | undefined): boolean {
    return this.#reqs.every((r) => requirementMatches(r, labels));
  }

  empty(): boolean {
    return this.#reqs.length === 0;
  }

  requirements(): readonly Requirement[] {
    return this.#reqs;
  }

  requiresExactMatch(label: string): string | undefined {
    const r = this.#reqs.find((x) => x.key === label);
    if (!r || !["=", "==", "in"].includes(r.operator) || r.values.length !== 1) return undefined;
    return r.values[0];
  }

  toString(): string {
    return this.#reqs.map(requirementString).join(",");
  }
}

const nothingSelector: Selector = {
  matches: () => false,
  empty: () => false,
  requirements: () => null,
  requiresExactMatch: () => undefined,
  toString: () => "",
};

const everythingSelector: Selector = new RequirementSelector([]);

/** labels.Everything(): matches all label sets, including none. */
export function everything(): Selector {
  return everythingSelector;
}

/** labels.Nothing(): matches no object at all. */
export function nothing(): Selector {
  return nothingSelector;
}

/** A selector from already-validated requirements. */
export function selectorFromRequirements(reqs: readonly Requirement[]): Selector {
  return new RequirementSelector(reqs);
}

/** labels.SelectorFromSet: key=value for every entry; an empty set selects everything. */
export function selectorFromSet(set: Record<string, string> | undefined): Selector {
  const reqs = Object.entries(set ?? {}).map(
    ([key, v]): Requirement => ({ key, operator: "=", values: [v] }),
  );
  return new RequirementSelector(reqs);
}

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[] | null;
}

export interface LabelSelector {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: LabelSelectorRequirement[] | null;
}

const labelSelectorOps: Record<string, Operator> = {
  In: "in",
  NotIn: "notin",
  Exists: "exists",
  DoesNotExist: "!",
};

/**
 * metav1.LabelSelectorAsSelector: a null/undefined selector matches nothing,
 * an empty one ({}) matches everything.
 */
export function selectorFromLabelSelector(ls: LabelSelector | null | undefined): Selector {
  if (ls === null || ls === undefined) return nothingSelector;
  const matchLabels = Object.entries(ls.matchLabels ?? {});
  const exprs = ls.matchExpressions ?? [];
  if (matchLabels.length + exprs.length === 0) return everythingSelector;
  const reqs = matchLabels.map(([k, v]) => newRequirement(k, "=", [v]));
  for (const e of exprs) {
    const op = Object.hasOwn(labelSelectorOps, e.operator)
      ? labelSelectorOps[e.operator]
      : undefined;
    if (!op)
      throw new SelectorError(`${goQuote(e.operator)} is not a valid label selector operator`);
    // Go copies values with append(nil, ...), so an empty list becomes a nil slice.
    reqs.push(newRequirement(e.key, op, e.values?.length ? [...e.values] : null));
  }
  return new RequirementSelector(reqs);
}

// ---------------------------------------------------------------------------
// Lexer

type Token =
  | "error"
  | "eos"
  | "closedPar"
  | "comma"
  | "doesNotExist"
  | "doubleEquals"
  | "equals"
  | "greaterThan"
  | "identifier"
  | "in"
  | "lessThan"
  | "notEquals"
  | "notIn"
  | "openPar";

interface Item {
  tok: Token;
  lit: string;
}

const literalTokens: Record<string, Token> = {
  ")": "closedPar",
  ",": "comma",
  "!": "doesNotExist",
  "==": "doubleEquals",
  "=": "equals",
  ">": "greaterThan",
  in: "in",
  "<": "lessThan",
  "!=": "notEquals",
  notin: "notIn",
  "(": "openPar",
};

function tokenFor(s: string): Token | undefined {
  return Object.hasOwn(literalTokens, s) ? literalTokens[s] : undefined;
}

function isWhitespace(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\r" || ch === "\n";
}

function isSpecial(ch: string): boolean {
  return "=!(),><".includes(ch) && ch !== "";
}

/** Splits the input the way labels.Lexer does: operators are matched greedily. */
function lex(s: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && isWhitespace(s[pos])) pos++;
    if (pos >= s.length) {
      items.push({ tok: "eos", lit: "" });
      return items;
    }
    const item = isSpecial(s[pos]) ? scanSpecial(s, pos) : scanWord(s, pos);
    pos = item.end;
    items.push({ tok: item.tok, lit: item.lit });
  }
}

function scanWord(s: string, start: number): Item & { end: number } {
  let end = start;
  while (end < s.length && !isSpecial(s[end]) && !isWhitespace(s[end])) end++;
  const lit = s.slice(start, end);
  return { tok: tokenFor(lit) ?? "identifier", lit, end };
}

function scanSpecial(s: string, start: number): Item & { end: number } {
  let last: Item | undefined;
  let end = start;
  while (end < s.length && isSpecial(s[end])) {
    const tok = tokenFor(s.slice(start, end + 1));
    if (tok) last = { tok, lit: s.slice(start, end + 1) };
    else if (last) break;
    end++;
  }
  if (!last)
    return { tok: "error", lit: `error expected: keyword found '${s.slice(start, end)}'`, end };
  return { ...last, end: start + last.lit.length };
}

// ---------------------------------------------------------------------------
// Parser

type Context = "keyAndOperator" | "values";

class Parser {
  #items: Item[];
  #pos = 0;

  constructor(input: string) {
    this.#items = lex(input);
  }

  // "in" and "notin" are plain identifiers wherever a key or value is expected.
  #at(i: number, ctx: Context): Item {
    const it = this.#items[Math.min(i, this.#items.length - 1)];
    if (ctx === "values" && (it.tok === "in" || it.tok === "notIn")) {
      return { tok: "identifier", lit: it.lit };
    }
    return it;
  }

  lookahead(ctx: Context): Item {
    return this.#at(this.#pos, ctx);
  }

  consume(ctx: Context): Item {
    return this.#at(this.#pos++, ctx);
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead("values");
      if (tok === "eos") return reqs;
      if (tok !== "identifier" && tok !== "doesNotExist") {
        throw new SelectorError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
      reqs.push(this.#requirementOrThrow());
      const next = this.consume("values");
      if (next.tok === "eos") return reqs;
      if (next.tok !== "comma") {
        throw new SelectorError(`found '${next.lit}', expected: ',' or 'end of string'`);
      }
      const after = this.lookahead("values");
      if (after.tok !== "identifier" && after.tok !== "doesNotExist") {
        throw new SelectorError(`found '${after.lit}', expected: identifier after ','`);
      }
    }
  }

  #requirementOrThrow(): Requirement {
    try {
      return this.parseRequirement();
    } catch (err) {
      throw new SelectorError(`unable to parse requirement: ${(err as Error).message}`);
    }
  }

  parseRequirement(): Requirement {
    const { key, operator } = this.parseKeyAndInferOperator();
    if (operator === "exists" || operator === "!") return newRequirement(key, operator, []);
    const op = this.parseOperator();
    const values = op === "in" || op === "notin" ? this.parseValues() : this.parseExactValue();
    return newRequirement(key, op, sortedStrings([...values]));
  }

  parseKeyAndInferOperator(): { key: string; operator?: Operator } {
    let operator: Operator | undefined;
    let item = this.consume("values");
    if (item.tok === "doesNotExist") {
      operator = "!";
      item = this.consume("values");
    }
    if (item.tok !== "identifier") throw new Error(`found '${item.lit}', expected: identifier`);
    // The parser validates the key with a nil field path, which Go prints as "<nil>".
    const keyErr = validateLabelKey(item.lit, "<nil>");
    if (keyErr) throw new Error(fieldErrorMessage(keyErr));
    const t = this.lookahead("values").tok;
    if ((t === "eos" || t === "comma") && operator !== "!") operator = "exists";
    return { key: item.lit, operator };
  }

  parseOperator(): Operator {
    const { tok, lit } = this.consume("keyAndOperator");
    const ops: Partial<Record<Token, Operator>> = {
      in: "in",
      equals: "=",
      doubleEquals: "==",
      greaterThan: "gt",
      lessThan: "lt",
      notIn: "notin",
      notEquals: "!=",
    };
    const op = ops[tok];
    if (!op) throw new Error(`found '${lit}', expected: ${binaryOperators.join(", ")}`);
    return op;
  }

  parseValues(): Set<string> {
    const open = this.consume("values");
    if (open.tok !== "openPar") throw new Error(`found '${open.lit}' expected: '('`);
    const { tok, lit } = this.lookahead("values");
    if (tok === "closedPar") {
      this.consume("values");
      return new Set([""]);
    }
    if (tok !== "identifier" && tok !== "comma") {
      throw new Error(`found '${lit}', expected: ',', ')' or identifier`);
    }
    const values = this.parseIdentifiersList();
    if (this.consume("values").tok !== "closedPar") {
      throw new Error(`found '${lit}', expected: ')'`);
    }
    return values;
  }

  // A possibly empty, comma separated list of possibly empty identifiers: "(a,,b)", "(,)".
  parseIdentifiersList(): Set<string> {
    const values = new Set<string>();
    for (;;) {
      const { tok, lit } = this.consume("values");
      if (tok === "identifier") {
        values.add(lit);
        const next = this.lookahead("values");
        if (next.tok === "closedPar") return values;
        if (next.tok !== "comma") throw new Error(`found '${next.lit}', expected: ',' or ')'`);
      } else if (tok === "comma") {
        if (values.size === 0) values.add("");
        const next = this.lookahead("values").tok;
        if (next === "closedPar") {
          values.add("");
          return values;
        }
        if (next === "comma") {
          this.consume("values");
          values.add("");
        }
      } else {
        throw new Error(`found '${lit}', expected: ',', or identifier`);
      }
    }
  }

  parseExactValue(): Set<string> {
    const next = this.lookahead("values").tok;
    if (next === "eos" || next === "comma") return new Set([""]);
    const { tok, lit } = this.consume("values");
    if (tok === "identifier") return new Set([lit]);
    throw new Error(`found '${lit}', expected: identifier`);
  }
}

/** labels.Parse: "a=b,c!=d,e in (x,y),!f,g". Throws SelectorError. The empty string selects everything. */
export function parseSelector(selector: string): Selector {
  return new RequirementSelector(new Parser(selector).parse());
}

/** labels.ParseToRequirements: the parsed requirements, sorted by key. */
export function parseRequirements(selector: string): readonly Requirement[] {
  return parseSelector(selector).requirements() ?? [];
}
