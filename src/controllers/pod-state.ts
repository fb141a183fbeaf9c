// A pod's state as every controller reads it (Kubernetes' pkg/api/v1/pod and
// controller.FilterActivePods): finished, active, ready, available.
import type { KObject } from "../store/objects.ts";

export const isTerminal = (p: KObject): boolean =>
  p.status?.phase === "Succeeded" || p.status?.phase === "Failed";

/** FilterActivePods: not finished, not being deleted. Only these count as replicas. */
export const isActive = (p: KObject): boolean => !isTerminal(p) && !p.metadata?.deletionTimestamp;

export const readyCondition = (p: KObject): KObject | undefined =>
  (p.status?.conditions ?? []).find((c: KObject) => c.type === "Ready");

/** IsPodReady. */
export const isPodReady = (p: KObject): boolean => readyCondition(p)?.status === "True";

/**
 * When a ready pod becomes available: Ready for more than minReadySeconds. Undefined when it
 * is not ready.
 */
export function availableAt(p: KObject, minReadySeconds: number): number | undefined {
  const c = readyCondition(p);
  if (c?.status !== "True") return undefined;
  if (!minReadySeconds) return 0;
  const since = Date.parse(c.lastTransitionTime ?? "");
  // A Ready condition without a time has been ready for as long as anyone knows.
  if (Number.isNaN(since)) return 0;
  return since + minReadySeconds * 1000;
}

/** IsPodAvailable: Ready for more than minReadySeconds at `now` (ms since the epoch). */
export function isPodAvailable(p: KObject, minReadySeconds: number, now: number): boolean {
  const at = availableAt(p, minReadySeconds);
  if (at === undefined) return false;
  return minReadySeconds ? at < now : true;
}
