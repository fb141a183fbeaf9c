// Secrets are encrypted at rest: a Secret's `data` is stored sealed with AES-256-GCM under the
// SECRETS_KEY Worker secret, in the objects table and in the change log alike. Synchronous
// (@noble/ciphers) so the read path stays a plain JSON decode.
import { gcm } from "@noble/ciphers/aes.js";

/** A data key no Secret can have (keys must match [-._a-zA-Z0-9]+), marking sealed data. */
const SEALED = "kubeflare.io/sealed";
const VERSION = "v1:";

let key: Uint8Array | undefined;

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** Set the sealing key (base64 of 32 bytes) once per isolate; without one, data stays plain. */
export function configureSealing(secretsKey: string | undefined): void {
  if (!secretsKey || key) return;
  const k = unb64(secretsKey);
  if (k.length !== 32) throw new Error("SECRETS_KEY must be 32 bytes, base64-encoded");
  key = k;
}

type Body = Record<string, any>;

export function seal(o: Body): Body {
  if (!key || o.kind !== "Secret" || !o.data || Object.keys(o.data).length === 0) return o;
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const sealed = gcm(key, nonce).encrypt(new TextEncoder().encode(JSON.stringify(o.data)));
  const box = new Uint8Array(nonce.length + sealed.length);
  box.set(nonce);
  box.set(sealed, nonce.length);
  return { ...o, data: { [SEALED]: VERSION + b64(box) } };
}

export function unseal(o: Body): Body {
  const sealed = o.kind === "Secret" ? o.data?.[SEALED] : undefined;
  if (typeof sealed !== "string") return o;
  if (!key) throw new Error("a sealed Secret was read but SECRETS_KEY is not set");
  const box = unb64(sealed.slice(VERSION.length));
  const plain = gcm(key, box.subarray(0, 12)).decrypt(box.subarray(12));
  o.data = JSON.parse(new TextDecoder().decode(plain));
  return o;
}
