import { describe, expect, it } from "vitest";
import {
  everything,
  newRequirement,
  nothing,
  parseRequirements,
  parseSelector,
  SelectorError,
  selectorFromLabelSelector,
  selectorFromSet,
} from "./labels.ts";

const labelValueMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const nameMsg =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

function parseError(s: string): string {
  try {
    parseSelector(s);
  } catch (err) {
    expect(err).toBeInstanceOf(SelectorError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(s)} to fail`);
}

describe("parseSelector", () => {
  it.each([
    "x=a,y=b,z=c",
    "",
    "x!=a,y=b",
    "x=",
    "x= ",
    "x=,z= ",
    "x= ,z= ",
    "!x",
    "x>1",
    "x>1,z<5",
    "x==a",
  ])("round-trips %j (spaces dropped)", (s) => {
    expect(parseSelector(s).toString()).toBe(s.replaceAll(" ", ""));
  });

  it("normalises set syntax: sorted keys, sorted and de-duplicated values", () => {
    expect(parseSelector("z notin (),x in (foo,,baz,foo),y").toString()).toBe(
      "x in (,baz,foo),y,z notin ()",
    );
    expect(parseSelector("  env  in  ( prod , dev )  ").toString()).toBe("env in (dev,prod)");
    expect(parseSelector("x=a,a=x").toString()).toBe(parseSelector("a=x,x=a").toString());
  });

  it("treats in/notin as identifiers where a key or value is expected", () => {
    const sel = parseSelector("notin=in,in in (notin)");
    expect(sel.matches({ notin: "in", in: "notin" })).toBe(true);
  });

  it("exposes requirements", () => {
    expect(parseRequirements("b in (y,x),!a")).toEqual([
      { key: "a", operator: "!", values: [] },
      { key: "b", operator: "in", values: ["x", "y"] },
    ]);
  });

  it.each([
    ["", { x: "y" }, true],
    ["x=y", { x: "y" }, true],
    ["x=y,z=w", { x: "y", z: "w" }, true],
    ["x!=y,z!=w", { x: "z", z: "a" }, true],
    ["x", { x: "z" }, true],
    ["!x", { y: "z" }, true],
    ["x>1", { x: "2" }, true],
    ["x<1", { x: "0" }, true],
    ["x in (a,b)", { x: "b" }, true],
    ["x notin (a,b)", {}, true],
    ["x in ()", { x: "" }, true],
    ["x=z", {}, false],
    ["x=y", { x: "z" }, false],
    ["x!=y,z!=w", { x: "z", z: "w" }, false],
    ["x", { y: "z" }, false],
    ["!x", { x: "z" }, false],
    ["x>1", { x: "0" }, false],
    ["x>1", { x: "abc" }, false],
    ["x<1", { x: "2" }, false],
    ["x<1", {}, false],
    ["x in (a,b)", {}, false],
    ["x notin (a,b)", { x: "a" }, false],
  ] as const)("%j matches %j: %s", (s, labels, want) => {
    expect(parseSelector(s).matches(labels)).toBe(want);
  });

  it("treats missing labels as an empty set", () => {
    expect(parseSelector("!x").matches(undefined)).toBe(true);
    expect(parseSelector("x").matches(undefined)).toBe(false);
  });

  it("reports the value a selector pins", () => {
    const sel = parseSelector("app=web,tier in (a),env in (a,b),x!=y");
    expect(sel.requiresExactMatch("app")).toBe("web");
    expect(sel.requiresExactMatch("tier")).toBe("a");
    expect(sel.requiresExactMatch("env")).toBeUndefined();
    expect(sel.requiresExactMatch("x")).toBeUndefined();
    expect(sel.requiresExactMatch("nope")).toBeUndefined();
  });

  it.each([
    ["x==a==b", "found '==', expected: ',' or 'end of string'"],
    ["!x=a", "found '=', expected: ',' or 'end of string'"],
    ["x=a b", "found 'b', expected: ',' or 'end of string'"],
    ["x,", "found '', expected: identifier after ','"],
    [",x", "found ',', expected: !, identifier, or 'end of string'"],
    ["x (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"],
    ["x in", "unable to parse requirement: found '' expected: '('"],
    ["x in (a", "unable to parse requirement: found '', expected: ',' or ')'"],
    ["x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"],
    ["x in (,", "unable to parse requirement: found '', expected: ',', or identifier"],
    ["x in =", "unable to parse requirement: found '=' expected: '('"],
    ["x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ["x=(", "unable to parse requirement: found '(', expected: identifier"],
    ["!", "unable to parse requirement: found '', expected: identifier"],
    [
      "x<a",
      `unable to parse requirement: values[0]: Invalid value: "a": for 'Gt', 'Lt' operators, the value must be an integer`,
    ],
    [
      "x=a||y=b",
      `unable to parse requirement: values[0][x]: Invalid value: "a||y": ${labelValueMsg}`,
    ],
    ["a$b=c", `unable to parse requirement: <nil>: Invalid value: "a$b": ${nameMsg}`],
  ])("rejects %j", (s, msg) => {
    expect(parseError(s)).toBe(msg);
  });

  it("reports every problem of one requirement, bracketed", () => {
    expect(parseError("x>a-")).toBe(
      `unable to parse requirement: [values[0]: Invalid value: "a-": for 'Gt', 'Lt' operators, the value must be an integer, values[0][x]: Invalid value: "a-": ${labelValueMsg}]`,
    );
  });
});

describe("selectorFromLabelSelector", () => {
  it("null matches nothing, {} matches everything", () => {
    expect(selectorFromLabelSelector(null).matches({ a: "b" })).toBe(false);
    expect(selectorFromLabelSelector(undefined).requirements()).toBeNull();
    const all = selectorFromLabelSelector({});
    expect(all.matches(undefined)).toBe(true);
    expect(all.empty()).toBe(true);
    expect(selectorFromLabelSelector({ matchLabels: {}, matchExpressions: [] }).empty()).toBe(true);
  });

  it("combines matchLabels and matchExpressions", () => {
    const sel = selectorFromLabelSelector({
      matchLabels: { app: "web" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["b", "a"] },
        { key: "env", operator: "NotIn", values: ["prod"] },
        { key: "team", operator: "Exists" },
        { key: "legacy", operator: "DoesNotExist" },
      ],
    });
    expect(sel.toString()).toBe("app=web,env notin (prod),!legacy,team,tier in (a,b)");
    expect(sel.matches({ app: "web", tier: "a", team: "x" })).toBe(true);
    expect(sel.matches({ app: "web", tier: "a", team: "x", env: "prod" })).toBe(false);
    expect(sel.matches({ app: "web", tier: "c", team: "x" })).toBe(false);
    expect(sel.matches({ app: "web", tier: "a", team: "x", legacy: "" })).toBe(false);
  });

  it.each([
    [
      { matchExpressions: [{ key: "a", operator: "Foo" }] },
      `"Foo" is not a valid label selector operator`,
    ],
    [
      { matchExpressions: [{ key: "a", operator: "In" }] },
      "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
    ],
    [
      { matchExpressions: [{ key: "a", operator: "In", values: [] }] },
      "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
    ],
    [
      { matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] },
      `values: Invalid value: ["x"]: values set must be empty for exists and does not exist`,
    ],
    [{ matchLabels: { "a b": "x" } }, `key: Invalid value: "a b": ${nameMsg}`],
    [
      { matchLabels: { "a b": "x y" } },
      `[key: Invalid value: "a b": ${nameMsg}, values[0][a b]: Invalid value: "x y": ${labelValueMsg}]`,
    ],
  ])("rejects %j", (ls, msg) => {
    expect(() => selectorFromLabelSelector(ls)).toThrow(new SelectorError(msg));
  });
});

describe("newRequirement", () => {
  it("validates arity", () => {
    expect(() => newRequirement("x", "=", ["a", "b"])).toThrow(
      `values: Invalid value: ["a","b"]: exact-match compatibility requires one single value`,
    );
    expect(() => newRequirement("x", "gt", [])).toThrow(
      "values: Invalid value: []: for 'Gt', 'Lt' operators, exactly one value is required",
    );
    expect(() => newRequirement("a".repeat(254), "exists", [])).toThrow(
      /^key: Invalid value: "a+": /,
    );
  });
});

describe("helpers", () => {
  it("everything, nothing and sets", () => {
    expect(everything().matches({ a: "b" })).toBe(true);
    expect(everything().toString()).toBe("");
    expect(nothing().matches({})).toBe(false);
    expect(nothing().empty()).toBe(false);
    const set = selectorFromSet({ b: "2", a: "1" });
    expect(set.toString()).toBe("a=1,b=2");
    expect(set.matches({ a: "1", b: "2", c: "3" })).toBe(true);
    expect(set.matches({ a: "1" })).toBe(false);
    expect(selectorFromSet(undefined).empty()).toBe(true);
  });
});
