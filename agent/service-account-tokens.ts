// Tokens for the pods' projected serviceAccountToken sources, as the kubelet's token manager:
// requested through TokenRequest, bound to the pod, and kept until 80% of their lifetime (at most
// 24 h) has passed; the volume refresh then writes the new one.
import type { Api } from "./api.ts";

export interface TokenSource {
  audience?: string;
  expirationSeconds?: number;
  path: string;
}

const DAY_MS = 24 * 3600_000;

export class ServiceAccountTokens {
  private readonly tokens = new Map<
    string,
    { token: string; refreshAt: number; expires: number }
  >();

  private readonly api: Pick<Api, "raw">;
  private readonly now: () => number;

  constructor(api: Pick<Api, "raw">, now: () => number = Date.now) {
    this.api = api;
    this.now = now;
  }

  async get(pod: any, src: TokenSource): Promise<string> {
    const { namespace, name, uid } = pod.metadata;
    const seconds = src.expirationSeconds ?? 3600;
    const key = `${uid}|${src.audience ?? ""}|${seconds}`;
    const now = this.now();
    // Tokens of pods that are gone lapse here rather than being tracked per pod.
    for (const [k, t] of this.tokens) if (t.expires <= now) this.tokens.delete(k);
    const held = this.tokens.get(key);
    if (held && now < held.refreshAt) return held.token;
    const account = pod.spec.serviceAccountName || "default";
    const path = `/api/v1/namespaces/${namespace}/serviceaccounts/${account}/token`;
    const r = await this.api.raw("POST", path, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        audiences: src.audience ? [src.audience] : [],
        expirationSeconds: seconds,
        boundObjectRef: { kind: "Pod", apiVersion: "v1", name, uid },
      },
    });
    if (r.status !== 201) {
      // A token we still hold stays good until it expires: keep serving it.
      if (held) return held.token;
      throw new Error(
        `token for service account "${account}": ${r.status} ${r.body?.message ?? ""}`.trim(),
      );
    }
    const expires = Date.parse(r.body.status.expirationTimestamp);
    const ttl = expires - now;
    const token = r.body.status.token as string;
    this.tokens.set(key, { token, refreshAt: now + Math.min(ttl * 0.8, DAY_MS), expires });
    return token;
  }
}
