// The apiserver's own endpoints (Kubernetes' pkg/controlplane/reconcilers): the `kubernetes`
// Service in default gets an Endpoints and an EndpointSlice, both named `kubernetes`, that say
// where pods reach the control plane: the IP in API_SERVER_ADDRESS, port https 443 (the Worker
// serves HTTPS there). Without API_SERVER_ADDRESS they list no address, so nothing routes the
// Service to a wrong place. The Endpoints carries skip-mirror, the slice no managed-by label,
// so neither the endpoints controller nor the mirroring controller touches them.

import { jsonEqual } from "../resources/diff.ts";
import { type Ctx, create, remove, update } from "../resources/rest.ts";
import type { KObject } from "../store/objects.ts";
import {
  type Budget,
  endpointsStrategy,
  ignoreSettled,
  SERVICE_NAME,
  SKIP_MIRROR,
  slicesStrategy,
  spend,
} from "./endpoints-shared.ts";

export const API_SERVICE = "kubernetes";
const NAMESPACE = "default";
const PORT = { name: "https", port: 443, protocol: "TCP" };

const isIPv4 = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);
const isIPv6 = (s: string) => s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s);

/** The address pods reach the control plane at, if one is configured and is an IP. */
export function apiServerAddress(value: string | undefined): string | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (isIPv4(v) || isIPv6(v)) return v;
  console.warn(`API_SERVER_ADDRESS ${JSON.stringify(v)} is not an IP address: ignored`);
  return undefined;
}

function desired(address: string | undefined) {
  const endpoints: KObject = {
    metadata: { name: API_SERVICE, namespace: NAMESPACE, labels: { [SKIP_MIRROR]: "true" } },
    ...(address && { subsets: [{ addresses: [{ ip: address }], ports: [PORT] }] }),
  };
  const slice: KObject = {
    metadata: { name: API_SERVICE, namespace: NAMESPACE, labels: { [SERVICE_NAME]: API_SERVICE } },
    addressType: address && isIPv6(address) ? "IPv6" : "IPv4",
    endpoints: address ? [{ addresses: [address], conditions: { ready: true } }] : [],
    ports: [PORT],
  };
  return { endpoints, slice };
}

/** Write the `kubernetes` Endpoints and EndpointSlice where they differ from what they should be. */
export async function syncApiServerEndpoints(
  ctx: Ctx,
  address: string | undefined,
  current: { endpoints?: KObject; slice?: KObject },
  budget: Budget,
): Promise<void> {
  const want = desired(address);
  const ep = current.endpoints;
  if (!ep) {
    if (spend(budget))
      await ignoreSettled(create(ctx, endpointsStrategy(), NAMESPACE, want.endpoints));
  } else if (
    !jsonEqual(ep.subsets ?? [], want.endpoints.subsets ?? []) ||
    !jsonEqual(ep.metadata.labels, want.endpoints.metadata.labels)
  ) {
    if (spend(budget))
      await ignoreSettled(
        update(ctx, endpointsStrategy(), NAMESPACE, API_SERVICE, (o) => {
          o.metadata.labels = want.endpoints.metadata.labels;
          if (want.endpoints.subsets) o.subsets = want.endpoints.subsets;
          else delete o.subsets;
          return o;
        }),
      );
  }
  const slice = current.slice;
  const fields = ["addressType", "endpoints", "ports"] as const;
  if (slice && slice.addressType !== want.slice.addressType) {
    // addressType is immutable: a slice of the other family is replaced.
    if (!spend(budget)) return;
    await ignoreSettled(remove(ctx, slicesStrategy(), NAMESPACE, API_SERVICE));
    if (spend(budget)) await ignoreSettled(create(ctx, slicesStrategy(), NAMESPACE, want.slice));
  } else if (!slice) {
    if (spend(budget)) await ignoreSettled(create(ctx, slicesStrategy(), NAMESPACE, want.slice));
  } else if (
    fields.some((f) => !jsonEqual(slice[f] ?? [], want.slice[f])) ||
    !jsonEqual(slice.metadata.labels, want.slice.metadata.labels)
  ) {
    if (spend(budget))
      await ignoreSettled(
        update(ctx, slicesStrategy(), NAMESPACE, API_SERVICE, (o) => {
          o.metadata.labels = want.slice.metadata.labels;
          for (const f of fields) o[f] = want.slice[f];
          return o;
        }),
      );
  }
}
