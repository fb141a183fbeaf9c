// Enrolment: join tokens buy node credentials and pod CIDRs.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, eventually } from "./helpers.ts";
import { asBearer, createJoinToken, join, joinNode } from "./nodes.ts";

const sha256 = async (s: string) => {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return btoa(String.fromCharCode(...new Uint8Array(d)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
};

const nodeNode = (name: string) => ({ metadata: { name }, status: { capacity: { pods: "110" } } });

describe("POST /kubeflare/v1/join", () => {
  it("trades a join token for a node credential and a /24 pod CIDR", async () => {
    const token = await createJoinToken({
      expiration: new Date(Date.now() + 3600e3).toISOString(),
    });
    const res = await join({ token, nodeName: "host-1" });
    expect(res.status).toBe(200);
    expect(res.body.nodeName).toBe("host-1");
    expect(res.body.credential).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.podCIDR).toMatch(/^10\.42\.\d+\.0\/24$/);

    // The credential authenticates as the node (it may list nodes).
    const nodes = await asBearer(res.body.credential)("GET", "/api/v1/nodes");
    expect(nodes.status).toBe(200);

    // D1 holds the hash, never the credential.
    const row = await env.DB.prepare("SELECT * FROM node_credentials WHERE node_name = ?")
      .bind("host-1")
      .first<Record<string, string>>();
    expect(row?.hash).toBe(await sha256(res.body.credential));
    expect(JSON.stringify(row)).not.toContain(res.body.credential);
    expect(row?.pod_cidr).toBe(res.body.podCIDR);
  });

  it("refuses unknown, wrong, expired, unusable and malformed tokens with 401", async () => {
    const good = await createJoinToken();
    const [id] = good.split(".");
    const unusable = await createJoinToken({ usage: "false" });
    const cases: [string, RegExp][] = [
      ["abcdef.0123456789abcdef", /invalid join token/],
      [`${id}.0123456789abcdef`, /invalid join token/],
      [unusable, /not usable for authentication/],
      ["not-a-token", /malformed join token/],
      [`${good}x`, /malformed join token/],
    ];
    for (const [token, message] of cases) {
      const res = await join({ token, nodeName: "refused" });
      expect(res.status, token).toBe(401);
      expect(res.body).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
      expect(res.body.message).toMatch(message);
    }
    // An expired token says so, unless the sweep deleted it between create and join: then again.
    for (let attempt = 0; ; attempt++) {
      const expired = await createJoinToken({ expiration: "2020-01-01T00:00:00Z" });
      const res = await join({ token: expired, nodeName: "refused" });
      expect(res.status).toBe(401);
      if (/invalid join token/.test(res.body.message) && attempt < 3) continue;
      expect(res.body.message).toMatch(/has expired \(expiration 2020-01-01T00:00:00Z\)/);
      break;
    }
    const row = await env.DB.prepare(
      "SELECT count(*) AS n FROM node_credentials WHERE node_name = 'refused'",
    ).first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("refuses a node name that is not a DNS-1123 subdomain with 422", async () => {
    const token = await createJoinToken();
    for (const nodeName of ["Host_1", "-host", "a".repeat(254)]) {
      const res = await join({ token, nodeName });
      expect(res.status, nodeName).toBe(422);
      expect(res.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
      expect(res.body.message).toContain(`Node "${nodeName}" is invalid: metadata.name`);
    }
  });

  it("reads the body as JSON whatever its content type (curl -d)", async () => {
    const token = await createJoinToken();
    const res = await join({ token, nodeName: "curled" }, "application/x-www-form-urlencoded");
    expect(res.status).toBe(200);
    expect(res.body.nodeName).toBe("curled");
  });

  it("answers a bad body with 400", async () => {
    const token = await createJoinToken();
    for (const body of ["{", "[]", { token }, { nodeName: "x" }, { token: 1, nodeName: "x" }]) {
      const res = await join(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ kind: "Status", reason: "BadRequest" });
    }
  });

  it("re-join under the same name rotates the credential and keeps the pod CIDR", async () => {
    const first = await joinNode("rejoin");
    const node = asBearer(first.credential);
    expect((await node("GET", "/api/v1/nodes")).status).toBe(200);
    const second = await joinNode("rejoin");
    expect(second.credential).not.toBe(first.credential);
    expect(second.podCIDR).toBe(first.podCIDR);
    const old = await node("GET", "/api/v1/nodes");
    expect(old.status).toBe(401);
    expect(old.body).toMatchObject({ kind: "Status", reason: "Unauthorized" });
    expect((await asBearer(second.credential)("GET", "/api/v1/nodes")).status).toBe(200);
  });

  it("gives racing joins distinct CIDRs, and one name one CIDR", async () => {
    const token = await createJoinToken();
    const names = ["race-1", "race-2", "race-3", "race-4", "race-5", "race-6"];
    const joined = await Promise.all(names.map((n) => joinNode(n, token)));
    expect(new Set(joined.map((j) => j.podCIDR)).size).toBe(names.length);

    const same = await Promise.all([joinNode("race-same", token), joinNode("race-same", token)]);
    expect(same[0].podCIDR).toBe(same[1].podCIDR);
    const working = await Promise.all(
      same.map(async (j) => (await asBearer(j.credential)("GET", "/api/v1/nodes")).status),
    );
    expect(working.sort()).toEqual([200, 401]);
    const rows = await env.DB.prepare(
      "SELECT count(*) AS n FROM allocations WHERE kind = 'podcidr' AND owner = 'node:race-same'",
    ).first<{ n: number }>();
    expect(rows?.n).toBe(1);
  });

  it("keeps a node's CIDR when its Node object is deleted, and never gives it to another", async () => {
    const joined = await joinNode("keeper");
    const node = asBearer(joined.credential);
    expect((await node("POST", "/api/v1/nodes", nodeNode("keeper"))).status).toBe(201);
    expect((await call("DELETE", "/api/v1/nodes/keeper")).status).toBe(200);
    const again = await node("POST", "/api/v1/nodes", nodeNode("keeper"));
    expect(again.status).toBe(201);
    expect(again.body.spec.podCIDR).toBe(joined.podCIDR);
    const other = await joinNode("keeper-neighbour");
    expect(other.podCIDR).not.toBe(joined.podCIDR);
  });

  it("expired join tokens are deleted by the periodic sweep, live ones stay", async () => {
    const old = await createJoinToken({ expiration: "2020-01-01T00:00:00Z" });
    const live = await createJoinToken({ expiration: new Date(Date.now() + 3600e3).toISOString() });
    const forever = await createJoinToken();
    const path = (t: string) =>
      `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${t.split(".")[0]}`;
    await eventually(async () => (await call("GET", path(old))).status === 404);
    expect((await call("GET", path(live))).status).toBe(200);
    expect((await call("GET", path(forever))).status).toBe(200);
  });
});
