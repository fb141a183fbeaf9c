// What every cluster has from the start: the system namespaces, the `kubernetes` Service and the
// default RBAC policy (cluster roles and their bindings).
import type { Env } from "../env.ts";
import { ApiError } from "../k8s/errors.ts";
import { getObject } from "../store/objects.ts";
import { clusterDnsIp, kubernetesServiceIp } from "./allocate.ts";
import { RBAC_GROUP } from "./rbac.ts";
import { DEFAULT_CLUSTER_ROLE_BINDINGS, DEFAULT_CLUSTER_ROLES } from "./rbac-defaults.ts";
import { strategyFor } from "./registry.ts";
import { type Ctx, create, keyOf } from "./rest.ts";

export const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

async function ensure(ctx: Ctx, group: string, plural: string, namespace: string, obj: object) {
  const s = strategyFor(group, plural);
  if (!s) throw new Error(`no strategy for ${plural}`);
  const name = (obj as { metadata: { name: string } }).metadata.name;
  if (await getObject(ctx.db, keyOf(s, namespace, name))) return;
  try {
    await create(ctx, s, namespace, obj);
  } catch (err) {
    if (!(err instanceof ApiError && err.reason === "AlreadyExists")) throw err;
  }
}

export async function bootstrap(
  ctx: Ctx,
  env: Env,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<void> {
  // The periodic resync sweep that backs every controller's edge-triggered pokes.
  waitUntil(env.RESYNC.getByName("resync").start());
  for (const name of SYSTEM_NAMESPACES)
    await ensure(ctx, "", "namespaces", "", { metadata: { name } });
  await ensure(ctx, "", "services", "default", {
    metadata: {
      name: "kubernetes",
      labels: { component: "apiserver", provider: "kubernetes" },
    },
    spec: {
      type: "ClusterIP",
      clusterIP: kubernetesServiceIp(env),
      // The control plane serves HTTPS on 443: the endpoint (API_SERVER_ADDRESS) listens there.
      ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: 443 }],
      sessionAffinity: "None",
    },
  });
  // The cluster DNS Service, as k3s has it. Each host's agent answers its address itself, so it
  // selects no pods. An address taken before this existed stays with its Service.
  await ensure(ctx, "", "services", "kube-system", {
    metadata: {
      name: "kube-dns",
      labels: { "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS" },
    },
    spec: {
      type: "ClusterIP",
      clusterIP: clusterDnsIp(env),
      ports: [
        { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
        { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
      ],
    },
  }).catch((err) => console.warn(`kube-dns Service not created: ${(err as Error).message}`));
  // Created when missing, never overwritten: an administrator's edits to them stay.
  await Promise.all([
    ...DEFAULT_CLUSTER_ROLES.map((r) => ensure(ctx, RBAC_GROUP, "clusterroles", "", r)),
    ...DEFAULT_CLUSTER_ROLE_BINDINGS.map((b) =>
      ensure(ctx, RBAC_GROUP, "clusterrolebindings", "", b),
    ),
  ]);
}
