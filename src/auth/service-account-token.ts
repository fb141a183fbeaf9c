// ServiceAccount tokens: JWTs signed with the cluster's ES256 key (the SERVICE_ACCOUNT_KEY secret,
// like kube-apiserver's --service-account-signing-key-file), in Kubernetes' claim layout so that
// clients and OIDC verifiers read them as they read a kube-apiserver's tokens.
import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";

/** kube-apiserver's --service-account-issuer in kubeadm and k3s; the API's own audience too. */
export const ISSUER = "https://kubernetes.default.svc.cluster.local";
export const API_AUDIENCES = [ISSUER];
/** The issuer of legacy tokens, the ones kept in `kubernetes.io/service-account-token` Secrets. */
export const LEGACY_ISSUER = "kubernetes/serviceaccount";

export interface TokenClaims {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  /** The object the token is bound to: it stops authenticating once that object is gone. */
  pod?: { name: string; uid: string };
  secret?: { name: string; uid: string };
  node?: { name: string; uid: string };
  audiences: string[];
  /** Seconds since the epoch. */
  expires: number;
  id: string;
  /** A legacy token: valid while its Secret holds it, no expiry, no audience. */
  legacy?: boolean;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

let cached: { source: string; key: Promise<SigningKey> } | undefined;

/** The key of a SERVICE_ACCOUNT_KEY (base64 of a PKCS#8 P-256 key); undefined when none is set. */
export function signingKey(source: string | undefined): Promise<SigningKey> | undefined {
  if (!source) return undefined;
  if (cached?.source !== source) cached = { source, key: loadKey(source) };
  return cached.key;
}

async function loadKey(source: string): Promise<SigningKey> {
  const der = Uint8Array.from(atob(source.trim()), (ch) => ch.charCodeAt(0));
  const alg = { name: "ECDSA", namedCurve: "P-256" };
  const extractable = await crypto.subtle.importKey("pkcs8", der, alg, true, ["sign"]);
  const {
    d: _private,
    key_ops: _ops,
    ext: _ext,
    ...pub
  } = (await crypto.subtle.exportKey("jwk", extractable)) as JsonWebKey;
  const spkiKey = await crypto.subtle.importKey("jwk", pub, alg, true, ["verify"]);
  // The key id as Kubernetes derives it: base64url of the SHA-256 of the public key's DER.
  const spki = await crypto.subtle.exportKey("spki", spkiKey);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", spki as ArrayBuffer));
  const kid = btoa(String.fromCharCode(...digest))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
  const publicJwk = { ...pub, kid, alg: "ES256", use: "sig" } as JWK;
  return {
    kid,
    privateKey: (await crypto.subtle.importKey("pkcs8", der, alg, false, ["sign"])) as CryptoKey,
    publicKey: spkiKey as CryptoKey,
    publicJwk,
  };
}

const ref = (o?: { name: string; uid: string }) => (o ? { name: o.name, uid: o.uid } : undefined);

/** Signs a token; `now` in seconds since the epoch. */
export async function issue(key: SigningKey, c: Omit<TokenClaims, "id">, now: number) {
  const id = crypto.randomUUID();
  const token = await new SignJWT({
    "kubernetes.io": {
      namespace: c.namespace,
      serviceaccount: ref(c.serviceAccount),
      ...(c.pod ? { pod: ref(c.pod) } : {}),
      ...(c.secret ? { secret: ref(c.secret) } : {}),
      ...(c.node ? { node: ref(c.node) } : {}),
    },
  })
    .setProtectedHeader({ alg: "ES256", kid: key.kid })
    .setIssuer(ISSUER)
    .setSubject(`system:serviceaccount:${c.namespace}:${c.serviceAccount.name}`)
    .setAudience(c.audiences)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(c.expires)
    .setJti(id)
    .sign(key.privateKey);
  return { token, id };
}

/** A legacy token for a Secret of type kubernetes.io/service-account-token, in their claims. */
export function issueLegacy(
  key: SigningKey,
  c: { namespace: string; secretName: string; serviceAccount: { name: string; uid: string } },
): Promise<string> {
  return new SignJWT({
    "kubernetes.io/serviceaccount/namespace": c.namespace,
    "kubernetes.io/serviceaccount/secret.name": c.secretName,
    "kubernetes.io/serviceaccount/service-account.name": c.serviceAccount.name,
    "kubernetes.io/serviceaccount/service-account.uid": c.serviceAccount.uid,
  })
    .setProtectedHeader({ alg: "ES256", kid: key.kid })
    .setIssuer(LEGACY_ISSUER)
    .setSubject(`system:serviceaccount:${c.namespace}:${c.serviceAccount.name}`)
    .sign(key.privateKey);
}

/** Whether a bearer token could be one of ours: a JWS whose header names ES256 and our key. */
export function looksLikeServiceAccountToken(token: string, key: SigningKey): boolean {
  if (!token.startsWith("eyJ") || token.split(".").length !== 3) return false;
  try {
    const h = decodeProtectedHeader(token);
    return h.alg === "ES256" && h.kid === key.kid;
  } catch {
    return false;
  }
}

/** The claims of a valid, unexpired token for the API's audiences; undefined otherwise. */
export async function verify(
  key: SigningKey,
  token: string,
  nowSeconds?: number,
  audiences: string[] = API_AUDIENCES,
): Promise<TokenClaims | undefined> {
  try {
    const legacy = decodeJwt(token).iss === LEGACY_ISSUER;
    const { payload } = await jwtVerify(token, key.publicKey, {
      algorithms: ["ES256"],
      ...(legacy ? { issuer: LEGACY_ISSUER } : { issuer: ISSUER, audience: audiences }),
      ...(nowSeconds !== undefined ? { currentDate: new Date(nowSeconds * 1000) } : {}),
    });
    // Legacy tokens carry no audience: they are for the API only.
    if (legacy)
      return audiences.some((a) => API_AUDIENCES.includes(a)) ? legacyClaims(payload) : undefined;
    const k = payload["kubernetes.io"] as Record<string, { name: string; uid: string }> & {
      namespace?: string;
    };
    const sa = k?.serviceaccount;
    if (!k?.namespace || !sa?.name || !sa.uid || payload.exp === undefined) return undefined;
    if (payload.sub !== `system:serviceaccount:${k.namespace}:${sa.name}`) return undefined;
    return {
      namespace: k.namespace,
      serviceAccount: ref(sa) as TokenClaims["serviceAccount"],
      pod: ref(k.pod),
      secret: ref(k.secret),
      node: ref(k.node),
      audiences: ([] as string[]).concat(payload.aud ?? []),
      expires: payload.exp,
      id: payload.jti ?? "",
    };
  } catch {
    return undefined;
  }
}

function legacyClaims(p: Record<string, unknown>): TokenClaims | undefined {
  const claim = (k: string) => p[`kubernetes.io/serviceaccount/${k}`];
  const [namespace, secret, name, uid] = [
    claim("namespace"),
    claim("secret.name"),
    claim("service-account.name"),
    claim("service-account.uid"),
  ];
  if (![namespace, secret, name, uid].every((v) => typeof v === "string" && v)) return undefined;
  if (p.sub !== `system:serviceaccount:${namespace}:${name}`) return undefined;
  return {
    namespace: namespace as string,
    serviceAccount: { name: name as string, uid: uid as string },
    // The Secret is checked by name, and that it still holds this very token.
    secret: { name: secret as string, uid: "" },
    audiences: API_AUDIENCES,
    expires: 0,
    id: "",
    legacy: true,
  };
}
