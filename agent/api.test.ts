// The informer against a small HTTP server speaking the Kubernetes list/watch protocol: it
// resumes watches from the last resourceVersion, relists after 410 Gone, and retries while the
// server is away.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Api, ApiError, informer } from "./api.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

async function serve(handler: Handler) {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push(`${req.method} ${url.pathname}${url.search} ${req.headers.authorization ?? ""}`);
    handler(req, res, url);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { server, requests, url: `http://127.0.0.1:${port}` };
}

const pod = (name: string, rv: string) => ({ metadata: { name, resourceVersion: rv } });
const line = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

describe("API client", () => {
  it("sends the bearer credential and turns Status errors into ApiError", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(403, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", reason: "Forbidden", message: "nope", code: 403 }));
    });
    const api = new Api({ server: s.url, credential: "secret" });
    cleanup.push(
      () => s.server.close(),
      () => api.close(),
    );
    const err = await api.get("/api/v1/nodes").catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(403);
    expect(err.reason).toBe("Forbidden");
    expect(err.message).toContain("nope");
    expect(s.requests).toEqual(["GET /api/v1/nodes Bearer secret"]);
  });
});

describe("informer", () => {
  it("lists, watches from the list's resourceVersion, and relists after 410 Gone", async () => {
    let lists = 0;
    const s = await serve((_req, res, url) => {
      res.writeHead(200, { "content-type": "application/json" });
      if (!url.searchParams.has("watch")) {
        lists++;
        const items = lists === 1 ? [pod("a", "5")] : [pod("b", "9")];
        res.end(JSON.stringify({ metadata: { resourceVersion: lists === 1 ? "5" : "9" }, items }));
        return;
      }
      const rv = url.searchParams.get("resourceVersion");
      if (rv === "5") {
        res.write(line("MODIFIED", pod("a", "6")));
        res.end(
          line("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old" }),
        );
      } else if (rv === "9") {
        res.write(line("BOOKMARK", { metadata: { resourceVersion: "10" } }));
        res.write(line("ADDED", pod("c", "11")));
        // Held open, as a live watch is.
      } else res.end();
    });
    const api = new Api({ server: s.url });
    const seen: string[] = [];
    const inf = informer(api, "/api/v1/pods?fieldSelector=spec.nodeName%3Dn", {
      onList: (items) => seen.push(`list ${items.map((i) => i.metadata.name).join(",")}`),
      onEvent: (type, obj) => seen.push(`${type} ${obj.metadata.name}`),
    });
    cleanup.push(
      () => inf.stop(),
      () => api.close(),
      () => s.server.close(),
    );
    await expect
      .poll(() => seen, { timeout: 5000 })
      .toEqual(["list a", "MODIFIED a", "list b", "ADDED c"]);
    const watches = s.requests.filter((r) => r.includes("watch=1"));
    expect(watches[0]).toContain("resourceVersion=5");
    expect(watches[1]).toContain("resourceVersion=9");
    expect(watches[0]).toContain("fieldSelector=spec.nodeName%3Dn");
  });

  it("resumes from the last resourceVersion seen when a watch ends, and retries when refused", async () => {
    let watches = 0;
    const s = await serve((_req, res, url) => {
      if (!url.searchParams.has("watch")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ metadata: { resourceVersion: "1" }, items: [] }));
        return;
      }
      watches++;
      if (watches === 2) {
        // The control plane is briefly unavailable.
        res.writeHead(503);
        res.end("unavailable");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      if (watches === 1) res.end(line("ADDED", pod("x", "7")));
    });
    const api = new Api({ server: s.url });
    const logs: string[] = [];
    const inf = informer(api, "/api/v1/pods", {
      onList: () => {},
      onEvent: () => {},
      log: (m) => logs.push(m),
    });
    cleanup.push(
      () => inf.stop(),
      () => api.close(),
      () => s.server.close(),
    );
    await expect.poll(() => watches, { timeout: 5000 }).toBe(3);
    const rvs = s.requests
      .filter((r) => r.includes("watch=1"))
      .map((r) => /resourceVersion=(\d+)/.exec(r)?.[1]);
    expect(rvs).toEqual(["1", "7", "7"]);
    expect(s.requests.filter((r) => !r.includes("watch=1"))).toHaveLength(1);
    expect(logs.join("\n")).toMatch(/503/);
  });
});
