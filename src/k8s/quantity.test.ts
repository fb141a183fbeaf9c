import { describe, expect, it } from "vitest";
import {
  canonicalQuantity,
  compareQuantities,
  errFormatWrong,
  errSuffix,
  Quantity,
  QuantityError,
  quantityFromJSON,
} from "./quantity.ts";

describe("parse and serialize", () => {
  // Expected strings follow apimachinery's quantity tests; some inputs keep their spelling.
  it.each([
    ["0", "0", "DecimalSI"],
    ["0n", "0", "DecimalSI"],
    ["0Ki", "0", "BinarySI"],
    ["-0", "0", "DecimalSI"],
    ["1", "1", "DecimalSI"],
    ["1000m", "1", "DecimalSI"],
    ["0.5", "500m", "DecimalSI"],
    ["1.5", "1500m", "DecimalSI"],
    ["0.1m", "100u", "DecimalSI"],
    ["100m", "100m", "DecimalSI"],
    ["1080m", "1080m", "DecimalSI"],
    ["1.08", "1080m", "DecimalSI"],
    ["1000M", "1G", "DecimalSI"],
    ["0.001T", "1G", "DecimalSI"],
    ["1234567M", "1234567M", "DecimalSI"],
    ["12E", "12E", "DecimalSI"],
    ["100.035k", "100.035k", "DecimalSI"],
    ["1Ki", "1Ki", "BinarySI"],
    ["8Ki", "8Ki", "BinarySI"],
    ["1024Mi", "1Gi", "BinarySI"],
    ["1.5Gi", "1536Mi", "BinarySI"],
    ["307200Ki", "300Mi", "BinarySI"],
    ["1025024Mi", "1001Gi", "BinarySI"],
    ["0.5Mi", "512Ki", "BinarySI"],
    ["0.05Gi", "53687091200m", "BinarySI"],
    ["1.0001Ki", "1024102400u", "BinarySI"],
    [".001Ki", "1024m", "BinarySI"],
    [".000000000001Ki", "2n", "DecimalSI"],
    ["-.001Ki", "-1024m", "BinarySI"],
    ["9Ei", "9223372036854775807", "BinarySI"],
    ["-9Ei", "-9223372036854775807", "BinarySI"],
    ["3Ei", "3Ei", "BinarySI"],
    ["1e3", "1e3", "DecimalExponent"],
    ["1E3", "1E3", "DecimalExponent"],
    [".001e12", "1e9", "DecimalExponent"],
    ["0.001e0", "1e-3", "DecimalExponent"],
    ["1000e-12", "1e-9", "DecimalExponent"],
    ["1.3E+6", "1300e3", "DecimalExponent"],
    ["1.1E-9", "2e-9", "DecimalExponent"],
    ["3.001n", "4n", "DecimalSI"],
    ["0.0000000001", "1n", "DecimalSI"],
    ["0.00000012345", "124n", "DecimalSI"],
    ["1.", "1.", "DecimalSI"],
    ["1.G", "1.G", "DecimalSI"],
    ["+1", "+1", "DecimalSI"],
    ["01", "01", "DecimalSI"],
    ["-1000m", "-1", "DecimalSI"],
    // No SI suffix above E: written in exponent form (upstream's fix) rather than dropped.
    ["1000E", "1e21", "DecimalSI"],
  ])("%s → %s (%s)", (input, want, format) => {
    const q = Quantity.parse(input);
    expect(q.toString()).toBe(want);
    expect(q.format).toBe(format);
    expect(JSON.stringify({ q })).toBe(JSON.stringify({ q: want }));
  });

  it("canonical() ignores kept spelling", () => {
    expect(Quantity.parse("+1").canonical()).toBe("1");
    expect(Quantity.parse("100.035k").canonical()).toBe("100035");
    expect(Quantity.parse("1e3").canonical()).toBe("1e3");
    expect(canonicalQuantity("2048Ki")).toBe("2Mi");
  });

  it.each([
    ["", errFormatWrong],
    ["1.1.M", errFormatWrong],
    ["1+1.0M", errFormatWrong],
    ["aoeu", errFormatWrong],
    [" 1", errFormatWrong],
    ["1 ", errFormatWrong],
    ["0.1mi", errSuffix],
    ["0.1am", errFormatWrong],
    [".5i", errSuffix],
    ["1i", errSuffix],
    ["-3.01e-", errSuffix],
    ["1e", errSuffix],
  ])("rejects %j", (input, msg) => {
    expect(() => Quantity.parse(input)).toThrow(new QuantityError(msg));
  });

  it("uses Kubernetes' regex in the format error", () => {
    expect(errFormatWrong).toBe(
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
  });

  it("reads JSON values as UnmarshalJSON does", () => {
    expect(quantityFromJSON(" 1Gi ").toString()).toBe("1Gi");
    expect(quantityFromJSON(1.5).toString()).toBe("1500m");
    expect(quantityFromJSON(null).isZero()).toBe(true);
    expect(() => quantityFromJSON({})).toThrow(QuantityError);
  });
});

describe("compare and convert", () => {
  it.each([
    ["0", "0", 0],
    ["100m", "50m", 1],
    ["50m", "100m", -1],
    ["10000T", "100Gi", 1],
    ["1Gi", "1073741824", 0],
    ["1k", "1e3", 0],
    ["-1", "1", -1],
    ["-2", "-1", -1],
    ["1e1000", "1", 1],
    ["-1e1000", "-1", -1],
    ["1e-1000", "0", 1],
  ] as const)("%s vs %s → %d", (a, b, want) => {
    expect(compareQuantities(a, b)).toBe(want);
  });

  it("converts to integers, rounding away from zero", () => {
    expect(Quantity.parse("1").milliValue()).toBe(1000n);
    expect(Quantity.parse("250m").milliValue()).toBe(250n);
    expect(Quantity.parse("1n").milliValue()).toBe(1n);
    expect(Quantity.parse("-1n").milliValue()).toBe(-1n);
    expect(Quantity.parse("1500m").value()).toBe(2n);
    expect(Quantity.parse("1.5Gi").value()).toBe(1610612736n);
    expect(Quantity.parse("1e3").value()).toBe(1000n);
    expect(Quantity.parse("1.5Gi").toNumber()).toBe(1610612736);
    expect(Quantity.parse("100m").toNumber()).toBe(0.1);
  });

  it("adds and subtracts, keeping the left format unless it is zero", () => {
    expect(Quantity.parse("1Gi").add(Quantity.parse("512Mi")).toString()).toBe("1536Mi");
    expect(Quantity.parse("100m").add(Quantity.parse("900m")).toString()).toBe("1");
    const sum = Quantity.zero().add(Quantity.parse("1Gi"));
    expect(sum.format).toBe("BinarySI");
    expect(sum.toString()).toBe("1Gi");
    expect(Quantity.parse("1").sub(Quantity.parse("250m")).toString()).toBe("750m");
    expect(Quantity.parse("1").sub(Quantity.parse("2")).sign()).toBe(-1);
  });

  it("builds from integers", () => {
    expect(Quantity.fromMilli(1500).toString()).toBe("1500m");
    expect(Quantity.fromMilli(2000).toString()).toBe("2");
    expect(Quantity.fromValue(2048, "BinarySI").toString()).toBe("2Ki");
    expect(Quantity.fromValue(5, "BinarySI").toString()).toBe("5");
    expect(Quantity.fromValue(3000n).toString()).toBe("3k");
    expect(Quantity.fromValue(1n, "DecimalExponent").toString()).toBe("1");
  });
});
