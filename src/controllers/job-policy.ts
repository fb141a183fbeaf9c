// A Job's podFailurePolicy and successPolicy (Kubernetes' pkg/controller/job
// pod_failure_policy.go and success_policy.go), and the "1,3-5" index sets both speak.
import type { KObject } from "../store/objects.ts";

/** "1,3-5" → the indexes below `limit`. */
export function parseIndexes(s: string | undefined, limit: number): Set<number> {
  const out = new Set<number>();
  for (const part of (s ?? "").split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const last = Math.min(Number(m[2] ?? m[1]), limit - 1);
    for (let i = Number(m[1]); i <= last; i++) out.add(i);
  }
  return out;
}

/** A set of indexes → "1,3-5". */
export function formatIndexes(set: Set<number>): string {
  const sorted = [...set].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

export type FailureAction = "FailJob" | "FailIndex" | "Ignore" | "Count";

export interface FailureMatch {
  /** The Job's failure message when a FailJob rule matched. */
  message?: string;
  /** Whether the failure counts against backoffLimit (all but Ignore). */
  counts: boolean;
  action?: FailureAction;
}

/** getMatchingContainerFromList: a container that exited non-zero as the requirement says. */
function exitedAs(statuses: KObject[] | undefined, req: KObject): KObject | undefined {
  const values: number[] = req.values ?? [];
  return (statuses ?? []).find((c) => {
    const code = c.state?.terminated?.exitCode;
    if (typeof code !== "number" || code === 0) return false;
    if (req.containerName != null && req.containerName !== c.name) return false;
    return req.operator === "NotIn" ? !values.includes(code) : values.includes(code);
  });
}

/** matchPodFailurePolicy: the first rule a failed pod matches decides what its failure means. */
export function matchPodFailurePolicy(policy: KObject | undefined, pod: KObject): FailureMatch {
  const rules: KObject[] = policy?.rules ?? [];
  for (const [index, rule] of rules.entries()) {
    let matched: string | undefined;
    if (rule.onExitCodes) {
      const c =
        exitedAs(pod.status?.containerStatuses, rule.onExitCodes) ??
        exitedAs(pod.status?.initContainerStatuses, rule.onExitCodes);
      if (c)
        matched = `Container ${c.name} for pod ${pod.metadata.namespace}/${pod.metadata.name} failed with exit code ${c.state.terminated.exitCode} matching ${rule.action} rule at index ${index}`;
    } else if (rule.onPodConditions) {
      const patterns: KObject[] = rule.onPodConditions;
      const cond = (pod.status?.conditions ?? []).find((c: KObject) =>
        patterns.some((p) => p.type === c.type && (p.status ?? "True") === c.status),
      );
      if (cond)
        matched = `Pod ${pod.metadata.namespace}/${pod.metadata.name} has condition ${cond.type} matching ${rule.action} rule at index ${index}`;
    }
    if (matched === undefined) continue;
    const action = rule.action as FailureAction;
    if (action === "Ignore") return { counts: false, action };
    if (action === "FailJob") return { counts: true, action, message: matched };
    return { counts: true, action };
  }
  return { counts: true };
}

/** matchSuccessPolicy: "Matched rules at index N" for the first rule the succeeded indexes meet. */
export function matchSuccessPolicy(
  policy: KObject | undefined,
  completions: number,
  succeeded: Set<number>,
): string | undefined {
  if (!policy || succeeded.size === 0) return undefined;
  for (const [index, rule] of (policy.rules ?? []).entries()) {
    const count: number | undefined = rule.succeededCount ?? undefined;
    let met = false;
    if (rule.succeededIndexes != null) {
      const required = parseIndexes(rule.succeededIndexes, completions);
      if (!required.size) continue;
      const done = [...required].filter((i) => succeeded.has(i)).length;
      met = count !== undefined ? done >= count : done === required.size;
    } else if (count !== undefined) met = succeeded.size >= count;
    if (met) return `Matched rules at index ${index}`;
  }
  return undefined;
}
