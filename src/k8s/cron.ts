// CronJob schedules as Kubernetes reads them: github.com/robfig/cron/v3 ParseStandard (five
// fields, or a @descriptor, or "@every <duration>"), with that library's error wording, since the
// API server returns it verbatim in a 422. `next` follows SpecSchedule.Next step by step, wall
// clock fields taken in an IANA time zone through Intl (available in Node and workerd alike).
import { goQuote } from "./validation.ts";

export class CronError extends Error {
  override name = "CronError";
}

export interface Schedule {
  /** The first activation strictly after `after`, or undefined when none comes within five years. */
  next(after: Date): Date | undefined;
}

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const minutes: Bounds = { min: 0, max: 59 };
const hours: Bounds = { min: 0, max: 23 };
const dom: Bounds = { min: 1, max: 31 };
const months: Bounds = {
  min: 1,
  max: 12,
  names: {
    jan: 1,
    feb: 2,
    mar: 3,
    apr: 4,
    may: 5,
    jun: 6,
    jul: 7,
    aug: 8,
    sep: 9,
    oct: 10,
    nov: 11,
    dec: 12,
  },
};
const dow: Bounds = {
  min: 0,
  max: 6,
  names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 },
};

/** The values a field allows; `star` marks a field written as * or ? (robfig's starBit). */
interface Field {
  values: Set<number>;
  star: boolean;
}

const bits = (min: number, max: number, step = 1): Set<number> => {
  const s = new Set<number>();
  for (let i = min; i <= max; i += step) s.add(i);
  return s;
};
const all = (b: Bounds): Field => ({ values: bits(b.min, b.max), star: true });
const only = (v: number): Field => ({ values: new Set([v]), star: false });

// ---------------------------------------------------------------------------
// Time zones

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(tz: string): Intl.DateTimeFormat {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formats.set(tz, f);
  }
  return f;
}

/**
 * time.LoadLocation's verdict on a zone name: undefined when usable, else Go's error text.
 * Intl is more lenient than Go's zoneinfo lookup (case, UTC offsets), so those are refused here.
 */
export function timeZoneError(tz: string): string | undefined {
  const unknown = `unknown time zone ${tz}`;
  if (tz === "" || tz === "UTC") return undefined;
  if (/^[+-]?\d/.test(tz) || tz === "Local") return unknown;
  let resolved: string;
  try {
    resolved = formatFor(tz).resolvedOptions().timeZone;
  } catch {
    return unknown;
  }
  // zoneinfo file names are case-sensitive; Intl accepts any case.
  if (resolved !== tz && resolved.toLowerCase() === tz.toLowerCase()) return unknown;
  return undefined;
}

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function partsAt(ms: number, tz: string): Parts {
  if (tz === "UTC") {
    const d = new Date(ms);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
    };
  }
  const p: Record<string, number> = {};
  for (const { type, value } of formatFor(tz).formatToParts(new Date(ms))) p[type] = Number(value);
  return {
    year: p.year,
    month: p.month,
    day: p.day,
    hour: p.hour,
    minute: p.minute,
    second: p.second,
  };
}

const wallClock = (y: number, mo: number, d: number, h: number, mi: number, s: number): number => {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date.getTime();
};

const offsetAt = (ms: number, tz: string): number => {
  const p = partsAt(ms, tz);
  const whole = Math.floor(ms / 1000) * 1000;
  return wallClock(p.year, p.month, p.day, p.hour, p.minute, p.second) - whole;
};

/** time.Date in a zone: fields may overflow; a wall time a transition skips or repeats resolves as Go does. */
function zoned(
  tz: string,
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
): number {
  const local = wallClock(y, mo, d, h, mi, s);
  if (tz === "UTC") return local;
  return local - offsetAt(local - offsetAt(local, tz), tz);
}

const weekday = (p: Parts): number =>
  new Date(wallClock(p.year, p.month, p.day, 0, 0, 0)).getUTCDay();

// ---------------------------------------------------------------------------
// Schedules

interface Spec {
  minute: Field;
  hour: Field;
  dom: Field;
  month: Field;
  dow: Field;
  tz: string;
}

const second = only(0);

function dayMatches(s: Spec, p: Parts): boolean {
  const domMatch = s.dom.values.has(p.day);
  const dowMatch = s.dow.values.has(weekday(p));
  if (s.dom.star || s.dow.star) return domMatch && dowMatch;
  return domMatch || dowMatch;
}

// SpecSchedule.Next: advance the coarsest mismatching field, wrapping back to the month check.
function nextOf(s: Spec, after: Date): Date | undefined {
  const tz = s.tz;
  let t = Math.floor(after.getTime() / 1000) * 1000 + 1000;
  let added = false;
  let p = partsAt(t, tz);
  const yearLimit = p.year + 5;
  const set = (ms: number) => {
    t = ms;
    p = partsAt(t, tz);
  };
  const addDate = (dm: number, dd: number) =>
    set(zoned(tz, p.year, p.month + dm, p.day + dd, p.hour, p.minute, p.second));
  wrap: for (;;) {
    if (p.year > yearLimit) return undefined;
    while (!s.month.values.has(p.month)) {
      if (!added) {
        added = true;
        set(zoned(tz, p.year, p.month, 1, 0, 0, 0));
      }
      addDate(1, 0);
      if (p.month === 1) continue wrap;
    }
    while (!dayMatches(s, p)) {
      if (!added) {
        added = true;
        set(zoned(tz, p.year, p.month, p.day, 0, 0, 0));
      }
      addDate(0, 1);
      // A DST change can leave the day starting at 23:00 or 01:00.
      if (p.hour !== 0) set(t + (p.hour > 12 ? 24 - p.hour : -p.hour) * 3_600_000);
      if (p.day === 1) continue wrap;
    }
    while (!s.hour.values.has(p.hour)) {
      if (!added) {
        added = true;
        set(zoned(tz, p.year, p.month, p.day, p.hour, 0, 0));
      }
      set(t + 3_600_000);
      if (p.hour === 0) continue wrap;
    }
    while (!s.minute.values.has(p.minute)) {
      if (!added) {
        added = true;
        set(Math.floor(t / 60_000) * 60_000);
      }
      set(t + 60_000);
      if (p.minute === 0) continue wrap;
    }
    if (!second.values.has(p.second)) {
      // Only second 0 ever matches: straight to the next whole minute.
      added = true;
      set(Math.floor(t / 60_000) * 60_000 + 60_000);
      continue;
    }
    return new Date(t);
  }
}

const specSchedule = (s: Spec): Schedule => ({ next: (after) => nextOf(s, after) });

/** "@every <duration>": a fixed delay, whole seconds, at least one second (ConstantDelaySchedule). */
const constantDelay = (delayMs: number): Schedule => ({
  next: (after) => new Date(Math.floor(after.getTime() / 1000) * 1000 + delayMs),
});

// ---------------------------------------------------------------------------
// Parsing

const int64Max = 2n ** 63n - 1n;

/** strconv.Atoi, with its error text. */
function atoi(s: string): number {
  if (!/^[+-]?[0-9]+$/.test(s))
    throw new CronError(`strconv.Atoi: parsing ${goQuote(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n > int64Max || n < -int64Max - 1n)
    throw new CronError(`strconv.Atoi: parsing ${goQuote(s)}: value out of range`);
  return Number(n);
}

function mustParseInt(expr: string): number {
  let num: number;
  try {
    num = atoi(expr);
  } catch (e) {
    throw new CronError(`failed to parse int from ${expr}: ${(e as Error).message}`);
  }
  if (num < 0) throw new CronError(`negative number (${num}) not allowed: ${expr}`);
  return num;
}

function parseIntOrName(expr: string, names?: Record<string, number>): number {
  const lower = expr.toLowerCase();
  if (names && Object.hasOwn(names, lower)) return names[lower];
  return mustParseInt(expr);
}

function getRange(expr: string, r: Bounds, into: Field): void {
  const rangeAndStep = expr.split("/");
  const lowAndHigh = rangeAndStep[0].split("-");
  const singleDigit = lowAndHigh.length === 1;
  let start: number;
  let end: number;
  let star = false;
  if (lowAndHigh[0] === "*" || lowAndHigh[0] === "?") {
    start = r.min;
    end = r.max;
    star = true;
  } else {
    start = parseIntOrName(lowAndHigh[0], r.names);
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) end = parseIntOrName(lowAndHigh[1], r.names);
    else throw new CronError(`too many hyphens: ${expr}`);
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    step = mustParseInt(rangeAndStep[1]);
    // "N/step" means "N-max/step".
    if (singleDigit) end = r.max;
    if (step > 1) star = false;
  } else if (rangeAndStep.length > 2) {
    throw new CronError(`too many slashes: ${expr}`);
  }
  if (start < r.min)
    throw new CronError(`beginning of range (${start}) below minimum (${r.min}): ${expr}`);
  if (end > r.max) throw new CronError(`end of range (${end}) above maximum (${r.max}): ${expr}`);
  if (start > end)
    throw new CronError(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new CronError(`step of range should be a positive number: ${expr}`);
  for (const v of bits(start, end, step)) into.values.add(v);
  into.star ||= star;
}

function getField(field: string, r: Bounds): Field {
  const f: Field = { values: new Set(), star: false };
  for (const expr of field.split(",").filter((x) => x !== "")) getRange(expr, r, f);
  return f;
}

const durationUnits: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** time.ParseDuration, in milliseconds, with Go's error text. */
export function parseGoDuration(orig: string): number {
  const invalid = () => new CronError(`time: invalid duration ${goQuote(orig)}`);
  let s = orig;
  let neg = false;
  if (s[0] === "-" || s[0] === "+") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw invalid();
  let total = 0;
  while (s !== "") {
    const m = /^([0-9]*)(\.([0-9]*))?/.exec(s);
    const whole = m?.[1] ?? "";
    const frac = m?.[3];
    if (!m || (whole === "" && !frac)) throw invalid();
    s = s.slice(m[0].length);
    const unitEnd = s.search(/[.0-9]/);
    const unit = unitEnd < 0 ? s : s.slice(0, unitEnd);
    if (unit === "") throw new CronError(`time: missing unit in duration ${goQuote(orig)}`);
    s = s.slice(unit.length);
    if (!Object.hasOwn(durationUnits, unit))
      throw new CronError(`time: unknown unit ${goQuote(unit)} in duration ${goQuote(orig)}`);
    total += Number(`${whole || "0"}.${frac || "0"}`) * durationUnits[unit];
    if (total > 9_223_372_036_854) throw invalid(); // beyond int64 nanoseconds
  }
  return neg ? -total : total;
}

function parseDescriptor(descriptor: string, tz: string): Schedule {
  const at = (hour: Field, d: Field, month: Field, w: Field) =>
    specSchedule({ minute: only(0), hour, dom: d, month, dow: w, tz });
  switch (descriptor) {
    case "@yearly":
    case "@annually":
      return at(only(0), only(1), only(1), all(dow));
    case "@monthly":
      return at(only(0), only(1), all(months), all(dow));
    case "@weekly":
      return at(only(0), all(dom), all(months), only(0));
    case "@daily":
    case "@midnight":
      return at(only(0), all(dom), all(months), all(dow));
    case "@hourly":
      return at(all(hours), all(dom), all(months), all(dow));
  }
  const every = "@every ";
  if (descriptor.startsWith(every)) {
    let ms: number;
    try {
      ms = parseGoDuration(descriptor.slice(every.length));
    } catch (e) {
      throw new CronError(`failed to parse duration ${descriptor}: ${(e as Error).message}`);
    }
    const delay = ms < 1000 ? 1000 : ms - (ms % 1000);
    return constantDelay(delay);
  }
  throw new CronError(`unrecognized descriptor: ${descriptor}`);
}

/**
 * cron.ParseStandard: "min hour dom month dow" or a descriptor, optionally led by TZ=<zone> or
 * CRON_TZ=<zone>; the schedule runs in that zone, else in `timeZone` (the controller's zone).
 * Throws CronError with robfig/cron's message.
 */
export function parseStandard(spec: string, timeZone = "UTC"): Schedule {
  if (spec.length === 0) throw new CronError("empty spec string");
  let tz = timeZone;
  if (spec.startsWith("TZ=") || spec.startsWith("CRON_TZ=")) {
    const i = spec.indexOf(" ");
    const eq = spec.indexOf("=");
    const name = i < 0 ? spec.slice(eq + 1) : spec.slice(eq + 1, i);
    const err = timeZoneError(name);
    if (err || i < 0)
      throw new CronError(`provided bad location ${name}: ${err ?? "missing schedule"}`);
    tz = name;
    spec = spec.slice(i).trim();
  }
  if (spec.startsWith("@")) return parseDescriptor(spec, tz);
  const fields = spec.split(/\s+/).filter((f) => f !== "");
  if (fields.length !== 5)
    throw new CronError(`expected exactly 5 fields, found ${fields.length}: [${fields.join(" ")}]`);
  return specSchedule({
    minute: getField(fields[0], minutes),
    hour: getField(fields[1], hours),
    dom: getField(fields[2], dom),
    month: getField(fields[3], months),
    dow: getField(fields[4], dow),
    tz,
  });
}
