import { describe, expect, it } from "vitest";
import { parseGoDuration, parseStandard, timeZoneError } from "./cron.ts";

const next = (spec: string, after: string, tz?: string) =>
  parseStandard(spec, tz).next(new Date(after))?.toISOString();

describe("parseStandard errors (robfig/cron wording)", () => {
  it.each([
    ["", "empty spec string"],
    ["* * *", "expected exactly 5 fields, found 3: [* * *]"],
    ["0 0 0 * * *", "expected exactly 5 fields, found 6: [0 0 0 * * *]"],
    ["60 * * * *", "end of range (60) above maximum (59): 60"],
    ["* 24 * * *", "end of range (24) above maximum (23): 24"],
    ["* * 0 * *", "beginning of range (0) below minimum (1): 0"],
    ["* * * * 7", "end of range (7) above maximum (6): 7"],
    ["5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"],
    ["*/0 * * * *", "step of range should be a positive number: */0"],
    ["1-2-3 * * * *", "too many hyphens: 1-2-3"],
    ["*/2/3 * * * *", "too many slashes: */2/3"],
    ["a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'],
    ["* * * foo *", 'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax'],
    ["@fortnightly", "unrecognized descriptor: @fortnightly"],
    ["@every 1d", 'failed to parse duration @every 1d: time: unknown unit "d" in duration "1d"'],
    ["@every x", 'failed to parse duration @every x: time: invalid duration "x"'],
    [
      "TZ=Mars/Olympus 0 * * * *",
      "provided bad location Mars/Olympus: unknown time zone Mars/Olympus",
    ],
  ])("%j → %s", (spec, message) => {
    expect(() => parseStandard(spec)).toThrow(message);
  });

  it("accepts names, lists, ranges, steps and descriptors", () => {
    for (const spec of [
      "*/15 0-6,18 1,15 JAN-jun mon-FRI",
      "0 0 * * ?",
      "5/10 * * * *",
      "@hourly",
      "@daily",
      "@midnight",
      "@weekly",
      "@monthly",
      "@yearly",
      "@annually",
      "@every 1h30m",
    ])
      expect(() => parseStandard(spec), spec).not.toThrow();
  });
});

describe("next run", () => {
  it("steps through minutes, hours and days in UTC", () => {
    expect(next("*/15 * * * *", "2024-01-01T00:07:30.500Z")).toBe("2024-01-01T00:15:00.000Z");
    expect(next("*/15 * * * *", "2024-01-01T00:15:00Z")).toBe("2024-01-01T00:30:00.000Z");
    expect(next("* * * * *", "2024-01-01T23:59:59Z")).toBe("2024-01-02T00:00:00.000Z");
    expect(next("0 0 1 1 *", "2024-06-01T00:00:00Z")).toBe("2025-01-01T00:00:00.000Z");
    expect(next("5/20 * * * *", "2024-01-01T00:26:00Z")).toBe("2024-01-01T00:45:00.000Z");
  });

  it("ORs day-of-month and day-of-week unless one is a star", () => {
    // 2024-09-13 is a Friday; the 10th is a Tuesday.
    expect(next("0 0 13 * 5", "2024-09-07T00:00:00Z")).toBe("2024-09-13T00:00:00.000Z");
    expect(next("0 0 10 * 5", "2024-09-07T00:00:00Z")).toBe("2024-09-10T00:00:00.000Z");
    expect(next("0 0 * * 5", "2024-09-07T00:00:00Z")).toBe("2024-09-13T00:00:00.000Z");
  });

  it("handles descriptors and @every", () => {
    expect(next("@weekly", "2024-09-11T12:00:00Z")).toBe("2024-09-15T00:00:00.000Z");
    expect(next("@monthly", "2024-09-11T12:00:00Z")).toBe("2024-10-01T00:00:00.000Z");
    expect(next("@hourly", "2024-09-11T12:00:00Z")).toBe("2024-09-11T13:00:00.000Z");
    expect(next("@every 90s", "2024-09-11T12:00:00.700Z")).toBe("2024-09-11T12:01:30.000Z");
    expect(next("@every 10ms", "2024-09-11T12:00:00Z")).toBe("2024-09-11T12:00:01.000Z");
  });

  it("gives up on dates that never come", () => {
    expect(next("0 0 30 2 *", "2024-01-01T00:00:00Z")).toBeUndefined();
  });

  it("runs in the given IANA time zone, across daylight saving changes", () => {
    // Friday 10:00 EST → Monday 09:00 EDT (DST began Sunday 2024-03-10).
    expect(next("0 9 * * 1-5", "2024-03-08T15:00:00Z", "America/New_York")).toBe(
      "2024-03-11T13:00:00.000Z",
    );
    // 02:30 does not exist on 2024-03-10 in New York: the run moves to the next day.
    expect(next("30 2 * * *", "2024-03-10T05:00:00Z", "America/New_York")).toBe(
      "2024-03-11T06:30:00.000Z",
    );
    // 01:30 happens twice on 2024-11-03: both fire, as with robfig/cron.
    expect(next("30 1 * * *", "2024-11-03T04:00:00Z", "America/New_York")).toBe(
      "2024-11-03T05:30:00.000Z",
    );
    expect(next("30 1 * * *", "2024-11-03T05:30:00Z", "America/New_York")).toBe(
      "2024-11-03T06:30:00.000Z",
    );
    expect(next("CRON_TZ=Asia/Tokyo 0 9 * * *", "2024-01-01T12:00:00Z")).toBe(
      "2024-01-02T00:00:00.000Z",
    );
    expect(next("@daily", "2024-01-01T12:00:00Z", "Asia/Kolkata")).toBe("2024-01-01T18:30:00.000Z");
  });
});

describe("time zones and durations", () => {
  it("knows zone names as Go's LoadLocation does", () => {
    expect(timeZoneError("Europe/Berlin")).toBeUndefined();
    expect(timeZoneError("UTC")).toBeUndefined();
    expect(timeZoneError("Mars/Olympus")).toBe("unknown time zone Mars/Olympus");
    expect(timeZoneError("europe/berlin")).toBe("unknown time zone europe/berlin");
    expect(timeZoneError("+01:00")).toBe("unknown time zone +01:00");
  });

  it("parses Go durations", () => {
    expect(parseGoDuration("1h30m")).toBe(5_400_000);
    expect(parseGoDuration("1.5s")).toBe(1500);
    expect(parseGoDuration("-2m")).toBe(-120_000);
    expect(parseGoDuration("0")).toBe(0);
    expect(() => parseGoDuration("1")).toThrow('time: missing unit in duration "1"');
    expect(() => parseGoDuration("")).toThrow('time: invalid duration ""');
  });
});
