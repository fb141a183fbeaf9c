import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call } from "./helpers.ts";

describe("Secrets at rest", () => {
  it("are sealed in D1 (objects and change log) and read back in the clear", async () => {
    const created = await call("POST", "/api/v1/namespaces/default/secrets", {
      metadata: { name: "db" },
      stringData: { password: "hunter2-plaintext" },
    });
    expect(created.status).toBe(201);
    expect(atob(created.body.data.password)).toBe("hunter2-plaintext");
    const rows = await env.DB.prepare(
      "SELECT body FROM objects WHERE resource = 'secrets' UNION ALL SELECT body FROM changes WHERE resource = 'secrets'",
    ).all<{ body: string }>();
    expect(rows.results.length).toBeGreaterThanOrEqual(2);
    const encoded = btoa("hunter2-plaintext");
    for (const r of rows.results) {
      expect(r.body).not.toContain(encoded);
      expect(r.body).toContain("kubeflare.io/sealed");
    }
    const got = await call("GET", "/api/v1/namespaces/default/secrets/db");
    expect(atob(got.body.data.password)).toBe("hunter2-plaintext");
  });
});
