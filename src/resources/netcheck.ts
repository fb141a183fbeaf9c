// Address and name checks of EndpointSlice and Ingress validation: IsValidIPv4Address,
// ValidateEndpointIP, IsWildcardDNS1123Subdomain, IsFullyQualifiedDomainName.
import {
  type FieldError,
  invalid,
  isDNS1123Label,
  isDNS1123Subdomain,
  maxLenError,
  regexError,
  required,
} from "../k8s/validation.ts";
import { isIP, isIPv6, parseIPv4, validateNonSpecialIP } from "./netaddr.ts";

/** validation.IsValidIPv4Address. */
export function validIPv4(path: string, value: string): FieldError[] {
  return parseIPv4(value) ? [] : [invalid(path, value, "must be a valid IPv4 address")];
}

/** validation.IsValidIPv6Address. */
export function validIPv6(path: string, value: string): FieldError[] {
  return isIPv6(value) ? [] : [invalid(path, value, "must be a valid IPv6 address")];
}

/** apivalidation.ValidateEndpointIP: an address, and no unspecified, loopback or link-local one. */
export function endpointIP(path: string, value: string): FieldError[] {
  if (!isIP(value)) return [invalid(path, value, "must be a valid IP address")];
  return validateNonSpecialIP(path, value);
}

/** validation.IsFullyQualifiedDomainName. */
export function fullyQualifiedDomainName(path: string, value: string): FieldError[] {
  if (value === "") return [required(path)];
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  const sub = isDNS1123Subdomain(name);
  if (sub.length) return [invalid(path, name, sub.join(","))];
  const labels = name.split(".");
  if (labels.length < 2)
    return [invalid(path, name, "should be a domain with at least two segments separated by dots")];
  for (const label of labels) {
    const errs = isDNS1123Label(label);
    if (errs.length) return [invalid(path, label, errs.join(","))];
  }
  return [];
}

const labelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const wildcardFmt = `\\*\\.${labelFmt}(\\.${labelFmt})*`;
const wildcardRe = new RegExp(`^${wildcardFmt}$`);

/** validation.IsWildcardDNS1123Subdomain. */
export function wildcardSubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push(maxLenError(253));
  if (!wildcardRe.test(value))
    errs.push(
      regexError(
        "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
        wildcardFmt,
        "*.example.com",
      ),
    );
  return errs;
}
