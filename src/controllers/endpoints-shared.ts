// What the endpoints, EndpointSlice-mirroring and apiserver-endpoints reconcilers share: the
// well-known labels, their strategies, and the write budget of one pass.
import { ApiError } from "../k8s/errors.ts";
import { strategyFor } from "../resources/registry.ts";
import type { Ctx } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import { type KObject, listObjects, withRv } from "../store/objects.ts";

/** discovery.LabelServiceName, discovery.LabelManagedBy and the controllers' names. */
export const SERVICE_NAME = "kubernetes.io/service-name";
export const SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by";
export const SLICE_CONTROLLER = "endpointslice-controller.k8s.io";
export const ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by";
export const ENDPOINTS_CONTROLLER = "endpoint-controller";
/** discovery.LabelSkipMirror: Endpoints the mirroring controller leaves alone. */
export const SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror";
export const MIRROR_CONTROLLER = "endpointslicemirroring-controller.k8s.io";
export const endpointsStrategy = () => must(strategyFor("", "endpoints"));
export const slicesStrategy = () => must(strategyFor("discovery.k8s.io", "endpointslices"));

function must(s: Strategy | undefined): Strategy {
  if (!s) throw new Error("endpoints controller: strategy missing");
  return s;
}

/** The map's entry for `key`, made first when missing. */
export function entry<K, V>(m: Map<K, V>, key: K, make: () => V): V {
  let v = m.get(key);
  if (v === undefined) {
    v = make();
    m.set(key, v);
  }
  return v;
}

export async function listIn(ctx: Ctx, resource: string, namespace: string): Promise<KObject[]> {
  const { rows } = await listObjects(ctx.db, { resource, namespace });
  return rows.map((r) => withRv(r.body, r.rv));
}

/** What one pass may still write. */
export interface Budget {
  left: number;
  /** Writes were skipped for want of budget: come back soon. */
  more: boolean;
}

export function spend(b: Budget): boolean {
  if (b.left <= 0) {
    b.more = true;
    return false;
  }
  b.left--;
  return true;
}

/** Someone else got there first (or the namespace is going): nothing left for us to do. */
export const settled = (err: unknown) =>
  err instanceof ApiError && (err.code === 404 || err.code === 403 || err.code === 409);

export async function ignoreSettled(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!settled(err)) throw err;
  }
}

/** The slices `manager` keeps, by the Service they are labelled for. */
export function slicesByService(slices: KObject[], manager: string): Map<string, KObject[]> {
  const out = new Map<string, KObject[]>();
  for (const slice of slices) {
    const labels = slice.metadata.labels ?? {};
    if (labels[SLICE_MANAGED_BY] !== manager || !labels[SERVICE_NAME]) continue;
    entry(out, labels[SERVICE_NAME] as string, () => [] as KObject[]).push(slice);
  }
  return out;
}
