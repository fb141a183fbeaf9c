// The EndpointSlice mirroring controller (Kubernetes' pkg/controller/endpointslicemirroring):
// a Service without a selector whose Endpoints someone wrote by hand gets EndpointSlices that
// mirror them (managed-by endpointslicemirroring-controller.k8s.io, owned by the Endpoints),
// so everything that reads slices — the agents' proxies, DNS — sees those addresses too.

import { newControllerRef } from "../k8s/owner-refs.ts";
import { jsonEqual } from "../resources/diff.ts";
import { type Ctx, create, remove, update } from "../resources/rest.ts";
import type { KObject } from "../store/objects.ts";
import {
  type Budget,
  entry,
  ignoreSettled,
  MIRROR_CONTROLLER,
  SERVICE_NAME,
  SKIP_MIRROR,
  SLICE_MANAGED_BY,
  slicesByService,
  slicesStrategy,
  spend,
} from "./endpoints-shared.ts";

/** --mirroring-max-endpoints-per-subset: endpoints per mirrored slice. */
const MAX_PER_SLICE = 1000;
/** Annotations of the Endpoints that are not copied to the slices. */
const NOT_COPIED = new Set([
  "endpoints.kubernetes.io/last-change-trigger-time",
  "kubectl.kubernetes.io/last-applied-configuration",
]);

interface SliceBody {
  addressType: string;
  ports: KObject[];
  endpoints: KObject[];
}

const addressType = (ip: unknown): string | undefined => {
  if (typeof ip !== "string") return undefined;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return "IPv4";
  return /^[0-9a-fA-F:.]+$/.test(ip) && ip.includes(":") ? "IPv6" : undefined;
};

/** addressToEndpoint. */
function endpointOf(a: KObject, ready: boolean): KObject {
  return {
    addresses: [a.ip],
    conditions: { ready },
    ...(a.hostname && { hostname: a.hostname }),
    ...(a.nodeName && { nodeName: a.nodeName }),
    ...(a.targetRef && { targetRef: a.targetRef }),
  };
}

/** The slices an Endpoints object mirrors to: one per port set and address family. */
function desiredSlices(ep: KObject): SliceBody[] {
  const groups = new Map<string, SliceBody>();
  for (const subset of ep.subsets ?? []) {
    const ports = (subset.ports ?? []).map((p: KObject) => ({
      name: p.name ?? "",
      port: p.port,
      protocol: p.protocol ?? "TCP",
      ...(p.appProtocol && { appProtocol: p.appProtocol }),
    }));
    const listed: [KObject, boolean][] = [
      ...(subset.addresses ?? []).map((a: KObject): [KObject, boolean] => [a, true]),
      ...(subset.notReadyAddresses ?? []).map((a: KObject): [KObject, boolean] => [a, false]),
    ];
    for (const [a, ready] of listed) {
      const family = addressType(a.ip);
      if (!family) continue;
      const key = `${family}/${JSON.stringify(ports)}`;
      const g = entry(groups, key, () => ({ addressType: family, ports, endpoints: [] }));
      g.endpoints.push(endpointOf(a, ready));
    }
  }
  const out: SliceBody[] = [];
  for (const g of groups.values())
    for (let i = 0; i < g.endpoints.length; i += MAX_PER_SLICE)
      out.push({ ...g, endpoints: g.endpoints.slice(i, i + MAX_PER_SLICE) });
  return out;
}

function sliceMeta(ep: KObject): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries<string>(ep.metadata.annotations ?? {}))
    if (!NOT_COPIED.has(k)) annotations[k] = v;
  return {
    labels: {
      ...ep.metadata.labels,
      [SERVICE_NAME]: ep.metadata.name,
      [SLICE_MANAGED_BY]: MIRROR_CONTROLLER,
    },
    annotations,
  };
}

const mirrorable = (ep: KObject, svc: KObject | undefined) =>
  !!svc &&
  !svc.metadata.deletionTimestamp &&
  Object.keys(svc.spec?.selector ?? {}).length === 0 &&
  !ep.metadata.deletionTimestamp &&
  ep.metadata.labels?.[SKIP_MIRROR] !== "true";

/** Bring the mirrored slices of every Endpoints object in a namespace up to date. */
export async function mirrorEndpoints(
  ctx: Ctx,
  namespace: string,
  services: KObject[],
  endpoints: KObject[],
  slices: KObject[],
  budget: Budget,
): Promise<void> {
  const serviceByName = new Map(services.map((s) => [s.metadata.name as string, s]));
  const mirrored = slicesByService(slices, MIRROR_CONTROLLER);
  for (const ep of endpoints) {
    const name: string = ep.metadata.name;
    const want = mirrorable(ep, serviceByName.get(name)) ? desiredSlices(ep) : [];
    await syncMirror(ctx, namespace, ep, want, mirrored.get(name) ?? [], budget);
    mirrored.delete(name);
  }
  // Slices whose Endpoints is gone (their owner reference takes them too, eventually).
  for (const rest of mirrored.values())
    for (const slice of rest)
      if (spend(budget))
        await ignoreSettled(remove(ctx, slicesStrategy(), namespace, slice.metadata.name));
}

async function syncMirror(
  ctx: Ctx,
  namespace: string,
  ep: KObject,
  want: SliceBody[],
  existing: KObject[],
  budget: Budget,
): Promise<void> {
  const s = slicesStrategy();
  const meta = sliceMeta(ep);
  const owner = newControllerRef({ apiVersion: "v1", kind: "Endpoints", metadata: ep.metadata });
  const have = [...existing].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const reusable = (slice: KObject, body: SliceBody) => slice.addressType === body.addressType;
  const pending = [...want];
  // Update the slices there are (same address family: addressType is immutable) in place.
  for (const slice of have) {
    const i = pending.findIndex((b) => reusable(slice, b));
    if (i < 0) {
      if (spend(budget)) await ignoreSettled(remove(ctx, s, namespace, slice.metadata.name));
      continue;
    }
    const [body] = pending.splice(i, 1);
    const same =
      jsonEqual(slice.endpoints ?? [], body.endpoints) &&
      jsonEqual(slice.ports ?? [], body.ports) &&
      jsonEqual(slice.metadata.labels ?? {}, meta.labels) &&
      jsonEqual(slice.metadata.annotations ?? {}, meta.annotations) &&
      jsonEqual(slice.metadata.ownerReferences ?? [], [owner]);
    if (same || !spend(budget)) continue;
    await ignoreSettled(
      update(ctx, s, namespace, slice.metadata.name, (o) => {
        o.metadata.labels = meta.labels;
        o.metadata.annotations = meta.annotations;
        o.metadata.ownerReferences = [owner];
        o.endpoints = body.endpoints;
        o.ports = body.ports;
        return o;
      }),
    );
  }
  for (const body of pending) {
    if (!spend(budget)) return;
    await create(ctx, s, namespace, {
      metadata: { generateName: `${ep.metadata.name}-`, ...meta, ownerReferences: [owner] },
      ...body,
    });
  }
}
