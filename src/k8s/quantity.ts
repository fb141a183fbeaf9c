// resource.Quantity: parsing, the string form Kubernetes serializes, comparison and arithmetic.
// A value is held exactly as unscaled × 10^scale (bigint), which stands in for both of Go's
// representations (int64Amount and inf.Dec); the observable rules are ported from
// k8s.io/apimachinery/pkg/api/resource (v0.36), including which inputs keep their original text.

export type QuantityFormat = "DecimalExponent" | "BinarySI" | "DecimalSI";

const splitREString = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";
export const errFormatWrong = `quantities must match the regular expression '${splitREString}'`;
export const errNumeric = "unable to parse numeric part of quantity";
export const errSuffix = "unable to parse quantity's suffix";

/** A string that is not a quantity; the message is ParseQuantity's error text. */
export class QuantityError extends Error {
  override name = "QuantityError";
}

const int64Max = 2n ** 63n - 1n;
// Values are kept at nanounit precision or coarser after parsing.
const nanoScale = -9;
// Guard against materialising absurd powers of ten ("1e999999999" vs "1") in arithmetic.
const maxPow10 = 100_000;

const pow10Cache = new Map<number, bigint>();
function pow10(n: number): bigint {
  if (n > maxPow10) throw new RangeError("quantity exponent out of range");
  let p = pow10Cache.get(n);
  if (p === undefined) {
    p = 10n ** BigInt(n);
    if (n <= 64) pow10Cache.set(n, p);
  }
  return p;
}

function abs(n: bigint): bigint {
  return n < 0n ? -n : n;
}

function digits(n: bigint): number {
  return abs(n).toString().length;
}

/** Divides by 10^d rounding away from zero (Go's RoundUp / negativeScaleInt64). */
function divRoundAway(u: bigint, d: number): bigint {
  if (d <= 0) return u * pow10(-d);
  if (u === 0n) return 0n;
  // Anything smaller than one unit of the target scale rounds to ±1.
  if (digits(u) <= d) return u < 0n ? -1n : 1n;
  const p = pow10(d);
  const q = u / p;
  if (u % p === 0n) return q;
  return u < 0n ? q - 1n : q + 1n;
}

// ---------------------------------------------------------------------------
// Suffixes

interface Interpreted {
  base: 2 | 10;
  exponent: number;
  format: QuantityFormat;
}

const decimalSuffixes: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const binarySuffixes: Record<string, number> = {
  Ki: 10,
  Mi: 20,
  Gi: 30,
  Ti: 40,
  Pi: 50,
  Ei: 60,
};
const decimalByExponent = new Map(Object.entries(decimalSuffixes).map(([s, e]) => [e, s]));
const binaryByExponent = new Map(Object.entries(binarySuffixes).map(([s, e]) => [e, s]));

/** suffixer.interpret: "Ki" → 2^10, "k" → 10^3, "e3"/"E-3" → decimal exponent. */
function interpretSuffix(s: string): Interpreted | undefined {
  if (Object.hasOwn(decimalSuffixes, s)) {
    return { base: 10, exponent: decimalSuffixes[s], format: "DecimalSI" };
  }
  if (Object.hasOwn(binarySuffixes, s)) {
    return { base: 2, exponent: binarySuffixes[s], format: "BinarySI" };
  }
  if (s.length > 1 && (s[0] === "e" || s[0] === "E")) {
    const rest = s.slice(1);
    if (!/^[+-]?[0-9]+$/.test(rest)) return undefined;
    const n = BigInt(rest);
    if (n > int64Max || n < -int64Max - 1n) return undefined;
    // Go keeps int32(parsed): out-of-range exponents wrap.
    return { base: 10, exponent: Number(BigInt.asIntN(32, n)), format: "DecimalExponent" };
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Parsing

interface Parts {
  positive: boolean;
  /** The numeric text including sign, e.g. "-1.5" (what the slow path parses). */
  value: string;
  /** Integer digits without leading zeros ("0" when none). */
  num: string;
  denom: string;
  suffix: string;
}

const isDigit = (c: string) => c >= "0" && c <= "9";
const suffixChars = "eEinumkKMGTP";

/** parseQuantityString: a byte-for-byte port, quirks included ("." and "-" read as zero). */
function splitQuantity(str: string): Parts {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (str[0] === "-" || str[0] === "+") {
    positive = str[0] !== "-";
    pos++;
  }
  while (pos < end && str[pos] === "0") pos++;
  if (pos >= end) return { positive, value: "0", num: "0", denom: "", suffix: "" };

  let i = pos;
  while (i < end && isDigit(str[i])) i++;
  if (i >= end) return { positive, value: str, num: str.slice(pos), denom: "", suffix: "" };
  const num = str.slice(pos, i) || "0";
  pos = i;

  let denom = "";
  if (str[pos] === ".") {
    pos++;
    i = pos;
    while (i < end && isDigit(str[i])) i++;
    if (i >= end) return { positive, value: str, num, denom: str.slice(pos), suffix: "" };
    denom = str.slice(pos, i);
    pos = i;
  }
  const value = str.slice(0, pos);
  return { positive, value, num, denom, suffix: readSuffix(str, pos) };
}

function readSuffix(str: string, start: number): string {
  let pos = start;
  while (pos < str.length && suffixChars.includes(str[pos])) pos++;
  if (str[pos] === "-" || str[pos] === "+") pos++;
  while (pos < str.length && isDigit(str[pos])) pos++;
  if (pos < str.length) throw new QuantityError(errFormatWrong);
  return str.slice(start);
}

interface Parsed {
  unscaled: bigint;
  scale: number;
  format: QuantityFormat;
  /** Set when Kubernetes keeps the input text as the serialized form. */
  original?: string;
}

/**
 * ParseQuantity's int64 fast path. Besides avoiding big numbers it decides which inputs keep
 * their original spelling ("100m", "1Gi", "+1") rather than being re-canonicalised.
 */
function parseFast(str: string, p: Parts, s: Interpreted): Parsed | undefined {
  const binary = s.format === "BinarySI";
  let precision: number;
  if (!binary) precision = 18 - (p.num.length + p.denom.length);
  else if (s.exponent >= 0 && p.denom === "") {
    precision = 15 - p.num.length - Math.trunc((s.exponent * 3) / 10) - 1;
  } else precision = -1;
  if (precision < 0) return undefined;

  const scale = (binary ? 0 : s.exponent) - p.denom.length;
  if (scale < nanoScale) return undefined;
  const shifted = p.num + p.denom;
  const v = BigInt(shifted);
  const result = binary ? v << BigInt(s.exponent) : v;
  if (result > int64Max) return undefined;

  const keep = binary
    ? s.exponent % 10 === 0 && (v & 7n) !== 0n
    : scale % 3 === 0 && !shifted.endsWith("000") && shifted[0] !== "0";
  const unscaled = p.positive ? result : -result;
  return { unscaled, scale, format: s.format, original: keep ? str : undefined };
}

/** ParseQuantity's inf.Dec path: exact value, rounded up to nanounits, BinarySI capped. */
function parseSlow(p: Parts, s: Interpreted): Parsed {
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?$/.exec(p.value);
  if (!m || m[2] + (m[3] ?? "") === "") throw new QuantityError(errNumeric);
  const frac = m[3] ?? "";
  let unscaled = BigInt(m[2] + frac) * (m[1] === "-" ? -1n : 1n);
  let scale = -frac.length;
  if (s.base === 10) scale += s.exponent;
  else unscaled <<= BigInt(s.exponent);

  if (unscaled !== 0n && scale < nanoScale) {
    unscaled = divRoundAway(unscaled, nanoScale - scale);
    scale = nanoScale;
  }
  let format = s.format;
  if (format === "BinarySI") {
    if (cmpParts(abs(unscaled), scale, int64Max, 0) > 0) {
      unscaled = unscaled < 0n ? -int64Max : int64Max;
      scale = 0;
    }
    // Fractions below one cannot be written in binary units.
    if (unscaled !== 0n && cmpParts(abs(unscaled), scale, 1n, 0) < 0) format = "DecimalSI";
  }
  return { unscaled, scale, format };
}

function parseParts(str: string): Parsed {
  if (str.length === 0) throw new QuantityError(errFormatWrong);
  if (str === "0") return { unscaled: 0n, scale: 0, format: "DecimalSI", original: "0" };
  const p = splitQuantity(str);
  const s = interpretSuffix(p.suffix);
  if (!s) throw new QuantityError(errSuffix);
  return parseFast(str, p, s) ?? parseSlow(p, s);
}

// ---------------------------------------------------------------------------
// Comparison

/** Compares a×10^as with b×10^bs without building huge numbers when magnitudes differ. */
function cmpParts(a: bigint, as: number, b: bigint, bs: number): -1 | 0 | 1 {
  const sa = a === 0n ? 0 : a < 0n ? -1 : 1;
  const sb = b === 0n ? 0 : b < 0n ? -1 : 1;
  if (sa !== sb) return sa < sb ? -1 : 1;
  if (sa === 0) return 0;
  const magA = digits(a) + as;
  const magB = digits(b) + bs;
  // Same sign: the larger order of magnitude wins (or loses, for negatives).
  if (magA !== magB) return magA > magB === sa > 0 ? 1 : -1;
  const x = as >= bs ? a * pow10(as - bs) : a;
  const y = bs >= as ? b * pow10(bs - as) : b;
  return x === y ? 0 : x > y ? 1 : -1;
}

// ---------------------------------------------------------------------------
// Canonical form

/** Strips trailing zeros into the exponent. */
function removeTens(u: bigint, scale: number): [bigint, number] {
  let m = u;
  let e = scale;
  while (m !== 0n && m % 10n === 0n) {
    m /= 10n;
    e++;
  }
  return [m, e];
}

/** Decimal canonical form: exponent lowered to a multiple of three, then an SI suffix. */
function canonicalDecimal(u: bigint, scale: number, format: QuantityFormat): string {
  let [m, e] = removeTens(u, scale);
  const r = ((e % 3) + 3) % 3;
  m *= pow10(r);
  e -= r;
  if (format === "DecimalSI" && decimalByExponent.has(e)) return `${m}${decimalByExponent.get(e)}`;
  // No SI suffix beyond E: upstream now falls back to exponent form rather than dropping it.
  return e === 0 ? `${m}` : `${m}e${e}`;
}

/** Binary canonical form: the largest power-of-1024 suffix that divides the integer value. */
function canonicalBinary(n: bigint): string {
  let m = n;
  let times = 0;
  while (abs(m) >= 1024n && m % 1024n === 0n) {
    m /= 1024n;
    times++;
  }
  if (times === 0) return `${m}`;
  const suffix = binaryByExponent.get(times * 10);
  return suffix === undefined ? canonicalDecimal(n, 0, "DecimalExponent") : `${m}${suffix}`;
}

// ---------------------------------------------------------------------------
// Quantity

export class Quantity {
  readonly format: QuantityFormat;
  readonly #unscaled: bigint;
  readonly #scale: number;
  readonly #original: string | undefined;

  private constructor(p: Parsed) {
    this.#unscaled = p.unscaled;
    this.#scale = p.scale;
    this.format = p.format;
    this.#original = p.original;
  }

  /** resource.ParseQuantity. Throws QuantityError. */
  static parse(s: string): Quantity {
    return new Quantity(parseParts(s));
  }

  /** resource.NewQuantity: an integer in the given format. */
  static fromValue(value: bigint | number, format: QuantityFormat = "DecimalSI"): Quantity {
    return new Quantity({ unscaled: BigInt(value), scale: 0, format });
  }

  /** resource.NewMilliQuantity: e.g. fromMilli(500) is "500m". */
  static fromMilli(milli: bigint | number, format: QuantityFormat = "DecimalSI"): Quantity {
    return new Quantity({ unscaled: BigInt(milli), scale: -3, format });
  }

  /** The zero quantity. */
  static zero(format: QuantityFormat = "DecimalSI"): Quantity {
    return new Quantity({ unscaled: 0n, scale: 0, format });
  }

  sign(): -1 | 0 | 1 {
    return this.#unscaled === 0n ? 0 : this.#unscaled < 0n ? -1 : 1;
  }

  isZero(): boolean {
    return this.#unscaled === 0n;
  }

  /** Quantity.Cmp: -1, 0 or 1. */
  cmp(other: Quantity): -1 | 0 | 1 {
    return cmpParts(this.#unscaled, this.#scale, other.#unscaled, other.#scale);
  }

  equals(other: Quantity): boolean {
    return this.cmp(other) === 0;
  }

  /** Quantity.Add: keeps this format unless this is zero. The result is re-canonicalised. */
  add(other: Quantity): Quantity {
    const s = Math.min(this.#scale, other.#scale);
    const unscaled =
      this.#unscaled * pow10(this.#scale - s) + other.#unscaled * pow10(other.#scale - s);
    const format = this.isZero() ? other.format : this.format;
    return new Quantity({ unscaled, scale: s, format });
  }

  /** Quantity.Sub. */
  sub(other: Quantity): Quantity {
    return this.add(new Quantity({ ...other.#parts(), unscaled: -other.#unscaled }));
  }

  /** Quantity.ScaledValue: the value in units of 10^scale, rounded away from zero. */
  scaledValue(scale: number): bigint {
    return divRoundAway(this.#unscaled, scale - this.#scale);
  }

  /** Quantity.Value: whole units, rounded away from zero ("1500m" → 2). */
  value(): bigint {
    return this.scaledValue(0);
  }

  /** Quantity.MilliValue: milli-units, rounded away from zero ("1n" → 1). */
  milliValue(): bigint {
    return this.scaledValue(-3);
  }

  /** An approximate float (AsApproximateFloat64). */
  toNumber(): number {
    return Number(`${this.#unscaled}e${this.#scale}`);
  }

  /** The canonical form (CanonicalizeBytes), ignoring any kept input text. */
  canonical(): string {
    if (this.#unscaled === 0n) return "0";
    let format = this.format;
    if (format === "BinarySI") {
      const small = cmpParts(abs(this.#unscaled), this.#scale, 1024n, 0) < 0;
      // Values below 1024 or with a fraction print in decimal rather than losing precision.
      if (small || !this.#isInteger()) format = "DecimalSI";
      else return canonicalBinary(this.scaledValue(0));
    }
    return canonicalDecimal(this.#unscaled, this.#scale, format);
  }

  /** What Kubernetes serializes (Quantity.String / MarshalJSON). */
  toString(): string {
    return this.#original ?? this.canonical();
  }

  toJSON(): string {
    return this.toString();
  }

  #isInteger(): boolean {
    return this.#scale >= 0 || this.#unscaled % pow10(-this.#scale) === 0n;
  }

  #parts(): Parsed {
    return { unscaled: this.#unscaled, scale: this.#scale, format: this.format };
  }
}

/** resource.ParseQuantity. Throws QuantityError. */
export function parseQuantity(s: string): Quantity {
  return Quantity.parse(s);
}

/**
 * Quantity.UnmarshalJSON: accepts a JSON string (surrounding whitespace trimmed) or number;
 * null is the zero quantity. Numbers lose their original spelling (1e3 arrives as 1000).
 */
export function quantityFromJSON(v: unknown): Quantity {
  if (v === null) return Quantity.zero();
  if (typeof v === "number" && Number.isFinite(v)) return Quantity.parse(String(v));
  if (typeof v === "string") return Quantity.parse(v.trim());
  throw new QuantityError(errFormatWrong);
}

/** Quantity.Cmp on two strings. Throws QuantityError. */
export function compareQuantities(a: string, b: string): -1 | 0 | 1 {
  return Quantity.parse(a).cmp(Quantity.parse(b));
}

/** The serialized (canonical unless kept) form of a quantity string. Throws QuantityError. */
export function canonicalQuantity(s: string): string {
  return Quantity.parse(s).toString();
}
