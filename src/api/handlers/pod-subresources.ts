// pods/binding and pods/eviction (pkg/registry/core/pod/storage): a scheduler assigns a pod to a
// node once; an eviction deletes a pod unless its PodDisruptionBudget forbids it right now.
import { budgetStatus, selects, setAllowedCondition } from "../../controllers/disruption.ts";
import { isPodReady } from "../../controllers/pod-state.ts";
import { PDB_RESOURCE } from "../../controllers/pokes.ts";
import { ApiError, badRequest, conflict, tooManyRequests } from "../../k8s/errors.ts";
import { strategyFor } from "../../resources/registry.ts";
import * as rest from "../../resources/rest.ts";
import type { KObject, Strategy } from "../../resources/types.ts";
import { listObjects, withRv } from "../../store/objects.ts";
import { readObject } from "../body.ts";
import { type C, dryRun, fieldManager, storeCtx } from "../context.ts";
import { json } from "../output.ts";
import type { ResourcePath } from "../paths.ts";

const success = () =>
  json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 }, 201);

const BINDING = { group: "", resource: "pods/binding" };

/** POST pods/<name>/binding: spec.nodeName (and PodScheduled=True) if no node is set yet. */
export async function binding(c: C, s: Strategy, p: ResourcePath) {
  const b = await readObject(c.req.raw);
  const name = p.name as string;
  if (b.metadata?.name && b.metadata.name !== name)
    throw badRequest("name in URL does not match name in Binding object");
  const target = b.target ?? {};
  const errs: string[] = [];
  if (!target.name) errs.push("target.name: Required value");
  if (target.kind && target.kind !== "Node")
    errs.push(`target.kind: Not supported: "${target.kind}": must be empty or 'Node'`);
  if (errs.length)
    throw new ApiError(422, "Invalid", `Binding "${name}" is invalid: ${errs.join(", ")}`, {
      name,
      kind: "Binding",
      causes: [],
    });
  const stamp = rest.timestamp(new Date());
  await rest.update(
    storeCtx(c),
    s,
    p.namespace ?? "",
    name,
    (pod) => {
      const why = (msg: string) => conflict(BINDING, name, msg);
      if (b.metadata?.uid && b.metadata.uid !== pod.metadata.uid)
        throw why(
          `Precondition failed: UID in precondition: ${b.metadata.uid}, UID in object meta: ${pod.metadata.uid}`,
        );
      if (pod.metadata.deletionTimestamp)
        throw why(`pod ${name} is being deleted, cannot be assigned to a host`);
      if (pod.spec?.nodeName)
        throw why(`pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
      if (pod.spec?.schedulingGates?.length)
        throw why(`pod ${name} has non-empty .spec.schedulingGates`);
      pod.spec.nodeName = target.name;
      if (b.metadata?.annotations)
        pod.metadata.annotations = { ...pod.metadata.annotations, ...b.metadata.annotations };
      pod.status ??= {};
      const conditions: KObject[] = (pod.status.conditions ?? []).filter(
        (x: KObject) => x.type !== "PodScheduled",
      );
      pod.status.conditions = [
        ...conditions,
        { type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: stamp },
      ];
      // A binding naming a resourceVersion binds only that version.
      if (b.metadata?.resourceVersion) pod.metadata.resourceVersion = b.metadata.resourceVersion;
      return pod;
    },
    { subresource: "binding", dryRun: dryRun(c), fieldManager: fieldManager(c) },
  );
  return success();
}

interface EvictionBody {
  metadata?: { name?: string };
  deleteOptions?: {
    gracePeriodSeconds?: number;
    propagationPolicy?: "Orphan" | "Background" | "Foreground";
    preconditions?: { uid?: string; resourceVersion?: string };
    dryRun?: string[];
  };
}

const terminalOrPending = (pod: KObject) =>
  ["Succeeded", "Failed", "Pending"].includes(pod.status?.phase) ||
  !!pod.metadata.deletionTimestamp;

const budgetRefusal = (detail: string, retryAfter: number) => {
  const err = tooManyRequests(
    "Cannot evict pod as it would violate the pod's disruption budget.",
    retryAfter,
  );
  if (err.details) err.details.causes = [{ reason: "DisruptionBudget", message: detail }];
  return err;
};

/** POST pods/<name>/eviction: delete the pod if its disruption budget allows it. */
export async function eviction(c: C, s: Strategy, p: ResourcePath) {
  const ev = (await readObject(c.req.raw)) as EvictionBody;
  const name = p.name as string;
  const namespace = p.namespace ?? "";
  if (ev.metadata?.name !== undefined && ev.metadata.name !== name)
    throw badRequest("name in URL does not match name in Eviction object");
  const ctx = storeCtx(c);
  const o = ev.deleteOptions ?? {};
  const dry = dryRun(c) || (o.dryRun?.length ?? 0) > 0;
  const options: rest.DeleteOptions = {
    dryRun: dry,
    gracePeriodSeconds: o.gracePeriodSeconds,
    propagationPolicy: o.propagationPolicy,
    preconditions: o.preconditions,
  };
  const pinned = (rv: string): rest.DeleteOptions =>
    o.preconditions?.resourceVersion
      ? options
      : { ...options, preconditions: { ...o.preconditions, resourceVersion: rv } };

  // A pod that is not running disrupts nothing: it goes without asking any budget (pinned to
  // the version read, so it cannot have started running meanwhile; a conflict reads again).
  let pod: KObject;
  for (let attempt = 0; ; attempt++) {
    pod = (await rest.get(ctx, s, namespace, name)).object;
    if (!terminalOrPending(pod)) break;
    const enforce = !pod.metadata.deletionTimestamp && pod.status?.phase === "Pending";
    try {
      await rest.remove(
        ctx,
        s,
        namespace,
        name,
        enforce ? pinned(pod.metadata.resourceVersion) : options,
      );
      return success();
    } catch (err) {
      const retry =
        err instanceof ApiError && err.code === 409 && !o.preconditions?.resourceVersion;
      if (!retry || attempt >= 8) throw err;
    }
  }

  const { rows } = await listObjects(ctx.db, { resource: PDB_RESOURCE, namespace });
  const budgets = rows.map((r) => withRv(r.body, r.rv)).filter((b) => selects(b, pod));
  if (budgets.length > 1)
    return json(
      {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message:
          "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        code: 500,
      },
      500,
    );
  if (budgets.length === 1) {
    const pdb = budgets[0];
    const ps = strategyFor("policy", "poddisruptionbudgets") as Strategy;
    let unhealthyMayGo = false;
    let refusal: ApiError | undefined;
    await rest.update(
      ctx,
      ps,
      namespace,
      pdb.metadata.name,
      async (cur) => {
        const status = await budgetStatus(ctx, cur);
        cur.status = status;
        refusal = undefined;
        unhealthyMayGo = false;
        // An unready pod does not count as healthy: evicting it costs the budget nothing.
        const policy = cur.spec?.unhealthyPodEvictionPolicy ?? "IfHealthyBudget";
        if (
          !isPodReady(pod) &&
          (policy === "AlwaysAllow" ||
            (status.currentHealthy >= status.desiredHealthy && status.desiredHealthy > 0))
        ) {
          unhealthyMayGo = true;
          return cur;
        }
        if (status.disruptionsAllowed <= 0) {
          refusal = budgetRefusal(
            `The disruption budget ${cur.metadata.name} needs ${status.desiredHealthy} healthy pods and has ${status.currentHealthy} currently`,
            0,
          );
          return cur;
        }
        status.disruptionsAllowed--;
        status.disruptedPods = { ...status.disruptedPods, [name]: rest.timestamp(ctx.now()) };
        setAllowedCondition(status, cur, rest.timestamp(ctx.now()));
        return cur;
      },
      { subresource: "status", dryRun: dry },
    );
    if (refusal) throw refusal;
    if (unhealthyMayGo) {
      try {
        await rest.remove(ctx, s, namespace, name, pinned(pod.metadata.resourceVersion));
      } catch (err) {
        // The pod changed (maybe became ready) since the budget was checked: ask again later.
        if (err instanceof ApiError && err.code === 409 && !o.preconditions?.resourceVersion)
          throw budgetRefusal(
            `The disruption budget ${pdb.metadata.name} is still being processed by the server.`,
            10,
          );
        throw err;
      }
      return success();
    }
  }
  await rest.remove(ctx, s, namespace, name, options);
  return success();
}
