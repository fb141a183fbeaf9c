// Does a pod fit a node by labels, affinity and taints? The checks the scheduler and the
// DaemonSet controller share, as k8s.io/component-helpers/scheduling/corev1 (nodeaffinity,
// FindMatchingUntoleratedTaint) and core/v1 Toleration.ToleratesTaint define them.
import { newRequirement, type Operator, requirementMatches, SelectorError } from "./labels.ts";

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[] | null;
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[] | null;
  matchFields?: NodeSelectorRequirement[] | null;
}

interface PodLike {
  spec?: {
    nodeSelector?: Record<string, string> | null;
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: {
          nodeSelectorTerms?: NodeSelectorTerm[] | null;
        } | null;
      } | null;
    } | null;
    tolerations?: Toleration[] | null;
  } | null;
}

interface NodeLike {
  metadata?: { name?: string; labels?: Record<string, string> | null } | null;
  spec?: { taints?: Taint[] | null } | null;
}

const labelsOf = (node: NodeLike): Record<string, string> => node.metadata?.labels ?? {};

/** pod.spec.nodeSelector: every pair must be a label of the node. */
export function matchesNodeSelector(pod: PodLike, node: NodeLike): boolean {
  const labels = labelsOf(node);
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {}))
    if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  return true;
}

const nodeOps: Record<string, Operator> = {
  In: "in",
  NotIn: "notin",
  Exists: "exists",
  DoesNotExist: "!",
  Gt: "gt",
  Lt: "lt",
};

/** One matchExpressions requirement; undefined when it does not parse (the term is dropped). */
function expressionMatches(
  r: NodeSelectorRequirement,
  labels: Record<string, string>,
): boolean | undefined {
  const op = Object.hasOwn(nodeOps, r.operator) ? nodeOps[r.operator] : undefined;
  if (!op) return undefined;
  try {
    return requirementMatches(newRequirement(r.key, op, r.values ?? null), labels);
  } catch (e) {
    if (e instanceof SelectorError) return undefined;
    throw e;
  }
}

/** One matchFields requirement: only metadata.name, In or NotIn, with exactly one value. */
function fieldMatches(r: NodeSelectorRequirement, name: string): boolean | undefined {
  const values = r.values ?? [];
  if (r.key !== "metadata.name" || values.length !== 1) return undefined;
  if (r.operator === "In") return name === values[0];
  if (r.operator === "NotIn") return name !== values[0];
  return undefined;
}

/**
 * A term matches when all its expressions and fields do. An empty term matches nothing, and a
 * term that does not parse is skipped (nodeaffinity's LazyErrorNodeSelector).
 */
export function termMatches(term: NodeSelectorTerm, node: NodeLike): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = labelsOf(node);
  const name = node.metadata?.name ?? "";
  for (const r of exprs) if (expressionMatches(r, labels) !== true) return false;
  for (const r of fields) if (fieldMatches(r, name) !== true) return false;
  return true;
}

/** requiredDuringSchedulingIgnoredDuringExecution: the nodeSelectorTerms are ORed. */
export function matchesRequiredNodeAffinity(pod: PodLike, node: NodeLike): boolean {
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return (required.nodeSelectorTerms ?? []).some((t) => termMatches(t, node));
}

/** Toleration.ToleratesTaint. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  // An empty key with operator Exists matches every taint.
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? "") {
    case "":
    case "Equal":
      return (t.value ?? "") === (taint.value ?? "");
    case "Exists":
      return true;
    default:
      return false;
  }
}

/** TolerationsTolerateTaint: some toleration tolerates the taint. */
export function tolerates(tolerations: Toleration[] | null | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => toleratesTaint(t, taint));
}

/**
 * FindMatchingUntoleratedTaint: the first of the node's taints with one of `effects` that the
 * pod does not tolerate (an empty `effects` considers every taint).
 */
export function untoleratedTaint(
  pod: PodLike,
  node: NodeLike,
  effects: string[],
): Taint | undefined {
  const tolerations = pod.spec?.tolerations ?? [];
  for (const taint of node.spec?.taints ?? []) {
    if (effects.length && !effects.includes(taint.effect)) continue;
    if (!tolerates(tolerations, taint)) return taint;
  }
  return undefined;
}
