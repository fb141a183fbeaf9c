import { describe, expect, it } from "vitest";
import { api, call } from "./helpers.ts";

const CM = "/api/v1/namespaces/default/configmaps";

async function nothingStored() {
  const list = await call("GET", CM);
  expect(list.body.items).toEqual([]);
}

describe("bad input gets a Kubernetes Status and stores nothing", () => {
  it("413 for a body over 3 MiB", async () => {
    const big = { metadata: { name: "big" }, data: { a: "x".repeat(3 * 1024 * 1024) } };
    const r = await call("POST", CM, big);
    expect(r.status).toBe(413);
    expect(r.body.reason).toBe("RequestEntityTooLarge");
    await nothingStored();
  });

  it("415 for a media type the server does not read", async () => {
    const r = await call("POST", CM, "{}", { "content-type": "application/cbor" });
    expect(r.status).toBe(415);
    expect(r.body.reason).toBe("UnsupportedMediaType");
    const pb = await call("POST", CM, "not protobuf", {
      "content-type": "application/vnd.kubernetes.protobuf",
    });
    expect(pb.status).toBe(400);
    const p = await call("PATCH", `${CM}/x`, "{}", { "content-type": "text/plain" });
    expect(p.status).toBe(415);
  });

  it("400 for malformed JSON and YAML", async () => {
    expect((await call("POST", CM, "{")).status).toBe(400);
    const y = await call("POST", CM, "metadata: [unclosed", { "content-type": "application/yaml" });
    expect(y.status).toBe(400);
    await nothingStored();
  });

  it("accepts YAML bodies", async () => {
    const r = await call("POST", CM, "metadata:\n  name: yaml-made\ndata:\n  k: v\n", {
      "content-type": "application/yaml",
    });
    expect(r.status).toBe(201);
    await call("DELETE", `${CM}/yaml-made`);
  });

  it("400 for a wrong apiVersion, a wrong kind or a namespace mismatch", async () => {
    const wrongVersion = await call("POST", CM, {
      apiVersion: "v2",
      kind: "ConfigMap",
      metadata: { name: "a" },
    });
    expect(wrongVersion.status).toBe(400);
    expect(wrongVersion.body.message).toContain("does not match the expected API version");
    const wrongKind = await call("POST", CM, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "a" },
    });
    expect(wrongKind.status).toBe(400);
    const mismatch = await call("POST", CM, { metadata: { name: "a", namespace: "kube-system" } });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.message).toBe(
      "the namespace of the provided object does not match the namespace sent on the request",
    );
    await nothingStored();
  });

  it("400 for wrong field types; unknown fields per fieldValidation", async () => {
    const typed = await call("POST", CM, { metadata: { name: "a" }, data: { k: 1 } });
    expect(typed.status).toBe(400);
    expect(typed.body.message).toContain("cannot unmarshal number");
    const strict = await call("POST", `${CM}?fieldValidation=Strict`, {
      metadata: { name: "a" },
      bogus: 1,
    });
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe('strict decoding error: unknown field "bogus"');
    await nothingStored();
    const res = await api("POST", `${CM}?fieldValidation=Warn`, {
      metadata: { name: "warned" },
      bogus: 1,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("warning")).toContain('unknown field \\"bogus\\"');
    const warned = await call("GET", `${CM}/warned`);
    expect(warned.body.bogus).toBeUndefined();
    await call("DELETE", `${CM}/warned`);
    const ignored = await call("POST", `${CM}?fieldValidation=Ignore`, {
      metadata: { name: "ign" },
      data: { k: "v" },
      bogus: 1,
    });
    expect(ignored.status).toBe(201);
    expect(ignored.body.bogus).toBeUndefined();
    await call("DELETE", `${CM}/ign`);
  });

  it("404 for unknown resources and kinds, 405 for unsupported verbs", async () => {
    expect((await call("GET", "/api/v1/widgets")).status).toBe(404);
    expect((await call("GET", "/apis/example.com/v1/widgets")).status).toBe(404);
    expect((await call("POST", `${CM}/named`, {})).status).toBe(405);
  });

  it("dryRun validates and answers without storing", async () => {
    const r = await call("POST", `${CM}?dryRun=All`, {
      metadata: { name: "dry" },
      data: { k: "v" },
    });
    expect(r.status).toBe(201);
    expect(r.body.metadata.name).toBe("dry");
    await nothingStored();
  });

  it("generateName makes a unique name", async () => {
    const a = await call("POST", CM, { metadata: { generateName: "gen-" } });
    const b = await call("POST", CM, { metadata: { generateName: "gen-" } });
    expect(a.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(a.body.metadata.name).not.toBe(b.body.metadata.name);
  });
});

describe("ClusterIP allocation", () => {
  const SVC = "/api/v1/namespaces/default/services";
  const svc = (name: string) => ({
    metadata: { name },
    spec: { ports: [{ port: 80 }], selector: { app: name } },
  });

  it("never hands out one address twice under concurrency, and frees it on delete", async () => {
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call("POST", SVC, svc(`s${i}`))),
    );
    for (const c of created) expect(c.status).toBe(201);
    const ips = created.map((c) => c.body.spec.clusterIP);
    expect(new Set(ips).size).toBe(20);
    // The kubernetes Service's and the cluster DNS address are never handed out.
    expect(ips).not.toContain("10.43.0.1");
    expect(ips).not.toContain("10.43.0.10");
    const taken = await call("POST", SVC, {
      ...svc("dup"),
      spec: { ...svc("dup").spec, clusterIP: ips[0] },
    });
    expect(taken.status).toBeGreaterThanOrEqual(400);
    expect(taken.status).toBeLessThan(500);
    await call("DELETE", `${SVC}/s0`);
    const reuse = await call("POST", SVC, {
      ...svc("again"),
      spec: { ...svc("again").spec, clusterIP: ips[0] },
    });
    expect(reuse.status).toBe(201);
    expect(reuse.body.spec.clusterIP).toBe(ips[0]);
  });

  it("allocates NodePorts in range without duplicates", async () => {
    const created = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call("POST", SVC, {
          metadata: { name: `np${i}` },
          spec: { type: "NodePort", ports: [{ port: 80 }] },
        }),
      ),
    );
    const ports = created.map((c) => c.body.spec.ports[0].nodePort);
    expect(new Set(ports).size).toBe(10);
    for (const p of ports) expect(p >= 30000 && p <= 32767).toBe(true);
  });
});
