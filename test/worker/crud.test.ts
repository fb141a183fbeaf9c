import { describe, expect, it } from "vitest";
import { api, call } from "./helpers.ts";

const cm = (name: string, data: Record<string, string> = { a: "1" }) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, labels: { app: "web" } },
  data,
});

describe("core CRUD", () => {
  it("refuses requests without the admin token", async () => {
    const res = await api("GET", "/api/v1/namespaces", undefined, { authorization: "" });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
  });

  it("starts with the system namespaces, the kubernetes and the kube-dns services", async () => {
    const { body } = await call("GET", "/api/v1/namespaces");
    expect(body.items.map((n: { metadata: { name: string } }) => n.metadata.name).sort()).toEqual([
      "default",
      "kube-node-lease",
      "kube-public",
      "kube-system",
    ]);
    const svc = await call("GET", "/api/v1/namespaces/default/services/kubernetes");
    expect(svc.body.spec.clusterIP).toBe("10.43.0.1");
    // The address pods' resolv.conf names; each host's agent answers it.
    const dns = await call("GET", "/api/v1/namespaces/kube-system/services/kube-dns");
    expect(dns.body.spec.clusterIP).toBe("10.43.0.10");
    expect(dns.body.spec.ports.map((p: { name: string }) => p.name)).toEqual(["dns", "dns-tcp"]);
  });

  it("creates, reads, updates and deletes a ConfigMap", async () => {
    const created = await call("POST", "/api/v1/namespaces/default/configmaps", cm("c1"));
    expect(created.status).toBe(201);
    expect(created.body.metadata.uid).toMatch(/[0-9a-f-]{36}/);
    const rv1 = created.body.metadata.resourceVersion;
    const got = await call("GET", "/api/v1/namespaces/default/configmaps/c1");
    expect(got.body.data).toEqual({ a: "1" });
    const updated = await call("PUT", "/api/v1/namespaces/default/configmaps/c1", {
      ...got.body,
      data: { a: "2" },
    });
    expect(updated.status).toBe(200);
    expect(Number(updated.body.metadata.resourceVersion)).toBeGreaterThan(Number(rv1));
    const stale = await call("PUT", "/api/v1/namespaces/default/configmaps/c1", {
      ...got.body,
      data: { a: "3" },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.message).toContain(
      "the object has been modified; please apply your changes to the latest version and try again",
    );
    const del = await call("DELETE", "/api/v1/namespaces/default/configmaps/c1");
    expect(del.status).toBe(200);
    const gone = await call("GET", "/api/v1/namespaces/default/configmaps/c1");
    expect(gone.status).toBe(404);
    expect(gone.body.message).toBe('configmaps "c1" not found');
  });

  it("rejects duplicates, bad names, missing namespaces and bad JSON without storing anything", async () => {
    await call("POST", "/api/v1/namespaces/default/configmaps", cm("dup"));
    const dup = await call("POST", "/api/v1/namespaces/default/configmaps", cm("dup"));
    expect(dup.status).toBe(409);
    expect(dup.body.reason).toBe("AlreadyExists");
    const bad = await call("POST", "/api/v1/namespaces/default/configmaps", cm("Bad_Name"));
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain(
      'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"',
    );
    const nons = await call("POST", "/api/v1/namespaces/nope/configmaps", cm("x"));
    expect(nons.status).toBe(404);
    expect(nons.body.message).toBe('namespaces "nope" not found');
    const res = await api("POST", "/api/v1/namespaces/default/configmaps", "{not json");
    expect(res.status).toBe(400);
    const list = await call("GET", "/api/v1/namespaces/default/configmaps");
    expect(list.body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual([
      "dup",
    ]);
  });
});
