// A Job's podFailurePolicy and successPolicy: validatePodFailurePolicy and
// validateSuccessPolicy of pkg/apis/batch/validation.
import {
  duplicate,
  type FieldError,
  invalid,
  isQualifiedName,
  notSupported,
  required,
} from "../k8s/validation.ts";
import type { KObject } from "./types.ts";

const ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"];
const OPERATORS = ["In", "NotIn"];
const CONDITION_STATUSES = ["False", "True", "Unknown"];
const MAX_EXIT_CODES = 255;

export function validatePodFailurePolicy(spec: KObject, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set(
    [...(spec.template?.spec?.containers ?? []), ...(spec.template?.spec?.initContainers ?? [])]
      .map((c: KObject) => c?.name)
      .filter(Boolean),
  );
  const rules: KObject[] = Array.isArray(spec.podFailurePolicy?.rules)
    ? spec.podFailurePolicy.rules
    : [];
  for (const [i, rule] of rules.entries()) {
    const at = `${path}.rules[${i}]`;
    if (!rule.action) errs.push(required(`${at}.action`, `valid values: ${goList(ACTIONS)}`));
    else if (rule.action === "FailIndex") {
      if (spec.backoffLimitPerIndex == null)
        errs.push(
          invalid(`${at}.action`, rule.action, "requires the backoffLimitPerIndex to be set"),
        );
    } else if (!ACTIONS.includes(rule.action))
      errs.push(notSupported(`${at}.action`, rule.action, ACTIONS));
    const conditions: KObject[] = rule.onPodConditions ?? [];
    if (rule.onExitCodes) errs.push(...onExitCodes(rule.onExitCodes, `${at}.onExitCodes`, names));
    for (const [j, p] of conditions.entries()) {
      const pat = `${at}.onPodConditions[${j}]`;
      if (!CONDITION_STATUSES.includes(p.status))
        errs.push(notSupported(`${pat}.status`, p.status ?? "", CONDITION_STATUSES));
      for (const msg of isQualifiedName(String(p.type ?? "")))
        errs.push(invalid(`${pat}.type`, p.type ?? "", msg));
    }
    if (rule.onExitCodes && conditions.length)
      errs.push(
        invalid(at, undefined, "specifying both OnExitCodes and OnPodConditions is not supported"),
      );
    if (!rule.onExitCodes && !conditions.length)
      errs.push(
        invalid(at, undefined, "specifying one of OnExitCodes and OnPodConditions is required"),
      );
  }
  return errs;
}

/** Go's %q of a []string: ["a" "b"]. */
const goList = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(" ")}]`;

function onExitCodes(req: KObject, at: string, names: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  if (req.containerName != null && !names.has(req.containerName))
    errs.push(
      invalid(
        `${at}.containerName`,
        req.containerName,
        "must be one of the container or initContainer names in the pod template",
      ),
    );
  if (!OPERATORS.includes(req.operator))
    errs.push(notSupported(`${at}.operator`, req.operator ?? "", OPERATORS));
  const values: number[] = Array.isArray(req.values) ? req.values : [];
  if (values.length === 0 || values.length > MAX_EXIT_CODES)
    errs.push(
      invalid(
        `${at}.values`,
        values,
        `at least one value is required, up to ${MAX_EXIT_CODES} are allowed`,
      ),
    );
  const seen = new Set<number>();
  for (const [i, v] of values.entries()) {
    const vat = `${at}.values[${i}]`;
    if (seen.has(v)) errs.push(duplicate(vat, v));
    if (req.operator === "In" && v === 0)
      errs.push(invalid(vat, v, "must not be 0 for the In operator"));
    if (i > 0 && values[i - 1] > v) errs.push(invalid(vat, v, "must be ordered"));
    seen.add(v);
  }
  return errs;
}

export function validateSuccessPolicy(spec: KObject, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const rules: KObject[] = Array.isArray(spec.successPolicy?.rules) ? spec.successPolicy.rules : [];
  if (!rules.length)
    errs.push(
      required(
        `${path}.rules`,
        "at least one rules must be specified when the successPolicy is specified",
      ),
    );
  const completions: number = spec.completions ?? 0;
  for (const [i, rule] of rules.entries()) {
    const at = `${path}.rules[${i}]`;
    let total = 0;
    if (rule.succeededIndexes != null) {
      const parsed = countIndexes(String(rule.succeededIndexes), completions);
      if (typeof parsed === "string")
        errs.push(
          invalid(
            `${at}.succeededIndexes`,
            rule.succeededIndexes,
            `error parsing succeededIndexes: ${parsed}`,
          ),
        );
      else total = parsed;
    }
    const count = rule.succeededCount;
    if (count != null) {
      if (count < 0)
        errs.push(invalid(`${at}.succeededCount`, count, "must be greater than or equal to 0"));
      if (count > completions)
        errs.push(
          invalid(
            `${at}.succeededCount`,
            count,
            `must be less than or equal to ${completions} (the number of specified completions)`,
          ),
        );
      if (rule.succeededIndexes != null && count > total)
        errs.push(
          invalid(
            `${at}.succeededCount`,
            count,
            `must be less than or equal to ${total} (the number of indexes in the specified succeededIndexes field)`,
          ),
        );
    }
    if (count == null && rule.succeededIndexes == null)
      errs.push(
        required(at, "at least one of succeededCount or succeededIndexes must be specified"),
      );
  }
  return errs;
}

/** validateIndexesFormat: how many indexes "1,3-5" names, or what is wrong with it. */
function countIndexes(s: string, completions: number): number | string {
  let total = 0;
  let prev = -1;
  for (const part of s.split(",")) {
    const bounds = part.split("-");
    if (bounds.length > 2)
      return `the fragment "${part}" violates the requirement that an index interval can have at most two parts separated by '-'`;
    const nums: number[] = [];
    for (const b of bounds) {
      if (!/^\d+$/.test(b)) return `cannot convert string to integer for index: "${b}"`;
      const n = Number(b);
      if (n >= completions) return `too large index: "${b}"`;
      nums.push(n);
    }
    const [lo, hi = lo] = nums;
    if (lo <= prev) return `non-increasing order, previous: ${prev}, current: ${lo}`;
    if (hi < lo) return `non-increasing order, previous: ${lo}, current: ${hi}`;
    total += hi - lo + 1;
    prev = hi;
  }
  return total;
}
