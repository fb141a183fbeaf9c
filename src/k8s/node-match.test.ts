import { describe, expect, it } from "vitest";
import {
  matchesNodeSelector,
  matchesRequiredNodeAffinity,
  type NodeSelectorTerm,
  tolerates,
  untoleratedTaint,
} from "./node-match.ts";

const node = {
  metadata: { name: "n1", labels: { zone: "a", disk: "ssd", cores: "8" } },
  spec: {
    taints: [
      { key: "dedicated", value: "gpu", effect: "NoSchedule" },
      { key: "flaky", effect: "NoExecute" },
      { key: "soft", effect: "PreferNoSchedule" },
    ],
  },
};

const withTerms = (...terms: NodeSelectorTerm[]) => ({
  spec: {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms },
      },
    },
  },
});

describe("nodeSelector", () => {
  it("needs every pair among the node's labels", () => {
    expect(matchesNodeSelector({ spec: {} }, node)).toBe(true);
    expect(matchesNodeSelector({ spec: { nodeSelector: { zone: "a" } } }, node)).toBe(true);
    expect(matchesNodeSelector({ spec: { nodeSelector: { zone: "a", disk: "hdd" } } }, node)).toBe(
      false,
    );
    expect(matchesNodeSelector({ spec: { nodeSelector: { gpu: "" } } }, node)).toBe(false);
  });
});

describe("required node affinity", () => {
  const expr = (key: string, operator: string, values?: string[]) => ({
    matchExpressions: [{ key, operator, values }],
  });

  it("matches when absent", () => {
    expect(matchesRequiredNodeAffinity({ spec: {} }, node)).toBe(true);
  });

  it("evaluates each operator", () => {
    const m = (t: NodeSelectorTerm) => matchesRequiredNodeAffinity(withTerms(t), node);
    expect(m(expr("zone", "In", ["a", "b"]))).toBe(true);
    expect(m(expr("zone", "In", ["b"]))).toBe(false);
    expect(m(expr("zone", "NotIn", ["b"]))).toBe(true);
    expect(m(expr("missing", "NotIn", ["b"]))).toBe(true);
    expect(m(expr("disk", "Exists"))).toBe(true);
    expect(m(expr("gpu", "Exists"))).toBe(false);
    expect(m(expr("gpu", "DoesNotExist"))).toBe(true);
    expect(m(expr("cores", "Gt", ["4"]))).toBe(true);
    expect(m(expr("cores", "Gt", ["8"]))).toBe(false);
    expect(m(expr("cores", "Lt", ["16"]))).toBe(true);
    expect(m(expr("zone", "Gt", ["1"]))).toBe(false);
  });

  it("ANDs inside a term and ORs the terms", () => {
    const both = {
      matchExpressions: [
        { key: "zone", operator: "In", values: ["a"] },
        { key: "disk", operator: "In", values: ["hdd"] },
      ],
    };
    expect(matchesRequiredNodeAffinity(withTerms(both), node)).toBe(false);
    expect(matchesRequiredNodeAffinity(withTerms(both, expr("disk", "In", ["ssd"])), node)).toBe(
      true,
    );
  });

  it("matches metadata.name through matchFields", () => {
    const byName = (operator: string, name: string) => ({
      matchFields: [{ key: "metadata.name", operator, values: [name] }],
    });
    expect(matchesRequiredNodeAffinity(withTerms(byName("In", "n1")), node)).toBe(true);
    expect(matchesRequiredNodeAffinity(withTerms(byName("In", "n2")), node)).toBe(false);
    expect(matchesRequiredNodeAffinity(withTerms(byName("NotIn", "n2")), node)).toBe(true);
  });

  it("treats empty and malformed terms as matching nothing", () => {
    expect(matchesRequiredNodeAffinity(withTerms({}), node)).toBe(false);
    expect(matchesRequiredNodeAffinity(withTerms(), node)).toBe(false);
    expect(matchesRequiredNodeAffinity(withTerms(expr("zone", "Bogus", ["a"])), node)).toBe(false);
    expect(matchesRequiredNodeAffinity(withTerms(expr("cores", "Gt", ["x"])), node)).toBe(false);
    const badField = { matchFields: [{ key: "metadata.uid", operator: "In", values: ["n1"] }] };
    expect(matchesRequiredNodeAffinity(withTerms(badField, expr("zone", "In", ["a"])), node)).toBe(
      true,
    );
  });
});

describe("taints and tolerations", () => {
  const taint = { key: "dedicated", value: "gpu", effect: "NoSchedule" };

  it("tolerates by key, value, effect and operator", () => {
    expect(tolerates([{ key: "dedicated", value: "gpu" }], taint)).toBe(true);
    expect(tolerates([{ key: "dedicated", operator: "Equal", value: "cpu" }], taint)).toBe(false);
    expect(tolerates([{ key: "dedicated", operator: "Exists" }], taint)).toBe(true);
    expect(tolerates([{ key: "dedicated", operator: "Exists", effect: "NoExecute" }], taint)).toBe(
      false,
    );
    expect(tolerates([{ operator: "Exists" }], taint)).toBe(true);
    expect(tolerates([{ operator: "Exists", effect: "NoSchedule" }], taint)).toBe(true);
    expect(tolerates([{ key: "other", operator: "Exists" }], taint)).toBe(false);
    expect(tolerates([], taint)).toBe(false);
    expect(tolerates(undefined, taint)).toBe(false);
  });

  it("finds the first untolerated taint of the given effects", () => {
    const hard = ["NoSchedule", "NoExecute"];
    expect(untoleratedTaint({ spec: {} }, node, hard)?.key).toBe("dedicated");
    const gpu = { spec: { tolerations: [{ key: "dedicated", operator: "Exists" }] } };
    expect(untoleratedTaint(gpu, node, hard)?.key).toBe("flaky");
    expect(untoleratedTaint(gpu, node, ["NoSchedule"])).toBeUndefined();
    expect(untoleratedTaint({ spec: { tolerations: [{ operator: "Exists" }] } }, node, hard)).toBe(
      undefined,
    );
    expect(untoleratedTaint(gpu, node, [])?.key).toBe("flaky");
    expect(untoleratedTaint({ spec: {} }, { spec: {} }, hard)).toBeUndefined();
  });
});
