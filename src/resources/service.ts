// Services: SetDefaults_Service, the IP-family defaults of the Service REST storage,
// pkg/registry/core/service/strategy.go (patchAllocatedValues, NormalizeClusterIPs,
// dropTypeDependentFields), ValidateService / ValidateServiceUpdate and kubectl's printService.
// ClusterIPs and NodePorts are allocated in allocate.ts, after validation.
import {
  duplicate,
  type FieldError,
  forbidden,
  invalid,
  isDNS1035Label,
  isQualifiedName,
  notSupported,
  required,
  validateLabels,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { jsonEqual } from "./diff.ts";
import { findInfo } from "./find.ts";
import { isIP, parseIPv4, validateIP, validateNonSpecialIP } from "./netaddr.ts";
import {
  dnsLabelErrors,
  dnsSubdomainErrors,
  objects,
  portNumErrors,
  validatePortNumOrName,
} from "./podspec.ts";
import { ageColumn, column, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);
const specOf = (o: KObject): KObject => (isObject(o.spec) ? o.spec : {});

const serviceTypes = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const protocols = ["SCTP", "TCP", "UDP"];
const trafficPolicies = ["Cluster", "Local"];
const ipFamilies = ["IPv4", "IPv6"];
const ipFamilyPolicies = ["PreferDualStack", "RequireDualStack", "SingleStack"];
const MAX_AFFINITY_SECONDS = 86400;

const typeOf = (spec: KObject): string => spec.type || "ClusterIP";
const needsClusterIP = (spec: KObject) => typeOf(spec) !== "ExternalName";
const needsNodePort = (spec: KObject) =>
  typeOf(spec) === "NodePort" ||
  (typeOf(spec) === "LoadBalancer" && spec.allocateLoadBalancerNodePorts !== false);
/** service.ExternallyAccessible. */
const externallyAccessible = (spec: KObject) =>
  typeOf(spec) === "LoadBalancer" ||
  typeOf(spec) === "NodePort" ||
  (typeOf(spec) === "ClusterIP" && Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);
const isHeadless = (spec: KObject) =>
  Array.isArray(spec.clusterIPs) && spec.clusterIPs.length === 1 && spec.clusterIPs[0] === "None";

function defaultService(o: KObject): void {
  if (!isObject(o.spec)) o.spec = {};
  const spec = o.spec;
  spec.sessionAffinity ||= "None";
  if (spec.sessionAffinity === "None") delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === "ClientIP" && !spec.sessionAffinityConfig?.clientIP?.timeoutSeconds)
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
  spec.type ||= "ClusterIP";
  for (const p of objects(spec.ports)) {
    p.protocol ||= "TCP";
    if (
      p.targetPort === undefined ||
      p.targetPort === null ||
      p.targetPort === 0 ||
      p.targetPort === ""
    )
      p.targetPort = p.port;
  }
  if (externallyAccessible(spec)) spec.externalTrafficPolicy ||= "Cluster";
  if (["ClusterIP", "NodePort", "LoadBalancer"].includes(spec.type))
    spec.internalTrafficPolicy ??= "Cluster";
  if (spec.type === "LoadBalancer") spec.allocateLoadBalancerNodePorts ??= true;
  // An old client sets clusterIP alone: clusterIPs follows it.
  if (spec.clusterIP && !spec.clusterIPs?.length) spec.clusterIPs = [spec.clusterIP];
  if (!needsClusterIP(spec)) return;
  // This cluster is single-stack IPv4 (initIPFamilyFields).
  if (!spec.ipFamilies?.length) spec.ipFamilies = ["IPv4"];
  if (!spec.ipFamilyPolicy)
    spec.ipFamilyPolicy =
      spec.clusterIP === "None" && !Object.keys(spec.selector ?? {}).length
        ? "RequireDualStack"
        : "SingleStack";
}

/** patchAllocatedValues, NormalizeClusterIPs and dropTypeDependentFields. */
function prepareForUpdate(o: KObject, old: KObject): void {
  const spec = specOf(o);
  const prev = specOf(old);
  if (needsClusterIP(prev) && needsClusterIP(spec)) {
    if (!spec.clusterIP && prev.clusterIP) spec.clusterIP = prev.clusterIP;
    if (!spec.clusterIPs?.length && prev.clusterIPs?.length) spec.clusterIPs = prev.clusterIPs;
  }
  if (needsNodePort(prev) && needsNodePort(spec)) {
    const used = new Set(
      objects(spec.ports)
        .map((p) => p.nodePort)
        .filter(Boolean),
    );
    const byName = new Map(objects(prev.ports).map((p) => [p.name ?? "", p.nodePort]));
    for (const p of objects(spec.ports)) {
      const had = byName.get(p.name ?? "");
      if (!p.nodePort && had && !used.has(had)) p.nodePort = had;
    }
  }
  const sameClusterIPs = jsonEqual(spec.clusterIPs, prev.clusterIPs);
  if (prev.clusterIP !== spec.clusterIP) {
    if (prev.clusterIP && !spec.clusterIP && sameClusterIPs) delete spec.clusterIPs;
    if (sameClusterIPs && spec.clusterIP) spec.clusterIPs = [spec.clusterIP];
  }
  if (needsClusterIP(prev) && !needsClusterIP(spec)) {
    if (jsonEqual(spec.clusterIPs, prev.clusterIPs)) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (jsonEqual(spec.ipFamilies, prev.ipFamilies)) delete spec.ipFamilies;
    if (spec.ipFamilyPolicy === prev.ipFamilyPolicy) delete spec.ipFamilyPolicy;
  }
  const samePorts = jsonEqual(
    objects(spec.ports).map((p) => p.nodePort),
    objects(prev.ports).map((p) => p.nodePort),
  );
  if (needsNodePort(prev) && !needsNodePort(spec) && samePorts)
    for (const p of objects(spec.ports)) delete p.nodePort;
  if (typeOf(prev) === "LoadBalancer" && typeOf(spec) !== "LoadBalancer") {
    if (spec.allocateLoadBalancerNodePorts === prev.allocateLoadBalancerNodePorts)
      delete spec.allocateLoadBalancerNodePorts;
    if (spec.loadBalancerClass === prev.loadBalancerClass) delete spec.loadBalancerClass;
    o.status = { ...o.status, loadBalancer: {} };
  }
  if (externallyAccessible(prev) && !externallyAccessible(spec))
    if (spec.externalTrafficPolicy === prev.externalTrafficPolicy)
      delete spec.externalTrafficPolicy;
}

// ---------------------------------------------------------------------------
// Validation

function validatePort(
  p: KObject,
  requireName: boolean,
  names: Set<string>,
  path: string,
): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !p.name) errs.push(required(`${path}.name`));
  else if (p.name) {
    errs.push(...dnsLabelErrors(`${path}.name`, p.name));
    if (names.has(p.name)) errs.push(duplicate(`${path}.name`, p.name));
    else names.add(p.name);
  }
  for (const m of portNumErrors(p.port)) errs.push(invalid(`${path}.port`, p.port ?? 0, m));
  if (!p.protocol) errs.push(required(`${path}.protocol`));
  else if (!protocols.includes(p.protocol))
    errs.push(notSupported(`${path}.protocol`, p.protocol, protocols));
  errs.push(...validatePortNumOrName(p.targetPort, `${path}.targetPort`));
  if (typeof p.appProtocol === "string")
    for (const m of isQualifiedName(p.appProtocol))
      errs.push(invalid(`${path}.appProtocol`, p.appProtocol, m));
  return errs;
}

/** ValidateServiceClusterIPsRelatedFields, for this single-stack IPv4 cluster. */
function validateClusterIPs(spec: KObject): FieldError[] {
  const errs: FieldError[] = [];
  if (!needsClusterIP(spec)) return errs;
  const ips: unknown[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
  if (ips.length && spec.clusterIP !== ips[0])
    errs.push(invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"));
  for (const [i, ip] of ips.entries()) {
    if (ip === "None") {
      if (i > 0 || ips.length > 1)
        errs.push(invalid(`spec.clusterIPs[${i}]`, ip, "'None' must be the first and only value"));
      continue;
    }
    errs.push(...validateIP(`spec.clusterIPs[${i}]`, ip));
    if (isIP(ip) && !parseIPv4(ip))
      errs.push(
        invalid(
          `spec.clusterIPs[${i}]`,
          ip,
          "expected an IPv4 value as indicated by `ipFamilies[0]`",
        ),
      );
  }
  if (ips.length > 1 && ips[0] !== "None")
    errs.push(
      invalid(
        "spec.clusterIPs",
        ips,
        "may only hold one value when `ipFamilyPolicy` is set to 'SingleStack'",
      ),
    );
  const families: unknown[] = Array.isArray(spec.ipFamilies) ? spec.ipFamilies : [];
  for (const [i, f] of families.entries()) {
    if (!ipFamilies.includes(String(f)))
      errs.push(notSupported(`spec.ipFamilies[${i}]`, f, ipFamilies));
    else if (f !== "IPv4")
      errs.push(invalid(`spec.ipFamilies[${i}]`, f, "not configured on this cluster"));
  }
  const policy = spec.ipFamilyPolicy;
  if (policy !== undefined && policy !== null) {
    if (!ipFamilyPolicies.includes(policy))
      errs.push(notSupported("spec.ipFamilyPolicy", policy, ipFamilyPolicies));
    else if (
      policy === "RequireDualStack" &&
      !(spec.clusterIP === "None" && !Object.keys(spec.selector ?? {}).length)
    )
      errs.push(
        invalid(
          "spec.ipFamilyPolicy",
          policy,
          "this cluster is not configured for dual-stack services",
        ),
      );
  }
  return errs;
}

function validateService(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const name = o.metadata?.name;
  // Service names are DNS-1035 labels (the pipeline only checks the weaker path-segment rule).
  if (typeof name === "string")
    for (const m of isDNS1035Label(name)) errs.push(invalid("metadata.name", name, m));
  const spec = specOf(o);
  const type = spec.type;
  const ports = objects(spec.ports);
  if (ports.length === 0 && !isHeadless(spec) && type !== "ExternalName")
    errs.push(required("spec.ports"));
  if ((type === "LoadBalancer" || type === "NodePort") && isHeadless(spec))
    errs.push(
      invalid("spec.clusterIPs[0]", "None", `may not be set to 'None' for ${type} services`),
    );
  if (type === "ExternalName") {
    if (spec.clusterIPs?.length)
      errs.push(forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
    if (spec.ipFamilies?.length)
      errs.push(forbidden("spec.ipFamilies", "may not be set for ExternalName services"));
    if (spec.ipFamilyPolicy)
      errs.push(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"));
    const cname = String(spec.externalName ?? "").replace(/\.$/, "");
    if (cname) errs.push(...dnsSubdomainErrors("spec.externalName", cname));
    else errs.push(required("spec.externalName"));
  }
  const names = new Set<string>();
  for (const [i, p] of ports.entries())
    errs.push(...validatePort(p, ports.length > 1, names, `spec.ports[${i}]`));
  if (spec.selector) errs.push(...validateLabels(spec.selector, "spec.selector"));
  if (!spec.sessionAffinity) errs.push(required("spec.sessionAffinity"));
  else if (!["ClientIP", "None"].includes(spec.sessionAffinity))
    errs.push(notSupported("spec.sessionAffinity", spec.sessionAffinity, ["ClientIP", "None"]));
  if (spec.sessionAffinity === "ClientIP") {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (typeof t === "number" && (t <= 0 || t > MAX_AFFINITY_SECONDS))
      errs.push(
        invalid(
          "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
          t,
          `must be greater than 0 and less than ${MAX_AFFINITY_SECONDS}`,
        ),
      );
  } else if (spec.sessionAffinity === "None" && spec.sessionAffinityConfig)
    errs.push(
      forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"),
    );
  errs.push(...validateClusterIPs(spec));
  for (const [i, ip] of (Array.isArray(spec.externalIPs) ? spec.externalIPs : []).entries()) {
    const at = `spec.externalIPs[${i}]`;
    const bad = validateIP(at, ip);
    errs.push(...(bad.length ? bad : validateNonSpecialIP(at, ip)));
  }
  if (!type) errs.push(required("spec.type"));
  else if (!serviceTypes.includes(type)) errs.push(notSupported("spec.type", type, serviceTypes));
  if (type === "ClusterIP")
    for (const [i, p] of ports.entries())
      if (p.nodePort)
        errs.push(
          forbidden(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"),
        );
  const nodePorts = new Set<string>();
  const servicePorts = new Set<string>();
  for (const [i, p] of ports.entries()) {
    if (p.nodePort) {
      const key = `${p.protocol}/${p.nodePort}`;
      if (nodePorts.has(key)) errs.push(duplicate(`spec.ports[${i}].nodePort`, p.nodePort));
      nodePorts.add(key);
    }
    const key = `${p.protocol}/${p.port}`;
    // Kubernetes reports the (protocol, port) key as an internal ServicePort value.
    if (servicePorts.has(key))
      errs.push(
        duplicate(`spec.ports[${i}]`, {
          Name: "",
          Protocol: p.protocol ?? "",
          AppProtocol: null,
          Port: p.port ?? 0,
          TargetPort: 0,
          NodePort: 0,
        }),
      );
    servicePorts.add(key);
  }
  if (spec.loadBalancerSourceRanges?.length && type !== "LoadBalancer")
    errs.push(
      forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"),
    );
  if (
    spec.allocateLoadBalancerNodePorts !== undefined &&
    spec.allocateLoadBalancerNodePorts !== null &&
    type !== "LoadBalancer"
  )
    errs.push(
      forbidden(
        "spec.allocateLoadBalancerNodePorts",
        "may only be used when `type` is 'LoadBalancer'",
      ),
    );
  if (
    type === "LoadBalancer" &&
    (spec.allocateLoadBalancerNodePorts === undefined ||
      spec.allocateLoadBalancerNodePorts === null)
  )
    errs.push(required("allocateLoadBalancerNodePorts"));
  const etp = spec.externalTrafficPolicy;
  if (!externallyAccessible(spec)) {
    if (etp)
      errs.push(
        invalid(
          "spec.externalTrafficPolicy",
          etp,
          "may only be set for externally-accessible services",
        ),
      );
  } else if (!etp) errs.push(required("spec.externalTrafficPolicy"));
  else if (!trafficPolicies.includes(etp))
    errs.push(notSupported("spec.externalTrafficPolicy", etp, trafficPolicies));
  const itp = spec.internalTrafficPolicy;
  if (
    (itp === undefined || itp === null) &&
    ["NodePort", "LoadBalancer", "ClusterIP"].includes(type)
  )
    errs.push(required("spec.internalTrafficPolicy"));
  if (itp !== undefined && itp !== null && !trafficPolicies.includes(itp))
    errs.push(notSupported("spec.internalTrafficPolicy", itp, trafficPolicies));
  return errs;
}

/** validateUpgradeDowngradeClusterIPs and the primary IP family: neither changes once set. */
function validateServiceUpdate(o: KObject, old: KObject): FieldError[] {
  const spec = specOf(o);
  const prev = specOf(old);
  if (!needsClusterIP(spec) || !needsClusterIP(prev)) return [];
  if (isHeadless(spec) && isHeadless(prev)) return [];
  const errs: FieldError[] = [];
  const before: unknown[] = Array.isArray(prev.clusterIPs) ? prev.clusterIPs : [];
  const after: unknown[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
  if (before.length === after.length) {
    before.forEach((ip, i) => {
      if (ip !== after[i])
        errs.push(invalid(`spec.clusterIPs[${i}]`, after, "may not change once set"));
    });
  } else if (before.length > after.length) {
    if (after.length === 0)
      errs.push(invalid("spec.clusterIPs[0]", after, "primary clusterIP can not be unset"));
    else if (after[0] !== before[0])
      errs.push(invalid("spec.clusterIPs[0]", after, "may not change once set"));
  }
  const famBefore: unknown[] = Array.isArray(prev.ipFamilies) ? prev.ipFamilies : [];
  const famAfter: unknown[] = Array.isArray(spec.ipFamilies) ? spec.ipFamilies : [];
  if (famBefore.length && famAfter.length && famBefore[0] !== famAfter[0])
    errs.push(invalid("spec.ipFamilies[0]", famAfter[0], "may not change once set"));
  return errs;
}

// ---------------------------------------------------------------------------
// Table (printService)

/** loadBalancerStatusStringer: ingress IPs or hostnames; shortened unless wide (always wide here). */
const loadBalancerIPs = (o: KObject): string[] =>
  objects(o.status?.loadBalancer?.ingress)
    .map((i) => i.ip || i.hostname)
    .filter(Boolean);

function externalIP(o: KObject): string {
  const spec = specOf(o);
  const external: string[] = Array.isArray(spec.externalIPs) ? spec.externalIPs : [];
  switch (spec.type) {
    case "ClusterIP":
    case "NodePort":
      return external.length ? external.join(",") : "<none>";
    case "LoadBalancer": {
      const all = [...loadBalancerIPs(o), ...external];
      return all.length ? all.join(",") : "<pending>";
    }
    case "ExternalName":
      return spec.externalName ?? "";
    default:
      return "<unknown>";
  }
}

function portsString(o: KObject): string {
  const text = objects(specOf(o).ports)
    .map((p) =>
      p.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`,
    )
    .join(",");
  return text || "<none>";
}

/** labels.FormatLabels: sorted key=value pairs, or <none>. */
export function formatLabels(m: unknown): string {
  const entries = Object.entries(isObject(m) ? m : {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(",") : "<none>";
}

export const services = defineStrategy(findInfo("", "services"), {
  generation: false,
  // DNS-1035 is checked in validate; path-segment keeps the generic check out of its way.
  nameRule: "path-segment",
  defaults: defaultService,
  prepareForCreate(o) {
    o.status = { loadBalancer: {} };
  },
  prepareForUpdate,
  validate: validateService,
  validateUpdate: validateServiceUpdate,
  columns: [
    nameColumn,
    column("Type", (o) => specOf(o).type ?? "", { description: "The type of service." }),
    column("Cluster-IP", (o) => specOf(o).clusterIPs?.[0] ?? "<none>", {
      description: "The cluster IP of the service.",
    }),
    column("External-IP", externalIP, { description: "The external IP of the service." }),
    column("Port(s)", portsString, { description: "The ports exposed by the service." }),
    ageColumn,
    wide("Selector", (o) => formatLabels(specOf(o).selector)),
  ],
});
