import { describe, expect, it } from "vitest";
import { api, call } from "./helpers.ts";

const CM = "/api/v1/namespaces/default/configmaps";
const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

const names = (b: { items: { metadata: { name: string } }[] }) =>
  b.items.map((i) => i.metadata.name);

describe("list", () => {
  it("pages with limit and continue, and the pages add up to the whole list", async () => {
    for (let i = 0; i < 7; i++)
      await call("POST", CM, {
        metadata: { name: `page-${i}`, labels: { i: String(i), parity: i % 2 ? "odd" : "even" } },
      });
    const first = await call("GET", `${CM}?limit=3`);
    expect(names(first.body)).toEqual(["page-0", "page-1", "page-2"]);
    expect(first.body.metadata.continue).toBeTruthy();
    const second = await call(
      "GET",
      `${CM}?limit=3&continue=${encodeURIComponent(first.body.metadata.continue)}`,
    );
    expect(names(second.body)).toEqual(["page-3", "page-4", "page-5"]);
    const third = await call(
      "GET",
      `${CM}?limit=3&continue=${encodeURIComponent(second.body.metadata.continue)}`,
    );
    expect(names(third.body)).toEqual(["page-6"]);
    expect(third.body.metadata.continue).toBeUndefined();
    expect(third.body.metadata.resourceVersion).toBe(first.body.metadata.resourceVersion);
    const bad = await call("GET", `${CM}?limit=3&continue=garbage`);
    expect(bad.status).toBe(400);
  });

  it("filters by equality and set-based label selectors, also with limit", async () => {
    const sel = (s: string) => call("GET", `${CM}?labelSelector=${encodeURIComponent(s)}`);
    expect(names((await sel("parity=odd")).body)).toEqual(["page-1", "page-3", "page-5"]);
    expect(names((await sel("i in (0,6),parity!=odd")).body)).toEqual(["page-0", "page-6"]);
    expect(names((await sel("!parity")).body)).toEqual([]);
    const limited = await call("GET", `${CM}?labelSelector=parity%3Deven&limit=2`);
    expect(names(limited.body)).toEqual(["page-0", "page-2"]);
    const rest = await call(
      "GET",
      `${CM}?labelSelector=parity%3Deven&limit=2&continue=${encodeURIComponent(limited.body.metadata.continue)}`,
    );
    expect(names(rest.body)).toEqual(["page-4", "page-6"]);
    const bad = await sel("a in (b");
    expect(bad.status).toBe(400);
  });

  it("filters by metadata field selectors and refuses unsupported fields", async () => {
    const r = await call("GET", `${CM}?fieldSelector=metadata.name%3Dpage-4`);
    expect(names(r.body)).toEqual(["page-4"]);
    const not = await call("GET", `${CM}?fieldSelector=metadata.name!%3Dpage-4`);
    expect(names(not.body)).not.toContain("page-4");
    const bad = await call("GET", `${CM}?fieldSelector=spec.bogus%3Dx`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("field label not supported: spec.bogus");
  });

  it("lists across namespaces", async () => {
    const all = await call("GET", "/api/v1/configmaps");
    expect(all.body.kind).toBe("ConfigMapList");
    expect(names(all.body)).toContain("page-0");
  });

  it("answers Tables when kubectl asks, with metadata or whole objects", async () => {
    const res = await api("GET", `${CM}?limit=2`, undefined, { accept: TABLE });
    const t = (await res.json()) as {
      kind: string;
      columnDefinitions: { name: string }[];
      rows: { cells: unknown[]; object: { kind: string } }[];
    };
    expect(t.kind).toBe("Table");
    expect(t.columnDefinitions.map((c) => c.name)).toEqual(["Name", "Data", "Age"]);
    expect(t.rows[0].cells[0]).toBe("page-0");
    expect(t.rows[0].object.kind).toBe("PartialObjectMetadata");
    const full = await api("GET", `${CM}/page-1?includeObject=Object`, undefined, {
      accept: TABLE,
    });
    const ft = (await full.json()) as { rows: { object: { kind: string } }[] };
    expect(ft.rows[0].object.kind).toBe("ConfigMap");
  });

  it("deletes a collection by label", async () => {
    const r = await call("DELETE", `${CM}?labelSelector=parity%3Dodd`);
    expect(r.status).toBe(200);
    expect(names(r.body).sort()).toEqual(["page-1", "page-3", "page-5"]);
    const left = await call("GET", `${CM}?labelSelector=parity`);
    expect(names(left.body)).toEqual(["page-0", "page-2", "page-4", "page-6"]);
  });
});

describe("discovery and OpenAPI", () => {
  it("serves aggregated discovery with its content type", async () => {
    const res = await api("GET", "/apis", undefined, {
      accept:
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    });
    expect(res.headers.get("content-type")).toContain("as=APIGroupDiscoveryList");
    const body = (await res.json()) as { items: { metadata: { name: string } }[] };
    expect(body.items.map((i) => i.metadata.name)).toContain("apps");
    const legacy = await call("GET", "/api/v1");
    expect(legacy.body.resources.find((r: { name: string }) => r.name === "pods").namespaced).toBe(
      true,
    );
    const version = await api("GET", "/version", undefined, { authorization: "" });
    expect(version.status).toBe(200);
  });

  it("serves the OpenAPI v3 index and group-version documents", async () => {
    const index = await call("GET", "/openapi/v3");
    expect(index.status).toBe(200);
    const url: string = index.body.paths["apis/apps/v1"].serverRelativeURL;
    const doc = await call("GET", url);
    expect(doc.body.components.schemas["io.k8s.api.apps.v1.Deployment"]).toBeTruthy();
  });
});
