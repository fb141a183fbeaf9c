// Endpoints: SetDefaults_Endpoints, ValidateEndpoints and kubectl's printEndpoints.
import {
  type FieldError,
  invalid,
  isQualifiedName,
  notSupported,
  required,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { validateIP, validateNonSpecialIP } from "./netaddr.ts";
import { dnsLabelErrors, dnsSubdomainErrors, objects, portNumErrors } from "./podspec.ts";
import { ageColumn, column, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";

const protocols = ["SCTP", "TCP", "UDP"];

function validateAddress(a: KObject, path: string): FieldError[] {
  const bad = validateIP(`${path}.ip`, a.ip);
  const errs = bad.length ? bad : validateNonSpecialIP(`${path}.ip`, a.ip);
  if (a.hostname) errs.push(...dnsLabelErrors(`${path}.hostname`, a.hostname));
  if (a.nodeName) errs.push(...dnsSubdomainErrors(`${path}.nodeName`, a.nodeName));
  return errs;
}

function validatePort(p: KObject, requireName: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !p.name) errs.push(required(`${path}.name`));
  else if (p.name) errs.push(...dnsLabelErrors(`${path}.name`, p.name));
  for (const m of portNumErrors(p.port)) errs.push(invalid(`${path}.port`, p.port ?? 0, m));
  if (!p.protocol) errs.push(required(`${path}.protocol`));
  else if (!protocols.includes(p.protocol))
    errs.push(notSupported(`${path}.protocol`, p.protocol, protocols));
  if (typeof p.appProtocol === "string")
    for (const m of isQualifiedName(p.appProtocol))
      errs.push(invalid(`${path}.appProtocol`, p.appProtocol, m));
  return errs;
}

/** validateEndpointSubsets. */
function validateEndpoints(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  for (const [i, ss] of objects(o.subsets).entries()) {
    const at = `subsets[${i}]`;
    const addresses = objects(ss.addresses);
    const notReady = objects(ss.notReadyAddresses);
    if (addresses.length === 0 && notReady.length === 0)
      errs.push(required(`${at}`, "must specify `addresses` or `notReadyAddresses`"));
    addresses.forEach((a, j) => {
      errs.push(...validateAddress(a, `${at}.addresses[${j}]`));
    });
    notReady.forEach((a, j) => {
      errs.push(...validateAddress(a, `${at}.notReadyAddresses[${j}]`));
    });
    const ports = objects(ss.ports);
    ports.forEach((p, j) => {
      errs.push(...validatePort(p, ports.length > 1, `${at}.ports[${j}]`));
    });
  }
  return errs;
}

const joinHostPort = (ip: string, port: unknown) =>
  ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;

/** formatEndpoints: at most three address:port pairs, then "+ N more...". */
export function formatEndpoints(o: KObject): string {
  const subsets = objects(o.subsets);
  if (subsets.length === 0) return "<none>";
  const max = 3;
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addresses = objects(ss.addresses);
    const ports = objects(ss.ports);
    if (ports.length === 0) {
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(a.ip);
      }
      continue;
    }
    for (const p of ports) {
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(joinHostPort(a.ip, p.port));
      }
    }
  }
  const text = list.join(",");
  if (more) return `${text} + ${count - max} more...`;
  return text || "<none>";
}

export const endpoints = defineStrategy(findInfo("", "endpoints"), {
  defaults(o) {
    for (const ss of objects(o.subsets)) for (const p of objects(ss.ports)) p.protocol ||= "TCP";
  },
  validate: validateEndpoints,
  columns: [
    nameColumn,
    column("Endpoints", formatEndpoints, { description: "Endpoints of the service" }),
    ageColumn,
  ],
});
