import { describe, expect, it } from "vitest";
import { ServiceAccountTokens } from "./service-account-tokens.ts";

const pod = {
  metadata: { namespace: "team", name: "web-1", uid: "u-1" },
  spec: { serviceAccountName: "robot" },
};

/** An API that issues numbered tokens for an hour, or fails when told to. */
function fakeApi(clock: { now: number }) {
  const requests: { path: string; body: any }[] = [];
  let failing = false;
  return {
    requests,
    fail: (v: boolean) => {
      failing = v;
    },
    raw: async (_method: string, path: string, body?: any) => {
      requests.push({ path, body });
      if (failing) return { status: 503, body: { message: "unavailable" } };
      const expires = new Date(clock.now + body.spec.expirationSeconds * 1000).toISOString();
      return {
        status: 201,
        body: { status: { token: `t${requests.length}`, expirationTimestamp: expires } },
      };
    },
  };
}

describe("ServiceAccount tokens for projected volumes", () => {
  it("asks for a token bound to the pod and keeps it until 80% of its lifetime", async () => {
    const clock = { now: 1_000_000 };
    const api = fakeApi(clock);
    const tokens = new ServiceAccountTokens(api as never, () => clock.now);
    const src = { path: "token", expirationSeconds: 3600 };
    expect(await tokens.get(pod, src)).toBe("t1");
    expect(api.requests[0]).toEqual({
      path: "/api/v1/namespaces/team/serviceaccounts/robot/token",
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: {
          audiences: [],
          expirationSeconds: 3600,
          boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "web-1", uid: "u-1" },
        },
      },
    });
    clock.now += 2_879_000;
    expect(await tokens.get(pod, src)).toBe("t1");
    clock.now += 2_000;
    expect(await tokens.get(pod, src)).toBe("t2");
    // Another audience is another token.
    expect(await tokens.get(pod, { ...src, audience: "vault" })).toBe("t3");
    expect(api.requests[2].body.spec.audiences).toEqual(["vault"]);
  });

  it("serves the token it holds while the API fails, and says why when it has none", async () => {
    const clock = { now: 0 };
    const api = fakeApi(clock);
    const tokens = new ServiceAccountTokens(api as never, () => clock.now);
    const src = { path: "token", expirationSeconds: 600 };
    expect(await tokens.get(pod, src)).toBe("t1");
    api.fail(true);
    clock.now += 500_000;
    expect(await tokens.get(pod, src)).toBe("t1");
    clock.now += 200_000;
    await expect(tokens.get(pod, src)).rejects.toThrow(
      'token for service account "robot": 503 unavailable',
    );
  });
});
