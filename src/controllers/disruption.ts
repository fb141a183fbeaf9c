// PodDisruptionBudget status (Kubernetes' disruption controller): how many of the selected pods
// are healthy, how many must stay so, and how many may be disrupted now. The eviction subresource
// computes it afresh before it decides, so a budget never depends on this controller having run;
// the controller (one instance per namespace) keeps `kubectl get pdb` current.

import { ApiError } from "../k8s/errors.ts";
import { scaledValue } from "../k8s/intstr.ts";
import { controllerRef } from "../k8s/owner-refs.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Ctx, timestamp, update } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import { asSelector } from "../resources/workload.ts";
import { getObject, type Key, type KObject, listObjects, withRv } from "../store/objects.ts";
import { isPodReady } from "./pod-state.ts";
import { PDB_RESOURCE } from "./pokes.ts";
import { type Next, Reconciler } from "./reconciler.ts";

/** How long an eviction's entry in status.disruptedPods holds (DeletionTimeout). */
const DELETION_TIMEOUT_MS = 2 * 60 * 1000;

/** The pods a budget covers: same namespace, matched by a non-empty selector. */
export function selects(pdb: KObject, pod: KObject): boolean {
  const sel = asSelector(pdb.spec?.selector);
  return !!sel && !sel.empty() && sel.matches(pod.metadata?.labels ?? {});
}

async function podsOf(ctx: Ctx, pdb: KObject): Promise<KObject[]> {
  const { rows } = await listObjects(ctx.db, {
    resource: "pods",
    namespace: pdb.metadata.namespace,
  });
  return rows.map((r) => withRv(r.body, r.rv)).filter((p) => selects(pdb, p));
}

/** getExpectedScale: the replicas of the controllers of the pods, each counted once. */
async function expectedScale(ctx: Ctx, pods: KObject[]): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  for (const pod of pods) {
    const ref = controllerRef(pod);
    if (!ref || seen.has(ref.uid)) continue;
    seen.add(ref.uid);
    const ns = pod.metadata.namespace;
    let owner: KObject | undefined;
    if (ref.kind === "ReplicaSet") {
      owner = (
        await getObject(ctx.db, { resource: "apps/replicasets", namespace: ns, name: ref.name })
      )?.object;
      // A Deployment's ReplicaSets count as the Deployment.
      const dep = owner && controllerRef(owner);
      if (dep?.kind === "Deployment") {
        if (seen.has(dep.uid)) continue;
        seen.add(dep.uid);
        owner = (
          await getObject(ctx.db, { resource: "apps/deployments", namespace: ns, name: dep.name })
        )?.object;
      }
    } else if (ref.kind === "StatefulSet") {
      owner = (
        await getObject(ctx.db, { resource: "apps/statefulsets", namespace: ns, name: ref.name })
      )?.object;
    } else if (ref.kind === "ReplicationController") {
      owner = (
        await getObject(ctx.db, {
          resource: "replicationcontrollers",
          namespace: ns,
          name: ref.name,
        })
      )?.object;
    }
    if (owner?.metadata?.uid) total += owner.spec?.replicas ?? 1;
  }
  return total;
}

/** The status the disruption controller would write now (updatePdbStatus). */
export async function budgetStatus(ctx: Ctx, pdb: KObject): Promise<KObject> {
  const now = ctx.now().getTime();
  const pods = await podsOf(ctx, pdb);
  const spec = pdb.spec ?? {};
  let expected = 0;
  let desired = 0;
  if (spec.maxUnavailable != null) {
    expected = await expectedScale(ctx, pods);
    desired = Math.max(0, expected - scaledValue(spec.maxUnavailable, expected, true));
  } else if (typeof spec.minAvailable === "number") {
    expected = pods.length;
    desired = spec.minAvailable;
  } else if (spec.minAvailable != null) {
    expected = await expectedScale(ctx, pods);
    desired = scaledValue(spec.minAvailable, expected, true);
  }
  // Evictions not yet seen through keep their pods out of the healthy count for a while.
  const disrupted: Record<string, string> = {};
  const old: Record<string, string> = pdb.status?.disruptedPods ?? {};
  for (const pod of pods) {
    const at = old[pod.metadata.name];
    if (at && !pod.metadata.deletionTimestamp && Date.parse(at) + DELETION_TIMEOUT_MS > now)
      disrupted[pod.metadata.name] = at;
  }
  const healthy = pods.filter(
    (p) => !p.metadata.deletionTimestamp && !disrupted[p.metadata.name] && isPodReady(p),
  ).length;
  const allowed = expected > 0 ? Math.max(0, healthy - desired) : 0;
  const status: KObject = {
    ...pdb.status,
    observedGeneration: pdb.metadata.generation,
    disruptionsAllowed: allowed,
    currentHealthy: healthy,
    desiredHealthy: desired,
    expectedPods: expected,
  };
  if (Object.keys(disrupted).length) status.disruptedPods = disrupted;
  else delete status.disruptedPods;
  setAllowedCondition(status, pdb, timestamp(ctx.now()));
  return status;
}

/** The DisruptionAllowed condition (pdbhelper.UpdateDisruptionAllowedCondition). */
export function setAllowedCondition(status: KObject, pdb: KObject, stamp: string) {
  const allowed = status.disruptionsAllowed > 0;
  const want = {
    type: "DisruptionAllowed",
    status: allowed ? "True" : "False",
    reason: allowed ? "SufficientPods" : "InsufficientPods",
    message: "",
    observedGeneration: pdb.metadata.generation,
  };
  const others = (status.conditions ?? []).filter((c: KObject) => c.type !== want.type);
  const old = (status.conditions ?? []).find((c: KObject) => c.type === want.type);
  const same = old?.status === want.status && old?.reason === want.reason;
  status.conditions = [
    ...others,
    { ...want, lastTransitionTime: same ? old.lastTransitionTime : stamp },
  ];
}

const pdbStrategy = () => strategyFor("policy", "poddisruptionbudgets") as Strategy;

/** Write a budget's current status (no-op when unchanged). */
export async function refreshBudget(ctx: Ctx, namespace: string, name: string): Promise<void> {
  try {
    await update(
      ctx,
      pdbStrategy(),
      namespace,
      name,
      async (cur) => {
        cur.status = await budgetStatus(ctx, cur);
        return cur;
      },
      { subresource: "status" },
    );
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 404)) throw err;
  }
}

/** One instance per namespace (`poddisruptionbudgets/<namespace>`) keeps its budgets current. */
export class DisruptionController extends Reconciler {
  protected async reconcile(ctx: Ctx, key: Key): Promise<Next> {
    const { rows } = await listObjects(ctx.db, {
      resource: PDB_RESOURCE,
      namespace: key.namespace,
    });
    if (!rows.length) return "gone";
    for (const row of rows) {
      try {
        await refreshBudget(ctx, key.namespace, row.name);
      } catch (err) {
        console.error(`disruption ${key.namespace}/${row.name}:`, err);
      }
    }
    return "resync";
  }
}
