// discovery.k8s.io/v1 EndpointSlice: SetDefaults_EndpointPort, pkg/apis/discovery/validation,
// endpointslice/strategy.go (generation), printEndpointSlice.
import {
  duplicate,
  type FieldError,
  invalid,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  notSupported,
  required,
  validateLabels,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { endpointIP, fullyQualifiedDomainName, validIPv4, validIPv6 } from "./netcheck.ts";
import { ageColumn, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";
import { semanticEqual, stringColumn } from "./workload.ts";

const addressTypes = ["FQDN", "IPv4", "IPv6"];
const protocols = ["SCTP", "TCP", "UDP"];
const maxEndpoints = 1000;
const maxAddresses = 100;
const maxPorts = 20000;
const maxTopologyLabels = 16;
const maxZoneHints = 8;

// validation.ts has no field.TooMany yet; this carries the same detail as an Invalid value.
const tooMany = (path: string, n: number, max: number) =>
  invalid(path, n, `must have at most ${max} items`);

function validateAddress(type: string, path: string, address: string): FieldError[] {
  if (type === "IPv4") return [...validIPv4(path, address), ...endpointIP(path, address)];
  if (type === "IPv6") return [...validIPv6(path, address), ...endpointIP(path, address)];
  if (type === "FQDN") return fullyQualifiedDomainName(path, address);
  return [];
}

function validateEndpoints(endpoints: KObject[], type: string): FieldError[] {
  if (endpoints.length > maxEndpoints)
    return [tooMany("endpoints", endpoints.length, maxEndpoints)];
  const errs: FieldError[] = [];
  endpoints.forEach((ep, i) => {
    const at = `endpoints[${i}]`;
    const addresses: string[] = ep.addresses ?? [];
    if (addresses.length === 0)
      errs.push(required(`${at}.addresses`, "must contain at least 1 address"));
    else if (addresses.length > maxAddresses)
      errs.push(tooMany(`${at}.addresses`, addresses.length, maxAddresses));
    addresses.forEach((a, j) => {
      errs.push(...validateAddress(type, `${at}.addresses[${j}]`, a));
    });
    if (ep.nodeName != null)
      for (const msg of isDNS1123Subdomain(ep.nodeName))
        errs.push(invalid(`${at}.nodeName`, ep.nodeName, msg));
    const topology = ep.deprecatedTopology;
    if (topology && Object.keys(topology).length > maxTopologyLabels)
      errs.push(
        tooMany(`${at}.deprecatedTopology`, Object.keys(topology).length, maxTopologyLabels),
      );
    errs.push(...validateLabels(topology, `${at}.deprecatedTopology`));
    if (ep.hostname != null)
      for (const msg of isDNS1123Label(ep.hostname))
        errs.push(invalid(`${at}.hostname`, ep.hostname, msg));
    const zones: KObject[] = ep.hints?.forZones ?? [];
    if (zones.length > maxZoneHints)
      errs.push(tooMany(`${at}.hints.forZones`, zones.length, maxZoneHints));
    else {
      const seen = new Set<string>();
      zones.forEach((z, k) => {
        const zp = `${at}.hints.forZones[${k}].name`;
        const name = z.name ?? "";
        if (seen.has(name)) errs.push(duplicate(zp, name));
        seen.add(name);
        for (const msg of isValidLabelValue(name)) errs.push(invalid(zp, name, msg));
      });
    }
  });
  return errs;
}

function validatePorts(ports: KObject[]): FieldError[] {
  if (ports.length > maxPorts) return [tooMany("ports", ports.length, maxPorts)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const at = `ports[${i}]`;
    const name = p.name ?? "";
    if (name !== "")
      for (const msg of isDNS1123Label(name)) errs.push(invalid(`${at}.name`, name, msg));
    if (names.has(name)) errs.push(duplicate(`${at}.name`, name));
    names.add(name);
    if (p.protocol == null) errs.push(required(`${at}.protocol`));
    else if (!protocols.includes(p.protocol))
      errs.push(notSupported(`${at}.protocol`, p.protocol, protocols));
    if (p.appProtocol != null)
      for (const msg of isQualifiedName(p.appProtocol))
        errs.push(invalid(`${at}.appProtocol`, p.appProtocol, msg));
  });
  return errs;
}

function validate(o: KObject): FieldError[] {
  const type = o.addressType ?? "";
  const errs: FieldError[] = [];
  if (type === "") errs.push(required("addressType"));
  else if (!addressTypes.includes(type)) errs.push(notSupported("addressType", type, addressTypes));
  return [...errs, ...validateEndpoints(o.endpoints ?? [], type), ...validatePorts(o.ports ?? [])];
}

/** formatDiscoveryPorts / formatDiscoveryEndpoints: three values, then "+ N more...". */
function listWithMore(values: string[]): string {
  const max = 3;
  if (values.length > max)
    return `${values.slice(0, max).join(",")} + ${values.length - max} more...`;
  return values.length ? values.join(",") : "<unset>";
}

export const endpointSlices = defineStrategy(findInfo("discovery.k8s.io", "endpointslices"), {
  // No spec/status split, but any change outside metadata (or to labels) is a new generation.
  generation: true,
  defaults(o) {
    for (const p of o.ports ?? []) {
      p.name ??= "";
      p.protocol ??= "TCP";
    }
  },
  prepareForUpdate(o, old) {
    if (!semanticEqual(o.metadata?.labels, old.metadata?.labels))
      o.metadata.generation = (old.metadata?.generation ?? 0) + 1;
  },
  validate,
  validateUpdate(o, old) {
    return semanticEqual(o.addressType, old.addressType)
      ? []
      : [invalid("addressType", o.addressType ?? "", "field is immutable")];
  },
  columns: [
    nameColumn,
    stringColumn(
      "AddressType",
      "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.",
      (o) => o.addressType ?? "",
    ),
    stringColumn(
      "Ports",
      'ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates "all ports". Each slice may include a maximum of 100 ports.',
      (o) =>
        listWithMore(
          (o.ports ?? []).map((p: KObject) => (p.port != null ? String(p.port) : (p.name ?? "*"))),
        ),
    ),
    stringColumn(
      "Endpoints",
      "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.",
      (o) => listWithMore((o.endpoints ?? []).flatMap((e: KObject) => e.addresses ?? [])),
    ),
    ageColumn,
  ],
});
