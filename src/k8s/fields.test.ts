import { describe, expect, it } from "vitest";
import {
  escapeValue,
  everythingFields,
  FieldSelectorError,
  fieldSelectorFromSet,
  parseFieldSelector,
  unescapeValue,
  validateFieldSelector,
} from "./fields.ts";

describe("parseFieldSelector", () => {
  it("parses terms, sorting them as Kubernetes does", () => {
    const sel = parseFieldSelector("status.phase!=Running,spec.nodeName==node-1");
    expect(sel.requirements()).toEqual([
      { field: "spec.nodeName", operator: "=", value: "node-1" },
      { field: "status.phase", operator: "!=", value: "Running" },
    ]);
    expect(sel.toString()).toBe("spec.nodeName=node-1,status.phase!=Running");
    expect(sel.requiresExactMatch("spec.nodeName")).toBe("node-1");
    expect(sel.requiresExactMatch("status.phase")).toBeUndefined();
  });

  it("matches, reading absent fields as empty", () => {
    const sel = parseFieldSelector("spec.nodeName=,metadata.name!=x");
    expect(sel.matches({ "metadata.name": "y" })).toBe(true);
    expect(sel.matches({ "spec.nodeName": "n1", "metadata.name": "y" })).toBe(false);
    expect(sel.matches({ "metadata.name": "x" })).toBe(false);
  });

  it("treats empty input and empty terms as nothing to check", () => {
    expect(parseFieldSelector("").empty()).toBe(true);
    expect(parseFieldSelector("").matches({})).toBe(true);
    expect(parseFieldSelector("a=b,").requirements()).toHaveLength(1);
    expect(everythingFields().empty()).toBe(true);
  });

  it("does not trim whitespace", () => {
    expect(parseFieldSelector("a = b").requirements()).toEqual([
      { field: "a ", operator: "=", value: " b" },
    ]);
  });

  it("handles escapes", () => {
    const sel = parseFieldSelector("a=x\\,y\\=z\\\\,b=c");
    expect(sel.requirements()[0]).toEqual({ field: "a", operator: "=", value: "x,y=z\\" });
    expect(sel.toString()).toBe("a=x\\,y\\=z\\\\,b=c");
    expect(escapeValue("a,b=c\\")).toBe("a\\,b\\=c\\\\");
    expect(unescapeValue("plain")).toBe("plain");
  });

  it.each([
    ["abc", "invalid selector: 'abc'; can't understand 'abc'"],
    ["x=y,abc", "invalid selector: 'x=y,abc'; can't understand 'abc'"],
    ["a=b=c", "invalid field selector: unescaped character in value: 61"],
    ["a=\\x", "invalid field selector: invalid escape sequence: \\x"],
    ["a=b\\", "invalid field selector: invalid escape sequence: \\"],
  ])("rejects %j", (s, msg) => {
    expect(() => parseFieldSelector(s)).toThrow(new FieldSelectorError(msg));
  });

  it("builds from a set", () => {
    const sel = fieldSelectorFromSet({ "metadata.name": "a,b" });
    expect(sel.toString()).toBe("metadata.name=a\\,b");
    expect(sel.matches({ "metadata.name": "a,b" })).toBe(true);
  });
});

describe("validateFieldSelector", () => {
  const podFields = ["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"];

  it("accepts supported fields", () => {
    expect(() =>
      validateFieldSelector(parseFieldSelector("spec.nodeName=n1"), podFields, "Pod"),
    ).not.toThrow();
  });

  it("words refusals as the kind's conversion function does", () => {
    const sel = parseFieldSelector("spec.foo=bar");
    expect(() => validateFieldSelector(sel, podFields, "Pod")).toThrow(
      /^field label not supported: spec\.foo$/,
    );
    expect(() =>
      validateFieldSelector(sel, ["metadata.name", "metadata.namespace"], "Deployment"),
    ).toThrow(
      /^"spec\.foo" is not a known field selector: only "metadata\.name", "metadata\.namespace"$/,
    );
  });

  it("records the field and kind on the error", () => {
    try {
      validateFieldSelector(parseFieldSelector("x=1"), podFields, "Pod");
    } catch (err) {
      expect(err).toMatchObject({ field: "x", kind: "Pod" });
      return;
    }
    throw new Error("expected a FieldSelectorError");
  });
});
