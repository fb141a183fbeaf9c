import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { call } from "./helpers.ts";

const CM = "/api/v1/namespaces/default/configmaps";
const merge = { "content-type": "application/merge-patch+json" };

/** A client doing read-modify-write with the resourceVersion it read, retrying on 409. */
async function increment(name: string): Promise<number> {
  let conflicts = 0;
  for (;;) {
    const cur = await call("GET", `${CM}/${name}`);
    const n = Number(cur.body.data.count);
    const res = await call("PUT", `${CM}/${name}`, { ...cur.body, data: { count: String(n + 1) } });
    if (res.status === 200) return conflicts;
    expect(res.status).toBe(409);
    expect(res.body.reason).toBe("Conflict");
    conflicts++;
  }
}

describe("optimistic concurrency", () => {
  it("parallel conflicting updates never lose a write", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        async (clients, each) => {
          const name = `counter-${run++}`;
          await call("POST", CM, { metadata: { name }, data: { count: "0" } });
          await Promise.all(
            Array.from({ length: clients }, async () => {
              for (let i = 0; i < each; i++) await increment(name);
            }),
          );
          const final = await call("GET", `${CM}/${name}`);
          expect(Number(final.body.data.count)).toBe(clients * each);
        },
      ),
      { numRuns: 6 },
    );
  }, 60_000);

  it("parallel patches without a resourceVersion all land (the server retries)", async () => {
    await call("POST", CM, { metadata: { name: "patched" }, data: {} });
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call("PATCH", `${CM}/patched`, { data: { [`k${i}`]: "v" } }, merge),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    const final = await call("GET", `${CM}/patched`);
    expect(Object.keys(final.body.data).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `k${i}`).sort(),
    );
  });

  it("a stale resourceVersion gets 409 Conflict and changes nothing", async () => {
    const created = await call("POST", CM, { metadata: { name: "stale" }, data: { v: "1" } });
    await call("PATCH", `${CM}/stale`, { data: { v: "2" } }, merge);
    const stale = await call("PUT", `${CM}/stale`, { ...created.body, data: { v: "3" } });
    expect(stale.status).toBe(409);
    expect(stale.body.message).toBe(
      'Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again',
    );
    const stalePatch = await call(
      "PATCH",
      `${CM}/stale`,
      { metadata: { resourceVersion: created.body.metadata.resourceVersion }, data: { v: "4" } },
      merge,
    );
    expect(stalePatch.status).toBe(409);
    expect((await call("GET", `${CM}/stale`)).body.data.v).toBe("2");
  });
  it("an update starts from this isolate's copy, yet never over another isolate's write", async () => {
    const created = await call("POST", CM, { metadata: { name: "copied" }, data: { a: "1" } });
    // Another isolate (here: SQL beside the API) writes the ConfigMap: this isolate's copy of it
    // is then stale.
    const theirWrite = async (data: Record<string, string>) => {
      const { resourceVersion: _, ...metadata } = created.body.metadata;
      const body = JSON.stringify({ ...created.body, metadata, data });
      await env.DB.batch([
        env.DB.prepare(
          "INSERT INTO changes (resource, namespace, name, type, body) VALUES ('configmaps', 'default', 'copied', 'MODIFIED', ?1)",
        ).bind(body),
        env.DB.prepare(
          "UPDATE objects SET rv = (SELECT max(rv) FROM changes), body = ?1 WHERE resource = 'configmaps' AND namespace = 'default' AND name = 'copied'",
        ).bind(body),
      ]);
    };
    await theirWrite({ a: "1", theirs: "x" });
    const patched = await call("PATCH", `${CM}/copied`, { data: { b: "2" } }, merge);
    expect(patched.status).toBe(200);
    expect(patched.body.data).toEqual({ a: "1", theirs: "x", b: "2" });
    // A patch that would change nothing on the stale copy still changes the current object.
    await call("PATCH", `${CM}/copied`, { data: { c: "3" } }, merge);
    await theirWrite({ a: "1", theirs: "y" });
    const again = await call("PATCH", `${CM}/copied`, { data: { c: "3" } }, merge);
    expect(again.body.data).toEqual({ a: "1", theirs: "y", c: "3" });
    expect((await call("GET", `${CM}/copied`)).body.data).toEqual({ a: "1", theirs: "y", c: "3" });
    // And one that would change the stale copy, but not the current object, writes nothing.
    await theirWrite({ a: "1", theirs: "z", c: "4" });
    const row = await env.DB.prepare(
      "SELECT rv FROM objects WHERE resource = 'configmaps' AND namespace = 'default' AND name = 'copied'",
    ).first<{ rv: number }>();
    const same = await call("PATCH", `${CM}/copied`, { data: { c: "4" } }, merge);
    expect(same.status).toBe(200);
    expect(same.body.data).toEqual({ a: "1", theirs: "z", c: "4" });
    expect(same.body.metadata.resourceVersion).toBe(String(row?.rv));
  });
});
