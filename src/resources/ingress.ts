// networking.k8s.io/v1 Ingress: pkg/apis/networking/validation (ValidateIngressCreate,
// ValidateIngressSpec, ValidateIngressLoadBalancerStatus), ingress/strategy.go, printIngress.
import {
  type FieldError,
  invalid,
  isDNS1035Label,
  isDNS1123Subdomain,
  notSupported,
  required,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { isIP } from "./netaddr.ts";
import { wildcardSubdomainErrors } from "./netcheck.ts";
import { portNameErrors, portNumErrors } from "./podspec.ts";
import { ageColumn, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";
import { stringColumn } from "./workload.ts";

/** The annotation older clients use instead of spec.ingressClassName. */
export const INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class";

const pathTypes = ["Exact", "ImplementationSpecific", "Prefix"];
const invalidPathSequences = ["//", "/./", "/../", "%2f", "%2F"];
const invalidPathSuffixes = ["/..", "/."];

/** validateIngressBackend. */
function validateBackend(b: KObject, path: string): FieldError[] {
  if (b.resource && b.service)
    return [invalid(path, "", "cannot set both resource and service backends")];
  if (b.resource) {
    const r = b.resource;
    const errs: FieldError[] = [];
    if (r.apiGroup != null)
      for (const msg of isDNS1123Subdomain(r.apiGroup))
        errs.push(invalid(`${path}.resource.apiGroup`, r.apiGroup, msg));
    for (const f of ["kind", "name"]) {
      const v = r[f] ?? "";
      if (v === "") errs.push(required(`${path}.resource.${f}`, `${f} is required`));
      else if (v === "." || v === ".." || /[/%]/.test(v))
        errs.push(
          invalid(
            `${path}.resource.${f}`,
            v,
            "may not be '.' or '..' and may not contain '/' or '%'",
          ),
        );
    }
    return errs;
  }
  if (!b.service) return [invalid(path, "", "resource or service backend is required")];
  const errs: FieldError[] = [];
  const name = b.service.name ?? "";
  if (name === "") errs.push(required(`${path}.service.name`));
  else
    for (const msg of isDNS1035Label(name)) errs.push(invalid(`${path}.service.name`, name, msg));
  const portName = b.service.port?.name ?? "";
  const portNumber = b.service.port?.number ?? 0;
  if (portName !== "" && portNumber !== 0)
    errs.push(invalid(path, "", "cannot set both port name & port number"));
  else if (portName !== "")
    for (const msg of portNameErrors(portName))
      errs.push(invalid(`${path}.service.port.name`, portName, msg));
  else if (portNumber !== 0)
    for (const msg of portNumErrors(portNumber))
      errs.push(invalid(`${path}.service.port.number`, portNumber, msg));
  else errs.push(required(path, "port name or number is required"));
  return errs;
}

/** validateHTTPIngressPath: a pathType is required; Exact and Prefix paths are absolute and clean. */
function validatePath(p: KObject, path: string): FieldError[] {
  if (p.pathType == null) return [required(`${path}.pathType`, "pathType must be specified")];
  const errs: FieldError[] = [];
  const value: string = p.path ?? "";
  if (p.pathType === "Exact" || p.pathType === "Prefix") {
    if (!value.startsWith("/"))
      errs.push(invalid(`${path}.path`, value, "must be an absolute path"));
    if (value.length > 0) {
      for (const seq of invalidPathSequences)
        if (value.includes(seq))
          errs.push(invalid(`${path}.path`, value, `must not contain '${seq}'`));
      for (const suffix of invalidPathSuffixes)
        if (value.endsWith(suffix))
          errs.push(invalid(`${path}.path`, value, `cannot end with '${suffix}'`));
    }
  } else if (p.pathType === "ImplementationSpecific") {
    if (value.length > 0 && !value.startsWith("/"))
      errs.push(invalid(`${path}.path`, value, "must be an absolute path"));
  } else {
    errs.push(notSupported(`${path}.pathType`, p.pathType, pathTypes));
  }
  return [...errs, ...validateBackend(p.backend ?? {}, `${path}.backend`)];
}

function validateRules(rules: KObject[]): FieldError[] {
  const errs: FieldError[] = [];
  rules.forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    const host: string = rule.host ?? "";
    if (host !== "") {
      if (isIP(host))
        errs.push(invalid(`${at}.host`, host, "must be a DNS name, not an IP address"));
      const msgs = host.includes("*") ? wildcardSubdomainErrors(host) : isDNS1123Subdomain(host);
      for (const msg of msgs) errs.push(invalid(`${at}.host`, host, msg));
    }
    if (rule.http) {
      const paths: KObject[] = rule.http.paths ?? [];
      if (paths.length === 0) errs.push(required(`${at}.http.paths`));
      paths.forEach((p, j) => {
        errs.push(...validatePath(p, `${at}.http.paths[${j}]`));
      });
    }
  });
  return errs;
}

function validateTLS(tls: KObject[]): FieldError[] {
  const errs: FieldError[] = [];
  tls.forEach((t, i) => {
    (t.hosts ?? []).forEach((host: string, j: number) => {
      const msgs = host.includes("*") ? wildcardSubdomainErrors(host) : isDNS1123Subdomain(host);
      for (const msg of msgs) errs.push(invalid(`spec.tls[${i}].hosts[${j}]`, host, msg));
    });
    const secret = t.secretName ?? "";
    if (secret !== "")
      for (const msg of isDNS1123Subdomain(secret))
        errs.push(invalid(`spec.tls[${i}].secretName`, secret, msg));
  });
  return errs;
}

/** ValidateIngressLoadBalancerStatus. */
function validateStatus(status: KObject | undefined): FieldError[] {
  const errs: FieldError[] = [];
  (status?.loadBalancer?.ingress ?? []).forEach((ing: KObject, i: number) => {
    const at = `status.loadBalancer.ingress[${i}]`;
    if (ing.ip && !isIP(ing.ip))
      errs.push(
        invalid(
          `${at}.ip`,
          ing.ip,
          "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ),
      );
    if (ing.hostname) {
      for (const msg of isDNS1123Subdomain(ing.hostname))
        errs.push(invalid(`${at}.hostname`, ing.hostname, msg));
      if (isIP(ing.hostname))
        errs.push(invalid(`${at}.hostname`, ing.hostname, "must be a DNS name, not an IP address"));
    }
  });
  return errs;
}

/** ValidateIngressSpec, plus the class annotation check of ValidateIngressCreate. */
function validate(o: KObject, old?: KObject): FieldError[] {
  const spec = o.spec ?? {};
  const rules: KObject[] = spec.rules ?? [];
  const errs: FieldError[] = [];
  if (rules.length === 0 && !spec.defaultBackend)
    errs.push(
      invalid("spec", spec.rules ?? null, "either `defaultBackend` or `rules` must be specified"),
    );
  if (spec.defaultBackend)
    errs.push(...validateBackend(spec.defaultBackend, "spec.defaultBackend"));
  errs.push(...validateRules(rules), ...validateTLS(spec.tls ?? []));
  if (spec.ingressClassName != null)
    for (const msg of isDNS1123Subdomain(spec.ingressClassName))
      errs.push(invalid("spec.ingressClassName", spec.ingressClassName, msg));
  const annotation = o.metadata?.annotations?.[INGRESS_CLASS_ANNOTATION];
  if (
    old === undefined &&
    annotation !== undefined &&
    spec.ingressClassName != null &&
    annotation !== spec.ingressClassName
  )
    errs.push(
      invalid(
        `annotations.${INGRESS_CLASS_ANNOTATION}`,
        annotation,
        "must match `ingressClassName` when both are specified",
      ),
    );
  return [...errs, ...validateStatus(o.status)];
}

/** formatHosts: up to three hosts, "*" when none. */
function hosts(o: KObject): string {
  const rules: KObject[] = o.spec?.rules ?? [];
  const list: string[] = [];
  let more = false;
  for (const r of rules) {
    if (list.length === 3) more = true;
    if (!more && r.host) list.push(r.host);
  }
  if (list.length === 0) return "*";
  return more ? `${list.join(",")} + ${rules.length - 3} more...` : list.join(",");
}

/** ingressLoadBalancerStatusStringer (wide: the server never clips). */
function address(o: KObject): string {
  const set = new Set<string>();
  for (const ing of o.status?.loadBalancer?.ingress ?? []) {
    if (ing.ip) set.add(ing.ip);
    else if (ing.hostname) set.add(ing.hostname);
  }
  return [...set].sort().join(",");
}

export const ingresses = defineStrategy(findInfo("networking.k8s.io", "ingresses"), {
  validate,
  columns: [
    nameColumn,
    stringColumn(
      "Class",
      "The name of the IngressClass resource that should be used for additional configuration",
      (o) => o.spec?.ingressClassName ?? "<none>",
    ),
    stringColumn(
      "Hosts",
      "Hosts that incoming requests are matched against before the ingress rule",
      hosts,
    ),
    stringColumn(
      "Address",
      "Address is a list containing ingress points for the load-balancer",
      address,
    ),
    stringColumn("Ports", "Ports of TLS configurations that open", (o) =>
      (o.spec?.tls ?? []).length ? "80, 443" : "80",
    ),
    ageColumn,
  ],
});
