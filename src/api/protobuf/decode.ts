// Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf) decoded into the plain
// JSON object Go's encoding/json would have produced from the same Go value, so that the rest of
// the server sees what the JSON path gives it.
//
// Wire format: the magic "k8s\0", then a runtime.Unknown {typeMeta(1){apiVersion(1), kind(2)},
// raw(2), contentEncoding(3), contentType(4)} whose raw is the object's own message. The field
// table (fields.gen.json, from scripts/gen-protobuf-table.ts) names each field as JSON does and
// flags what protobuf alone cannot tell: inlined members and omitempty scalars, which gogo
// writes even when zero.

import { badRequest, unsupportedMediaType } from "../../k8s/errors.ts";
import table from "./fields.gen.json" with { type: "json" };

interface Field {
  name: string;
  kind: string;
  repeated?: boolean;
  inline?: boolean;
  omitEmpty?: boolean;
}

const MESSAGES = table as unknown as Record<string, Record<string, Field | undefined> | undefined>;

const MAGIC = [0x6b, 0x38, 0x73, 0x00];
const API = "k8s.io.api";
const META = "k8s.io.apimachinery.pkg.apis.meta.v1";
const TIME = `${META}.Time`;
const MICRO_TIME = `${META}.MicroTime`;
const DURATION = `${META}.Duration`;
const FIELDS_V1 = `${META}.FieldsV1`;
const RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension";
const QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
/** Kinds every group version serves, decoded as meta/v1 whatever the apiVersion. */
const META_KINDS = new Set(["DeleteOptions"]);
/** Go's time.Time{} (0001-01-01T00:00:00Z) in Unix seconds: marshals as null. */
const ZERO_TIME_SECONDS = -62135596800;
const MAX_DEPTH = 100;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder();

const malformed = (why: string) => badRequest(`unable to decode the protobuf request body: ${why}`);

/** A cursor over one message's bytes. */
class Reader {
  readonly buf: Uint8Array;
  pos = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** A varint as its low and high 32 bits, both unsigned. */
  varint(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw malformed("unexpected end of data");
      const b = this.buf[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw malformed("varint overflow");
  }

  length(): number {
    const [lo, hi] = this.varint();
    if (hi !== 0 || lo > this.buf.length - this.pos) throw malformed("length out of range");
    return lo;
  }

  bytes(): Uint8Array {
    const n = this.length();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  fixed(n: 4 | 8): DataView {
    if (this.buf.length - this.pos < n) throw malformed("unexpected end of data");
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return view;
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) this.fixed(8);
    else if (wire === WIRE_BYTES) this.bytes();
    else if (wire === WIRE_FIXED32) this.fixed(4);
    else throw malformed(`unsupported wire type ${wire}`);
  }
}

const int64 = (lo: number, hi: number): number =>
  Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)));

const uint64 = (lo: number, hi: number): number => hi * 2 ** 32 + lo;

const WIRE_OF: Record<string, number> = {
  int32: WIRE_VARINT,
  int64: WIRE_VARINT,
  uint32: WIRE_VARINT,
  uint64: WIRE_VARINT,
  bool: WIRE_VARINT,
  double: WIRE_FIXED64,
  float: WIRE_FIXED32,
};

/** One scalar of a numeric kind, read with the kind's own wire type. */
function readNumeric(r: Reader, kind: string): number | boolean {
  switch (kind) {
    case "double":
      return r.fixed(8).getFloat64(0, true);
    case "float":
      return r.fixed(4).getFloat32(0, true);
  }
  const [lo, hi] = r.varint();
  switch (kind) {
    case "int32":
      return lo | 0;
    case "uint32":
      return lo;
    case "int64":
      return int64(lo, hi);
    case "uint64":
      return uint64(lo, hi);
    default:
      return lo !== 0 || hi !== 0;
  }
}

/** Go's []byte in JSON: standard base64 with padding. */
function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** The value of a field of `kind` whose tag carried `wire`. */
function readValue(r: Reader, kind: string, wire: number, depth: number): unknown {
  if (kind === "string" || kind === "bytes" || kind.startsWith("message:")) {
    if (wire !== WIRE_BYTES) throw malformed(`wire type ${wire} for a ${kind} field`);
    const data = r.bytes();
    if (kind === "string") return utf8.decode(data);
    if (kind === "bytes") return base64(data);
    return decodeMessage(kind.slice("message:".length), data, depth + 1);
  }
  if (WIRE_OF[kind] === undefined) throw malformed(`unknown field kind ${kind}`);
  if (wire !== WIRE_OF[kind]) throw malformed(`wire type ${wire} for a ${kind} field`);
  return readNumeric(r, kind);
}

/** Sets an own property even for keys such as "__proto__", as JSON.parse does. */
function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A map entry message: key(1), value(2); either may be absent and then takes its zero value. */
function readMapEntry(data: Uint8Array, valueKind: string, depth: number): [string, unknown] {
  const r = new Reader(data);
  let key = "";
  let value: unknown;
  while (!r.done) {
    const [tag] = r.varint();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (no === 1) key = readValue(r, "string", wire, depth) as string;
    else if (no === 2) value = readValue(r, valueKind, wire, depth);
    else r.skip(wire);
  }
  return [key, value === undefined ? zeroOf(valueKind, depth) : value];
}

/** What gogo leaves in a field it did not read. */
function zeroOf(kind: string, depth: number): unknown {
  if (kind === "string" || kind === "bytes") return "";
  if (kind === "bool") return false;
  if (kind.startsWith("message:"))
    return decodeMessage(kind.slice("message:".length), new Uint8Array(), depth + 1);
  return 0;
}

const isZero = (v: unknown) => v === "" || v === 0 || v === false;

/** A message's fields by number, straight from the wire: numbers, strings, byte arrays. */
function rawFields(data: Uint8Array): Map<number, unknown> {
  const r = new Reader(data);
  const out = new Map<number, unknown>();
  while (!r.done) {
    const [tag] = r.varint();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_VARINT) {
      const [lo, hi] = r.varint();
      out.set(no, int64(lo, hi));
    } else if (wire === WIRE_BYTES) out.set(no, r.bytes());
    else r.skip(wire);
  }
  return out;
}

const num = (v: unknown): number => (typeof v === "number" ? v : 0);

/** Go's Time.MarshalJSON (RFC 3339 in UTC) for seconds and, for MicroTime, microseconds. */
function formatTime(data: Uint8Array, micro: boolean): string | null {
  if (data.length === 0) return null; // an unset Time is written empty
  const f = rawFields(data);
  const seconds = num(f.get(1));
  const nanos = micro ? num(f.get(2)) : 0; // Time drops nanoseconds when decoding protobuf
  const micros = Math.floor(nanos / 1000);
  if (seconds === ZERO_TIME_SECONDS && micros === 0) return null;
  const date = new Date(seconds * 1000);
  const year = date.getUTCFullYear();
  if (!Number.isFinite(year) || year < 0 || year > 9999)
    throw badRequest("Time.MarshalJSON: year outside of range [0,9999]");
  const iso = date.toISOString().slice(-24, -5); // YYYY-MM-DDTHH:MM:SS
  return micro ? `${iso}.${String(micros).padStart(6, "0")}Z` : `${iso}Z`;
}

/** Go's time.Duration.String(): "1h2m3.5s", "1.5ms", "0s". */
function formatDuration(nanos: bigint): string {
  if (nanos === 0n) return "0s";
  const sign = nanos < 0n ? "-" : "";
  const u = nanos < 0n ? -nanos : nanos;
  const frac = (v: bigint, digits: number) => {
    const scale = 10n ** BigInt(digits);
    const f = (v % scale).toString().padStart(digits, "0").replace(/0+$/, "");
    return `${v / scale}${f ? `.${f}` : ""}`;
  };
  if (u < 1000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${frac(u, 3)}µs`;
  if (u < 1_000_000_000n) return `${sign}${frac(u, 6)}ms`;
  const secs = u / 1_000_000_000n;
  let out = `${frac((secs % 60n) * 1_000_000_000n + (u % 1_000_000_000n), 9)}s`;
  const mins = secs / 60n;
  if (mins > 0n) {
    out = `${mins % 60n}m${out}`;
    const hours = mins / 60n;
    if (hours > 0n) out = `${hours}h${out}`;
  }
  return sign + out;
}

/** Raw JSON embedded as bytes (FieldsV1, RawExtension); a nested protobuf object is decoded. */
function embedded(data: Uint8Array): unknown {
  const raw = rawFields(data).get(1);
  if (!(raw instanceof Uint8Array)) return null;
  if (MAGIC.every((b, i) => raw[i] === b)) return decodeProtobuf(raw).object;
  try {
    return JSON.parse(utf8.decode(raw));
  } catch {
    throw malformed("embedded raw object is not JSON");
  }
}

/** Messages whose JSON form is not an object of their fields. */
function decodeSpecial(type: string, data: Uint8Array): { value: unknown } | undefined {
  switch (type) {
    case TIME:
      return { value: formatTime(data, false) };
    case MICRO_TIME:
      return { value: formatTime(data, true) };
    case QUANTITY: {
      const s = rawFields(data).get(1);
      return { value: s instanceof Uint8Array ? utf8.decode(s) : "0" };
    }
    case INT_OR_STRING: {
      const f = rawFields(data);
      const kind = num(f.get(1));
      if (kind === 0) return { value: num(f.get(2)) | 0 };
      if (kind === 1) {
        const s = f.get(3);
        return { value: s instanceof Uint8Array ? utf8.decode(s) : "" };
      }
      throw malformed("impossible IntOrString.Type");
    }
    case DURATION: {
      const r = new Reader(data);
      let nanos = 0n;
      while (!r.done) {
        const [tag] = r.varint();
        if (tag === 1 << 3) {
          const [lo, hi] = r.varint();
          nanos = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
        } else r.skip(tag & 7);
      }
      return { value: formatDuration(nanos) };
    }
    case FIELDS_V1:
    case RAW_EXTENSION:
      return { value: embedded(data) };
  }
  return undefined;
}

function decodeMessage(type: string, data: Uint8Array, depth: number): unknown {
  if (depth > MAX_DEPTH) throw malformed("nesting too deep");
  const special = decodeSpecial(type, data);
  if (special) return special.value;
  const fields = MESSAGES[type];
  if (!fields) throw malformed(`no field table for ${type}`);
  const out: Record<string, unknown> = {};
  const r = new Reader(data);
  while (!r.done) {
    const [tag] = r.varint();
    const no = tag >>> 3;
    const wire = tag & 7;
    const f = no > 0 ? fields[no] : undefined;
    if (!f) {
      r.skip(wire); // a field this table does not know (newer client), as gogo skips it
      continue;
    }
    if (f.kind.startsWith("map<")) {
      if (wire !== WIRE_BYTES) throw malformed(`wire type ${wire} for map field ${f.name}`);
      const [key, value] = readMapEntry(r.bytes(), f.kind.slice(11, -1), depth + 1);
      let map = out[f.name] as Record<string, unknown> | undefined;
      if (!map) {
        map = {};
        out[f.name] = map;
      }
      setKey(map, key, value);
      continue;
    }
    if (f.repeated) {
      let list = out[f.name] as unknown[] | undefined;
      if (!list) {
        list = [];
        out[f.name] = list;
      }
      if (wire === WIRE_BYTES && WIRE_OF[f.kind] !== undefined) {
        const packed = new Reader(r.bytes()); // packed numbers
        while (!packed.done) list.push(readNumeric(packed, f.kind));
      } else list.push(readValue(r, f.kind, wire, depth));
      continue;
    }
    const value = readValue(r, f.kind, wire, depth);
    if (f.inline) Object.assign(out, value);
    else if (f.omitEmpty && isZero(value)) delete out[f.name];
    else out[f.name] = value;
  }
  return out;
}

/** The proto message of a kind: k8s.io.api.<group's first label, "core">.<version>.<kind>. */
function messageFor(apiVersion: string, kind: string): string | undefined {
  if (!/^\w+$/.test(kind)) return undefined;
  const slash = apiVersion.lastIndexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  const pkg = group === "" ? "core" : group.split(".")[0];
  const name = `${API}.${pkg}.${version}.${kind}`;
  if (MESSAGES[name]) return name;
  if (META_KINDS.has(kind) && MESSAGES[`${META}.${kind}`]) return `${META}.${kind}`;
  return undefined;
}

/** Decodes a Kubernetes protobuf body into the object its JSON encoding would have given. */
export function decodeProtobuf(bytes: Uint8Array | ArrayBuffer): {
  apiVersion: string;
  kind: string;
  object: Record<string, unknown>;
} {
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (buf.length < MAGIC.length || MAGIC.some((b, i) => buf[i] !== b))
    throw malformed("missing the k8s protobuf prefix");
  const unknown = rawFields(buf.subarray(MAGIC.length));
  const typeMeta = unknown.get(1);
  const meta = typeMeta instanceof Uint8Array ? rawFields(typeMeta) : new Map<number, unknown>();
  const text = (v: unknown) => (v instanceof Uint8Array ? utf8.decode(v) : "");
  const apiVersion = text(meta.get(1));
  const kind = text(meta.get(2));
  const encoding = text(unknown.get(3));
  if (encoding) throw malformed(`unsupported content encoding ${encoding}`);
  const raw = unknown.get(2);
  const type = messageFor(apiVersion, kind);
  if (!type)
    throw unsupportedMediaType(
      `application/vnd.kubernetes.protobuf (${apiVersion}, Kind=${kind})`,
      ["application/json", "application/yaml"],
    );
  const fields = decodeMessage(type, raw instanceof Uint8Array ? raw : new Uint8Array(), 0);
  const object: Record<string, unknown> = {};
  if (kind) object.kind = kind;
  if (apiVersion) object.apiVersion = apiVersion;
  Object.assign(object, fields);
  return { apiVersion, kind, object };
}
