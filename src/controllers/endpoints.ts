// The endpoints and EndpointSlice controllers (Kubernetes' pkg/controller/endpoint and
// pkg/controller/endpointslice) in one Durable Object per namespace: for every Service with a
// selector, an Endpoints object of the same name and EndpointSlices listing the pods it selects,
// each written only when it differs from what is stored. The same pass mirrors hand-written
// Endpoints into slices (endpointslice-mirroring.ts) and, in default, keeps the `kubernetes`
// Service's own endpoints (apiserver-endpoints.ts).
import { selectorFromSet } from "../k8s/labels.ts";
import { isControlledBy, newControllerRef } from "../k8s/owner-refs.ts";
import { jsonEqual } from "../resources/diff.ts";
import { type Ctx, create, remove, update } from "../resources/rest.ts";
import type { Key, KObject } from "../store/objects.ts";
import { API_SERVICE, apiServerAddress, syncApiServerEndpoints } from "./apiserver-endpoints.ts";
import {
  type Budget,
  ENDPOINTS_CONTROLLER,
  ENDPOINTS_MANAGED_BY,
  endpointsStrategy,
  entry,
  ignoreSettled,
  listIn,
  SERVICE_NAME,
  SLICE_CONTROLLER,
  SLICE_MANAGED_BY,
  settled,
  slicesByService,
  slicesStrategy,
  spend,
} from "./endpoints-shared.ts";
import { mirrorEndpoints } from "./endpointslice-mirroring.ts";
import { type Involved, recordEvent } from "./events.ts";
import { isPodReady, isTerminal } from "./pod-state.ts";
import { type Next, Reconciler, soon } from "./reconciler.ts";

/** v1.IsHeadlessService, on the Endpoints and slices of a Service without a cluster IP. */
const HEADLESS = "service.kubernetes.io/headless";
/** v1.EndpointsOverCapacity: set when an Endpoints object had to be cut to MAX_ADDRESSES. */
const OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity";

/** The endpoint controller's maxCapacity and the slice controller's --max-endpoints-per-slice. */
const MAX_ADDRESSES = 1000;
const MAX_PER_SLICE = 100;
/** Writes one pass may make; the rest follow in the next pass. */
const WRITE_BUDGET = 50;
const MORE_MS = 50;
const RETRY_MS = 1000;

// ---------------------------------------------------------------------------
// Pods as endpoints (pkg/api/v1/pod, endpointslice/util)

const isIPv4 = (ip: unknown): ip is string =>
  typeof ip === "string" && /^\d{1,3}(\.\d{1,3}){3}$/.test(ip);

/** The pod's IPv4 address: this cluster is single-stack IPv4. */
function podIP(pod: KObject): string | undefined {
  for (const p of pod.status?.podIPs ?? []) if (isIPv4(p?.ip)) return p.ip;
  return isIPv4(pod.status?.podIP) ? pod.status.podIP : undefined;
}

/** ShouldPodBeInEndpoints: not finished, has an address, and (unless tolerated) not going. */
const inEndpoints = (pod: KObject, includeTerminating: boolean) =>
  !isTerminal(pod) && !!podIP(pod) && (includeTerminating || !pod.metadata.deletionTimestamp);

/** ShouldSetHostname: a pod names the Service as its subdomain to get a DNS name under it. */
const hostnameFor = (pod: KObject, svc: KObject): string | undefined =>
  pod.spec?.hostname && pod.spec?.subdomain === svc.metadata.name ? pod.spec.hostname : undefined;

/** podutil.FindPort: a numeric targetPort as is, a named one from the pod's container ports. */
function findPort(pod: KObject, sp: KObject): number | undefined {
  const target = sp.targetPort ?? sp.port;
  if (typeof target === "number") return target;
  const protocol = sp.protocol ?? "TCP";
  const containers = [
    ...(pod.spec?.containers ?? []),
    // Sidecars (restartable init containers) serve too.
    ...(pod.spec?.initContainers ?? []).filter((c: KObject) => c.restartPolicy === "Always"),
  ];
  for (const c of containers)
    for (const p of c.ports ?? [])
      if (p.name === target && (p.protocol ?? "TCP") === protocol) return p.containerPort;
  return undefined;
}

const targetRef = (pod: KObject) => ({
  kind: "Pod",
  namespace: pod.metadata.namespace,
  name: pod.metadata.name,
  uid: pod.metadata.uid,
});

const isHeadless = (svc: KObject) => !svc.spec?.clusterIP || svc.spec.clusterIP === "None";

/** Services this controller fills: a selector, and not ExternalName. */
const selected = (svc: KObject) =>
  svc.spec?.type !== "ExternalName" && Object.keys(svc.spec?.selector ?? {}).length > 0;

// ---------------------------------------------------------------------------
// Endpoints (endpoints_controller.go syncService, RepackSubsets)

interface Entry {
  address: KObject;
  ready: boolean;
  port?: KObject;
}

function endpointPort(sp: KObject, port: number): KObject {
  const p: KObject = {};
  if (sp.name) p.name = sp.name;
  p.port = port;
  p.protocol = sp.protocol ?? "TCP";
  if (sp.appProtocol) p.appProtocol = sp.appProtocol;
  return p;
}

function endpointEntries(svc: KObject, pods: KObject[]): Entry[] {
  const publish = !!svc.spec.publishNotReadyAddresses;
  const ports: KObject[] = svc.spec.ports ?? [];
  const out: Entry[] = [];
  for (const pod of pods) {
    if (!inEndpoints(pod, publish)) continue;
    const address: KObject = { ip: podIP(pod) };
    const hostname = hostnameFor(pod, svc);
    if (hostname) address.hostname = hostname;
    if (pod.spec?.nodeName) address.nodeName = pod.spec.nodeName;
    address.targetRef = targetRef(pod);
    const ready = publish || isPodReady(pod);
    // A headless Service may have no ports: its pods are listed all the same.
    if (ports.length === 0) {
      if (isHeadless(svc)) out.push({ address, ready });
      continue;
    }
    for (const sp of ports) {
      const n = findPort(pod, sp);
      if (n !== undefined) out.push({ address, ready, port: endpointPort(sp, n) });
    }
  }
  return out;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const addressKey = (a: KObject) => `${a.ip}/${a.targetRef?.uid ?? ""}`;
/** LessEndpointAddress: by IP, then by the pod's uid. */
const byAddress = (a: KObject, b: KObject) =>
  cmp(a.ip, b.ip) || cmp(a.targetRef?.uid ?? "", b.targetRef?.uid ?? "");
const portKey = (p: KObject) => `${p.name ?? ""}/${p.port}/${p.protocol}/${p.appProtocol ?? ""}`;

/**
 * RepackSubsets: one subset per set of addresses that offer the same ports, so pods whose named
 * target ports resolve alike share a subset.
 */
function repack(entries: Entry[]): KObject[] {
  // Each port (or none) → the addresses offering it, with their readiness.
  const byPort = new Map<string, { port?: KObject; addrs: Map<string, Entry> }>();
  for (const e of entries) {
    const pk = e.port ? portKey(e.port) : "";
    const group = entry(byPort, pk, () => ({ port: e.port, addrs: new Map<string, Entry>() }));
    const ak = addressKey(e.address);
    const seen = group.addrs.get(ak);
    if (!seen?.ready) group.addrs.set(ak, e);
  }
  // Ports offered by the very same addresses go together.
  const bySet = new Map<string, { addrs: Entry[]; ports: KObject[] }>();
  for (const { port, addrs } of byPort.values()) {
    const list = [...addrs.values()];
    const key = list
      .map((e) => `${addressKey(e.address)}:${e.ready}`)
      .sort()
      .join(",");
    const s = entry(bySet, key, () => ({ addrs: list, ports: [] as KObject[] }));
    if (port) s.ports.push(port);
  }
  const subsets = [...bySet.values()].map(({ addrs, ports }) => {
    const ss: KObject = {};
    const ready = addrs.filter((e) => e.ready).map((e) => e.address);
    const notReady = addrs.filter((e) => !e.ready).map((e) => e.address);
    if (ready.length) ss.addresses = ready.sort(byAddress);
    if (notReady.length) ss.notReadyAddresses = notReady.sort(byAddress);
    if (ports.length) ss.ports = ports.sort((a, b) => cmp(portKey(a), portKey(b)));
    return ss;
  });
  const first = (ss: KObject) => addressKey((ss.addresses ?? ss.notReadyAddresses)[0]);
  return subsets.sort((a, b) => cmp(first(a), first(b)));
}

/** truncateEndpoints, simplified: ready addresses first, at most MAX_ADDRESSES in all. */
function truncate(subsets: KObject[]): { subsets: KObject[]; truncated: boolean } {
  const total = subsets.reduce(
    (n, ss) => n + (ss.addresses?.length ?? 0) + (ss.notReadyAddresses?.length ?? 0),
    0,
  );
  if (total <= MAX_ADDRESSES) return { subsets, truncated: false };
  let left = MAX_ADDRESSES;
  const take = (list: KObject[] | undefined): KObject[] => {
    const kept = (list ?? []).slice(0, left);
    left -= kept.length;
    return kept;
  };
  const ready = subsets.map((ss) => take(ss.addresses));
  const notReady = subsets.map((ss) => take(ss.notReadyAddresses));
  const out: KObject[] = [];
  subsets.forEach((ss, i) => {
    const o: KObject = {};
    if (ready[i]?.length) o.addresses = ready[i];
    if (notReady[i]?.length) o.notReadyAddresses = notReady[i];
    if (!o.addresses && !o.notReadyAddresses) return;
    if (ss.ports) o.ports = ss.ports;
    out.push(o);
  });
  return { subsets: out, truncated: true };
}

function endpointsLabels(svc: KObject): Record<string, string> {
  const labels: Record<string, string> = { ...svc.metadata.labels };
  if (isHeadless(svc)) labels[HEADLESS] = "";
  else delete labels[HEADLESS];
  labels[ENDPOINTS_MANAGED_BY] = ENDPOINTS_CONTROLLER;
  return labels;
}

function withAnnotation(current: Record<string, string> | undefined, truncated: boolean) {
  const a: Record<string, string> = { ...current };
  if (truncated) a[OVER_CAPACITY] = "truncated";
  else delete a[OVER_CAPACITY];
  return a;
}

async function syncEndpoints(
  ctx: Ctx,
  svc: KObject,
  pods: KObject[],
  current: KObject | undefined,
  budget: Budget,
): Promise<void> {
  const { subsets, truncated } = truncate(repack(endpointEntries(svc, pods)));
  const labels = endpointsLabels(svc);
  const annotations = withAnnotation(current?.metadata.annotations, truncated);
  const { namespace, name } = svc.metadata;
  if (!current) {
    if (!spend(budget)) return;
    const metadata: KObject = { name, namespace, labels };
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    const body: KObject = { metadata };
    if (subsets.length) body.subsets = subsets;
    await create(ctx, endpointsStrategy(), namespace, body);
    return;
  }
  if (
    jsonEqual(current.subsets, subsets) &&
    jsonEqual(current.metadata.labels, labels) &&
    jsonEqual(current.metadata.annotations, annotations)
  )
    return;
  if (!spend(budget)) return;
  await update(ctx, endpointsStrategy(), namespace, name, (o) => {
    o.metadata.labels = labels;
    o.metadata.annotations = withAnnotation(o.metadata.annotations, truncated);
    if (!Object.keys(o.metadata.annotations).length) delete o.metadata.annotations;
    if (subsets.length) o.subsets = subsets;
    else delete o.subsets;
    return o;
  });
}

// ---------------------------------------------------------------------------
// EndpointSlices (endpointslice reconciler.go, simplified: same grouping, same caps)

/** The slices' content for one set of ports. */
interface SliceGroup {
  ports: KObject[];
  /** Endpoints by pod uid, in the order new slices list them. */
  endpoints: Map<string, KObject>;
}

function slicePorts(svc: KObject, pod: KObject): KObject[] {
  const out: KObject[] = [];
  for (const sp of svc.spec.ports ?? []) {
    const n = findPort(pod, sp);
    if (n === undefined) continue;
    const p: KObject = { name: sp.name ?? "", port: n, protocol: sp.protocol ?? "TCP" };
    if (sp.appProtocol) p.appProtocol = sp.appProtocol;
    out.push(p);
  }
  return out;
}

/** NewPortMapKey: the same ports in any order are the same group. */
const portsKey = (ports: KObject[] | undefined) =>
  JSON.stringify(
    (ports ?? [])
      .map((p) => [p.name ?? "", p.port ?? null, p.protocol ?? "TCP", p.appProtocol ?? ""])
      .sort((a, b) => cmp(JSON.stringify(a), JSON.stringify(b))),
  );

/** podToEndpoint. */
function podEndpoint(svc: KObject, pod: KObject): KObject {
  const serving = isPodReady(pod);
  const terminating = !!pod.metadata.deletionTimestamp;
  // A terminating pod is never ready, unless the Service publishes not-ready addresses.
  const ready = !!svc.spec.publishNotReadyAddresses || (serving && !terminating);
  const ep: KObject = { addresses: [podIP(pod)], conditions: { ready, serving, terminating } };
  const hostname = hostnameFor(pod, svc);
  if (hostname) ep.hostname = hostname;
  ep.targetRef = targetRef(pod);
  if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
  return ep;
}

function desiredSlices(svc: KObject, pods: KObject[]): Map<string, SliceGroup> {
  const groups = new Map<string, SliceGroup>();
  const sorted = [...pods].sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  for (const pod of sorted) {
    // Terminating pods stay listed, marked terminating, until they are gone.
    if (!inEndpoints(pod, true)) continue;
    const ports = slicePorts(svc, pod);
    const key = portsKey(ports);
    const g = entry(groups, key, () => ({ ports, endpoints: new Map<string, KObject>() }));
    g.endpoints.set(pod.metadata.uid, podEndpoint(svc, pod));
  }
  return groups;
}

function sliceLabels(svc: KObject): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries<string>(svc.metadata.labels ?? {}))
    if (k !== SERVICE_NAME && k !== SLICE_MANAGED_BY) labels[k] = v;
  if (isHeadless(svc)) labels[HEADLESS] = "";
  else delete labels[HEADLESS];
  labels[SERVICE_NAME] = svc.metadata.name;
  labels[SLICE_MANAGED_BY] = SLICE_CONTROLLER;
  return labels;
}

const serviceRef = (svc: KObject) =>
  newControllerRef({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: svc.metadata.name, uid: svc.metadata.uid },
  });

/** A slice's content, everything the controller decides. */
interface SliceBody {
  ports: KObject[];
  endpoints: KObject[];
}

const endpointKey = (ep: KObject) => ep.targetRef?.uid ?? `ip:${ep.addresses?.[0]}`;

/** The writes that bring one Service's slices to what its pods say. */
interface SlicePlan {
  creates: SliceBody[];
  updates: { slice: KObject; body: SliceBody }[];
  deletes: KObject[];
}

function planSlices(svc: KObject, pods: KObject[], existing: KObject[]): SlicePlan {
  const plan: SlicePlan = { creates: [], updates: [], deletes: [] };
  const desired = desiredSlices(svc, pods);
  const byGroup = new Map<string, KObject[]>();
  for (const slice of existing) {
    // A slice left from an earlier Service of the same name, or of another address type, goes.
    if (!isControlledBy(slice, svc.metadata.uid) || slice.addressType !== "IPv4") {
      plan.deletes.push(slice);
      continue;
    }
    const key = portsKey(slice.ports);
    if (!desired.has(key)) plan.deletes.push(slice);
    else entry(byGroup, key, () => [] as KObject[]).push(slice);
  }
  for (const [key, group] of desired) {
    const remaining = new Map(group.endpoints);
    const changed: { slice: KObject; body: SliceBody }[] = [];
    const unchanged: { slice: KObject; body: SliceBody }[] = [];
    for (const slice of byGroup.get(key) ?? []) {
      const kept: KObject[] = [];
      let dirty = !jsonEqual(slice.ports, group.ports);
      for (const ep of slice.endpoints ?? []) {
        const k = endpointKey(ep);
        const want = remaining.get(k);
        if (!want) {
          dirty = true;
          continue;
        }
        remaining.delete(k);
        kept.push(want);
        if (!jsonEqual(ep, want)) dirty = true;
      }
      const body = { ports: group.ports, endpoints: kept };
      if (kept.length === 0) plan.deletes.push(slice);
      else (dirty ? changed : unchanged).push({ slice, body });
    }
    // New endpoints fill slices about to be written anyway, then ones with room, then new ones.
    const rest = [...remaining.values()];
    for (const u of [...changed, ...unchanged]) {
      if (!rest.length) break;
      const room = MAX_PER_SLICE - u.body.endpoints.length;
      if (room <= 0) continue;
      u.body.endpoints.push(...rest.splice(0, room));
      if (!changed.includes(u)) changed.push(u);
    }
    while (rest.length)
      plan.creates.push({ ports: group.ports, endpoints: rest.splice(0, MAX_PER_SLICE) });
    plan.updates.push(...changed, ...unchanged);
  }
  // A Service without endpoints keeps one empty placeholder slice.
  if (desired.size === 0) plan.creates.push({ ports: [], endpoints: [] });
  // Reuse slices that would go for slices that would come, rather than delete and create.
  for (let i = 0; i < plan.deletes.length && plan.creates.length; ) {
    const slice = plan.deletes[i];
    if (slice && isControlledBy(slice, svc.metadata.uid) && slice.addressType === "IPv4") {
      plan.updates.push({ slice, body: plan.creates.shift() as SliceBody });
      plan.deletes.splice(i, 1);
    } else i++;
  }
  return plan;
}

function sliceUpToDate(slice: KObject, svc: KObject, body: SliceBody): boolean {
  const refs = slice.metadata.ownerReferences ?? [];
  return (
    jsonEqual(slice.endpoints, body.endpoints) &&
    jsonEqual(slice.ports, body.ports) &&
    jsonEqual(slice.metadata.labels, sliceLabels(svc)) &&
    refs.length === 1 &&
    jsonEqual(refs[0], serviceRef(svc))
  );
}

async function syncSlices(
  ctx: Ctx,
  svc: KObject,
  pods: KObject[],
  existing: KObject[],
  budget: Budget,
): Promise<void> {
  const s = slicesStrategy();
  const { namespace, name } = svc.metadata;
  const plan = planSlices(svc, pods, existing);
  // Creates first, deletes last, so traffic never finds a gap (as the reconciler's finalize).
  for (const body of plan.creates) {
    if (!spend(budget)) return;
    await create(ctx, s, namespace, {
      metadata: {
        generateName: `${name}-`,
        namespace,
        labels: sliceLabels(svc),
        ownerReferences: [serviceRef(svc)],
      },
      addressType: "IPv4",
      endpoints: body.endpoints,
      ports: body.ports,
    });
  }
  for (const { slice, body } of plan.updates) {
    if (sliceUpToDate(slice, svc, body) || !spend(budget)) continue;
    await ignoreSettled(
      update(ctx, s, namespace, slice.metadata.name, (o) => {
        o.metadata.labels = sliceLabels(svc);
        o.metadata.ownerReferences = [serviceRef(svc)];
        o.endpoints = body.endpoints;
        o.ports = body.ports;
        return o;
      }),
    );
  }
  for (const slice of plan.deletes) {
    if (!spend(budget)) return;
    await ignoreSettled(remove(ctx, s, namespace, slice.metadata.name));
  }
}

// ---------------------------------------------------------------------------
// The controller

export class EndpointsController extends Reconciler {
  protected reconcile(ctx: Ctx, key: Key): Promise<Next> {
    return this.pass(ctx, key.namespace);
  }

  private async pass(ctx: Ctx, namespace: string): Promise<Next> {
    const [services, endpoints, slices] = await Promise.all([
      listIn(ctx, "services", namespace),
      listIn(ctx, "endpoints", namespace),
      listIn(ctx, "discovery.k8s.io/endpointslices", namespace),
    ]);
    // Every pod write in the namespace wakes this pass; without a selecting Service there is
    // nothing to read them for (a namespace of 10,000 pods and no Service is common in a batch).
    const live = services.filter((s) => selected(s) && !s.metadata.deletionTimestamp);
    const pods = live.length ? await listIn(ctx, "pods", namespace) : [];
    const budget: Budget = { left: WRITE_BUDGET, more: false };
    let failed = false;
    const endpointsByName = new Map(endpoints.map((e) => [e.metadata.name as string, e]));
    const ownSlices = slicesByService(slices, SLICE_CONTROLLER);
    for (const svc of live) {
      try {
        const selector = selectorFromSet(svc.spec.selector);
        const mine = pods.filter((p) => selector.matches(p.metadata.labels));
        await syncEndpoints(ctx, svc, mine, endpointsByName.get(svc.metadata.name), budget);
        await syncSlices(ctx, svc, mine, ownSlices.get(svc.metadata.name) ?? [], budget);
      } catch (err) {
        if (settled(err)) continue;
        failed = true;
        console.error(`endpoints ${namespace}/${svc.metadata.name}:`, err);
        await this.warn(ctx, svc, err);
      }
    }
    // Endpoints this controller wrote for a Service that is gone (slices go by their owner ref).
    const names = new Set(services.map((s) => s.metadata.name));
    for (const ep of endpoints) {
      const ours = ep.metadata.labels?.[ENDPOINTS_MANAGED_BY] === ENDPOINTS_CONTROLLER;
      if (!ours || names.has(ep.metadata.name) || !spend(budget)) continue;
      try {
        await ignoreSettled(remove(ctx, endpointsStrategy(), namespace, ep.metadata.name));
      } catch (err) {
        failed = true;
        console.error(`endpoints ${namespace}/${ep.metadata.name}:`, err);
      }
    }
    try {
      await mirrorEndpoints(ctx, namespace, services, endpoints, slices, budget);
      if (namespace === "default" && services.some((s) => s.metadata.name === API_SERVICE))
        await syncApiServerEndpoints(
          ctx,
          apiServerAddress(this.env.API_SERVER_ADDRESS),
          {
            endpoints: endpointsByName.get(API_SERVICE),
            slice: slices.find((s) => s.metadata.name === API_SERVICE),
          },
          budget,
        );
    } catch (err) {
      if (!settled(err)) {
        failed = true;
        console.error(`endpoints ${namespace}:`, err);
      }
    }
    if (failed) return soon(RETRY_MS);
    if (budget.more) return soon(MORE_MS);
    // Nothing left to watch over here: forget the namespace until the next poke.
    if (services.length === 0 && budget.left === WRITE_BUDGET) return "gone";
    return "resync";
  }

  private async warn(ctx: Ctx, svc: KObject, err: unknown): Promise<void> {
    try {
      await recordEvent(
        ctx,
        svc as Involved,
        "Warning",
        "FailedToUpdateEndpointSlices",
        `Error updating Endpoint Slices for Service ${svc.metadata.namespace}/${svc.metadata.name}: ${err instanceof Error ? err.message : String(err)}`,
        SLICE_CONTROLLER,
      );
    } catch (e) {
      console.warn("endpoints: event not recorded", e);
    }
  }
}
