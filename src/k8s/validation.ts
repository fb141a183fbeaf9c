// Name/label validation and field errors, worded as k8s.io/apimachinery (v0.36) words them:
// clients and scripts match on these strings, so wording is part of the API.
// - util/validation: IsDNS1123Subdomain, IsDNS1123Label, IsDNS1035Label ("characters")
// - api/validate/content: IsLabelKey (= IsQualifiedName), IsLabelValue ("bytes")
// - util/validation/field: Error, ErrorBody, ErrorList.ToAggregate
// - api/errors: NewInvalid message

// ---------------------------------------------------------------------------
// Go formatting helpers (fmt %q, %v, json.Marshal) used in error text.

/** UTF-8 byte length: Go's len(string) counts bytes, not UTF-16 units. */
export function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const shortEscapes: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  "\\": "\\\\",
  '"': '\\"',
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** Go's strconv.Quote / fmt "%q" for a string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (shortEscapes[ch]) out += shortEscapes[ch];
    // A lone surrogate cannot come from valid UTF-8; Go would hold U+FFFD.
    else if (cp >= 0xd800 && cp <= 0xdfff) out += "\ufffd";
    else if (printable.test(ch)) out += ch;
    else if (cp < 0x80) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return `${out}"`;
}

/** Go's fmt "%v" of a float64: strconv.FormatFloat(f, 'g', -1, 64). */
function goFloat(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "+Inf" : "-Inf";
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  const [mant, expStr] = n.toExponential().split("e");
  const exp = Number(expStr);
  // Shortest %g switches to exponent form below 1e-4 and from 1e6 on.
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? "-" : "+";
    return `${mant}e${sign}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return String(n);
}

/** Go's encoding/json string escaping (HTML-safe: <, >, & become \u00XX). */
function goJSONString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${hex(c.charCodeAt(0), 4)}`);
}

/** Go's json.Marshal of a decoded JSON value (integers print without exponent). */
export function goJSON(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return goJSONString(v);
  // JS number formatting uses the same thresholds as Go's JSON float encoder.
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  if (typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(goJSON).join(",")}]`;
  if (typeof v === "object") {
    const parts = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${goJSONString(k)}:${goJSON(x)}`);
    return `{${parts.join(",")}}`;
  }
  return "null";
}

function integerString(n: number): string {
  return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
}

/** fmt "%v"-style rendering of a field error's bad value, as field.Error.ErrorBody does. */
export function formatBadValue(v: unknown): string {
  if (typeof v === "string") return goQuote(v);
  if (typeof v === "number") return Number.isInteger(v) ? integerString(v) : goFloat(v);
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  return goJSON(v);
}

// ---------------------------------------------------------------------------
// String validators. Each returns a list of messages; empty means valid.

/** util/validation.MaxLenError (the older "characters" wording, still used for DNS names). */
export function maxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

/** api/validate/content.MaxLenError (label keys and values count bytes). */
function maxLenBytesError(length: number): string {
  return `must be no more than ${length} bytes`;
}

export function emptyError(): string {
  return "must be non-empty";
}

/** validation.RegexError: message plus examples and the regex, with Go's exact spacing. */
export function regexError(msg: string, re: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${re}')`;
  const ex = examples.map((e) => `'${e}', `).join(" or ");
  return `${msg} (e.g. ${ex}regex used for validation is '${re}')`;
}

const dns1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const dns1123LabelErrMsg =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1123SubdomainErrMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const dns1035LabelFmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
const dns1035LabelErrMsg =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";

const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`);
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);
const dns1035LabelRe = new RegExp(`^${dns1035LabelFmt}$`);

export const DNS1123LabelMaxLength = 63;
export const DNS1123SubdomainMaxLength = 253;
export const DNS1035LabelMaxLength = 63;
export const LabelValueMaxLength = 63;
const labelKeyNameMaxLength = 63;

/** IsDNS1123Label: e.g. Service or Namespace names. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (utf8Length(value) > DNS1123LabelMaxLength) errs.push(maxLenError(DNS1123LabelMaxLength));
  if (!dns1123LabelRe.test(value)) {
    // A valid subdomain that is not a valid label can only be failing on dots.
    if (dns1123SubdomainRe.test(value)) errs.push("must not contain dots");
    else errs.push(regexError(dns1123LabelErrMsg, dns1123LabelFmt, "my-name", "123-abc"));
  }
  return errs;
}

/** IsDNS1123Subdomain: most object names. */
export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (utf8Length(value) > DNS1123SubdomainMaxLength) {
    errs.push(maxLenError(DNS1123SubdomainMaxLength));
  }
  if (!dns1123SubdomainRe.test(value)) {
    errs.push(regexError(dns1123SubdomainErrMsg, dns1123SubdomainFmt, "example.com"));
  }
  return errs;
}

/** IsDNS1035Label: e.g. Service names, port names of some kinds. */
export function isDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (utf8Length(value) > DNS1035LabelMaxLength) errs.push(maxLenError(DNS1035LabelMaxLength));
  if (!dns1035LabelRe.test(value)) {
    errs.push(regexError(dns1035LabelErrMsg, dns1035LabelFmt, "my-name", "abc-123"));
  }
  return errs;
}

/** api/validation/path.IsValidPathSegmentName: names that must be usable as one URL path segment. */
export function isValidPathSegmentName(name: string): string[] {
  for (const illegal of [".", ".."]) if (name === illegal) return [`may not be '${illegal}'`];
  return ["/", "%"].filter((c) => name.includes(c)).map((c) => `may not contain '${c}'`);
}

// The prefix of a label key uses the content package's subdomain check ("bytes" wording).
function isDNS1123SubdomainContent(value: string): string[] {
  const errs: string[] = [];
  if (utf8Length(value) > DNS1123SubdomainMaxLength) {
    errs.push(maxLenBytesError(DNS1123SubdomainMaxLength));
  }
  if (!dns1123SubdomainRe.test(value)) {
    errs.push(regexError(dns1123SubdomainErrMsg, dns1123SubdomainFmt, "example.com"));
  }
  return errs;
}

const labelKeyFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const labelKeyErrMsg =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const labelKeyRe = new RegExp(`^${labelKeyFmt}$`);
const labelValueFmt = `(${labelKeyFmt})?`;
const labelValueErrMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const labelValueRe = new RegExp(`^${labelValueFmt}$`);

/** IsQualifiedName: label keys, annotation keys (lower-cased), finalizers. */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split("/");
  if (parts.length > 2) {
    return [
      `a valid label key ${regexError(labelKeyErrMsg, labelKeyFmt, "MyName", "my.name", "123-abc")} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  const name = parts.length === 1 ? parts[0] : parts[1];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix.length === 0) errs.push(`prefix part ${emptyError()}`);
    else for (const m of isDNS1123SubdomainContent(prefix)) errs.push(`prefix part ${m}`);
  }
  if (name.length === 0) errs.push(`name part ${emptyError()}`);
  else if (utf8Length(name) > labelKeyNameMaxLength) {
    errs.push(`name part ${maxLenBytesError(labelKeyNameMaxLength)}`);
  }
  if (!labelKeyRe.test(name)) {
    errs.push(
      `name part ${regexError(labelKeyErrMsg, labelKeyFmt, "MyName", "my.name", "123-abc")}`,
    );
  }
  return errs;
}

/** IsValidLabelValue. */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (utf8Length(value) > LabelValueMaxLength) errs.push(maxLenBytesError(LabelValueMaxLength));
  if (!labelValueRe.test(value)) {
    errs.push(regexError(labelValueErrMsg, labelValueFmt, "MyValue", "my_value", "12345"));
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Field errors (field.Error / field.ErrorList).

export type FieldErrorType =
  | "FieldValueInvalid"
  | "FieldValueRequired"
  | "FieldValueNotSupported"
  | "FieldValueDuplicate"
  | "FieldValueForbidden"
  | "FieldValueTooLong";

export interface FieldError {
  type: FieldErrorType;
  /** Dotted path as field.Path prints it, e.g. "spec.containers[0].image". */
  field: string;
  value?: unknown;
  detail: string;
}

const typeText: Record<FieldErrorType, string> = {
  FieldValueInvalid: "Invalid value",
  FieldValueRequired: "Required value",
  FieldValueNotSupported: "Unsupported value",
  FieldValueDuplicate: "Duplicate value",
  FieldValueForbidden: "Forbidden",
  FieldValueTooLong: "Too long",
};

export function invalid(field: string, value: unknown, detail: string): FieldError {
  return { type: "FieldValueInvalid", field, value, detail };
}

export function required(field: string, detail = ""): FieldError {
  return { type: "FieldValueRequired", field, value: "", detail };
}

export function notSupported(field: string, value: unknown, valid: readonly string[]): FieldError {
  const detail = valid.length > 0 ? `supported values: ${valid.map(goQuote).join(", ")}` : "";
  return { type: "FieldValueNotSupported", field, value, detail };
}

export function forbidden(field: string, detail: string): FieldError {
  return { type: "FieldValueForbidden", field, value: "", detail };
}

export function duplicate(field: string, value: unknown): FieldError {
  return { type: "FieldValueDuplicate", field, value, detail: "" };
}

/** field.TooLong: the value itself is never echoed back. Negative maxLength: no limit given. */
export function tooLong(field: string, maxLength: number): FieldError {
  const unit = maxLength === 1 ? "byte" : "bytes";
  const detail = maxLength >= 0 ? `may not be more than ${maxLength} ${unit}` : "value is too long";
  return { type: "FieldValueTooLong", field, value: "<value omitted>", detail };
}

/** field.Error.ErrorBody: the message without the field path (a StatusCause message). */
export function fieldErrorBody(e: FieldError): string {
  let s = typeText[e.type];
  // Required, Forbidden and TooLong never print the value.
  if (
    e.type !== "FieldValueRequired" &&
    e.type !== "FieldValueForbidden" &&
    e.type !== "FieldValueTooLong"
  ) {
    s += `: ${formatBadValue(e.value)}`;
  }
  return e.detail ? `${s}: ${e.detail}` : s;
}

/** field.Error.Error(): "spec.replicas: Invalid value: -1: must be greater than or equal to 0". */
export function fieldErrorMessage(e: FieldError): string {
  return `${e.field}: ${fieldErrorBody(e)}`;
}

/** ErrorList.ToAggregate().Error(): duplicates dropped, brackets only for two or more. */
export function aggregateErrors(errs: readonly FieldError[]): string {
  const msgs = [...new Set(errs.map(fieldErrorMessage))];
  return msgs.length === 1 ? msgs[0] : `[${msgs.join(", ")}]`;
}

export interface QualifiedKind {
  group?: string;
  kind: string;
}

/** schema.GroupKind.String(): "Deployment.apps", or just "Pod" for the core group. */
export function qualifiedKindString(k: string | QualifiedKind): string {
  if (typeof k === "string") return k;
  return k.group ? `${k.kind}.${k.group}` : k.kind;
}

/** Message of apierrors.NewInvalid (the 422 Status): `Deployment.apps "web" is invalid: [a, b]`. */
export function aggregateMessage(
  kind: string | QualifiedKind,
  name: string,
  errs: readonly FieldError[],
): string {
  const head = `${qualifiedKindString(kind)} ${goQuote(name)} is invalid`;
  return errs.length === 0 ? head : `${head}: ${aggregateErrors(errs)}`;
}

/** metav1.StatusCause list for the 422 Status details, as NewInvalid builds it. */
export function statusCauses(
  errs: readonly FieldError[],
): { reason: FieldErrorType; message: string; field: string }[] {
  return errs.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field }));
}

// ---------------------------------------------------------------------------
// Object metadata checks.

/** 256 KiB: TotalAnnotationSizeLimitB. */
export const TotalAnnotationSizeLimitB = 256 * 1024;

/** ValidateAnnotations: keys are qualified names (case-insensitive); total size capped. */
export function validateAnnotations(
  annotations: Record<string, string> | undefined,
  field = "metadata.annotations",
): FieldError[] {
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    for (const msg of isQualifiedName(k.toLowerCase())) errs.push(invalid(field, k, msg));
    size += utf8Length(k) + utf8Length(v);
  }
  if (size > TotalAnnotationSizeLimitB) errs.push(tooLong(field, TotalAnnotationSizeLimitB));
  return errs;
}

/** metav1validation.ValidateLabels: qualified-name keys and label values. */
export function validateLabels(
  labels: Record<string, string> | undefined,
  field = "metadata.labels",
): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    for (const msg of isQualifiedName(k)) errs.push(invalid(field, k, msg));
    for (const msg of isValidLabelValue(v)) errs.push(invalid(field, v, msg));
  }
  return errs;
}
