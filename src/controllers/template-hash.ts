// controller.ComputeHash: the hash that names a pod template's revision (pod-template-hash,
// controller-revision-hash), shared by every workload controller.
import type { KObject } from "../store/objects.ts";

/** JSON with object keys sorted, so equal templates hash equally whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

function fnv32a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789";

/** rand.SafeEncodeString: every byte mapped into an alphabet without vowels or look-alikes. */
const safeEncode = (s: string): string =>
  Array.from(s, (c) => SAFE_CHARS[c.charCodeAt(0) % SAFE_CHARS.length]).join("");

/**
 * controller.ComputeHash: FNV-32a of the template (here its canonical JSON, where Kubernetes
 * hashes the Go struct), then the collision count as 8 little-endian bytes, printed in
 * decimal and safe-encoded, so names look as Kubernetes' do ("web-7c5ddbdf54").
 */
export function computeHash(template: KObject, collisionCount?: number): string {
  let h = fnv32a(new TextEncoder().encode(canonical(template)));
  if (typeof collisionCount === "number") {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv32a(b, h);
  }
  return safeEncode(String(h));
}
