// Node credentials: opaque random bearer tokens, kept only as SHA-256 hashes.

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** 32 random bytes, base64url: 43 characters. */
export const newCredential = (): string => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** What a node credential looks like; anything else is not looked up at all. */
export const looksLikeCredential = (token: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(token);

export async function hashCredential(credential: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(credential));
  return base64url(new Uint8Array(digest));
}

// One encoder for every request: making two per comparison showed in profiles.
const encoder = new TextEncoder();

/** Compares secrets in time independent of where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
