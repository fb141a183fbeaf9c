// IP address checks for Service and Endpoints validation, worded as apimachinery's
// validation.IsValidIP and core validation's ValidateNonSpecialIP.
import { type FieldError, invalid } from "../k8s/validation.ts";

const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The four octets of a dotted quad (leading zeros allowed, as ParseIPSloppy does). */
export function parseIPv4(s: string): number[] | undefined {
  const m = v4.exec(s);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

const hexGroup = /^[0-9a-fA-F]{1,4}$/;

/** Counts the 16-bit groups of one side of an IPv6 address, or -1 when malformed. */
function groups(parts: string[], mayEndInV4: boolean): number {
  let n = 0;
  for (const [i, p] of parts.entries()) {
    if (mayEndInV4 && i === parts.length - 1 && p.includes(".")) {
      if (!parseIPv4(p)) return -1;
      n += 2;
    } else if (hexGroup.test(p)) n++;
    else return -1;
  }
  return n;
}

export function isIPv6(s: string): boolean {
  if (!s.includes(":")) return false;
  const gap = s.indexOf("::");
  if (gap !== s.lastIndexOf("::")) return false;
  if (gap < 0) return groups(s.split(":"), true) === 8;
  const split = (x: string) => (x === "" ? [] : x.split(":"));
  const head = groups(split(s.slice(0, gap)), false);
  const tail = groups(split(s.slice(gap + 2)), true);
  return head >= 0 && tail >= 0 && head + tail <= 7;
}

export const isIP = (s: unknown): s is string =>
  typeof s === "string" && (parseIPv4(s) !== undefined || isIPv6(s));

/** validation.IsValidIP. */
export function validateIP(field: string, value: unknown): FieldError[] {
  return isIP(value)
    ? []
    : [invalid(field, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")];
}

/** ValidateNonSpecialIP: no unspecified, loopback or link-local addresses as endpoints. */
export function validateNonSpecialIP(field: string, ip: string): FieldError[] {
  const errs: FieldError[] = [];
  const o = parseIPv4(ip);
  const lower = ip.toLowerCase();
  const v6zero = !o && /^[0:]+$/.test(lower);
  if (o?.every((x) => x === 0) || v6zero)
    errs.push(invalid(field, ip, `may not be unspecified (${ip})`));
  if ((o && o[0] === 127) || (!o && /^[0:]*1$/.test(lower)))
    errs.push(invalid(field, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
  if ((o && o[0] === 169 && o[1] === 254) || /^fe[89ab][0-9a-f]?:/.test(lower))
    errs.push(invalid(field, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
  if ((o && o[0] === 224 && o[1] === 0 && o[2] === 0) || /^ff02:/.test(lower))
    errs.push(
      invalid(field, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
    );
  return errs;
}

/** validation.IsValidCIDR. */
export function validateCIDR(field: string, value: unknown): FieldError[] {
  const [ip, bits, extra] = typeof value === "string" ? value.split("/") : [];
  const max = parseIPv4(ip ?? "") ? 32 : isIPv6(ip ?? "") ? 128 : -1;
  const ok = extra === undefined && max > 0 && /^\d{1,3}$/.test(bits ?? "") && Number(bits) <= max;
  return ok
    ? []
    : [invalid(field, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")];
}
