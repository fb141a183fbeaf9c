import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyMergePatch,
  createMergePatch,
  type JsonObject,
  type JsonValue,
  jsonEqual,
} from "./merge-patch.ts";

describe("applyMergePatch", () => {
  // The examples of RFC 7386, appendix A.
  it.each([
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [
      ["a", "b"],
      ["c", "d"],
      ["c", "d"],
    ],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ] as [JsonValue, JsonValue, JsonValue][])("%j + %j", (target, patch, want) => {
    expect(applyMergePatch(target, patch)).toEqual(want);
  });

  it("does not mutate its inputs", () => {
    const target = { a: { b: 1, c: 2 } };
    const patch = { a: { c: null, d: 3 } };
    applyMergePatch(target, patch);
    expect(target).toEqual({ a: { b: 1, c: 2 } });
    expect(patch).toEqual({ a: { c: null, d: 3 } });
  });
});

describe("createMergePatch", () => {
  it("writes only what changed", () => {
    const original = {
      metadata: { name: "web", labels: { app: "web", old: "x" } },
      spec: { replicas: 1, ports: [80] },
      status: { ready: 1 },
    };
    const modified = {
      metadata: { name: "web", labels: { app: "web", tier: "fe" } },
      spec: { replicas: 3, ports: [80] },
      status: { ready: 1 },
    };
    expect(createMergePatch(original, modified)).toEqual({
      metadata: { labels: { old: null, tier: "fe" } },
      spec: { replicas: 3 },
    });
  });

  it("replaces arrays and type changes whole, and is empty when nothing changed", () => {
    expect(createMergePatch({ a: [1, 2], b: { c: 1 } }, { a: [1], b: "x" })).toEqual({
      a: [1],
      b: "x",
    });
    expect(createMergePatch({ a: { b: [1, { c: 2 }] } }, { a: { b: [1, { c: 2 }] } })).toEqual({});
  });

  // Modified documents without nulls: a merge patch cannot express "set to null".
  const leaf = fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.boolean());
  const { value } = fc.letrec<{ value: JsonValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      leaf,
      fc.array(tie("value"), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom("a", "b", "c"), tie("value"), { maxKeys: 3 }),
    ),
  }));
  const doc = fc.dictionary(fc.constantFrom("a", "b", "c", "d"), value, {
    maxKeys: 4,
  }) as fc.Arbitrary<JsonObject>;

  it("round-trips: apply(original, create(original, modified)) = modified", () => {
    fc.assert(
      fc.property(doc, doc, (original, modified) => {
        const patch = createMergePatch(original, modified);
        return jsonEqual(applyMergePatch(original, patch), modified);
      }),
    );
  });
});

describe("jsonEqual", () => {
  it("ignores key order but not array order", () => {
    expect(jsonEqual({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
  });
});
