// The install script and the agent bundle are public: a new host fetches them with curl before
// it has any credential. The script names the server it came from as the default --server.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const worker = (exports as unknown as { default: Fetcher }).default;
const get = (url: string) => worker.fetch(new Request(url));

describe("agent files", () => {
  it("serves install.sh without auth, with the request's origin as the default server", async () => {
    const res = await get("https://cp.example.com:8443/install.sh");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/x-shellscript/);
    const script = await res.text();
    expect(script.startsWith("#!/bin/sh\n")).toBe(true);
    expect(script).toContain("KUBEFLARE_SERVER:-https://cp.example.com:8443}");
    expect(script).not.toContain("__KUBEFLARE_SERVER__");

    const other = await (await get("http://127.0.0.1:6443/install.sh")).text();
    expect(other).toContain("KUBEFLARE_SERVER:-http://127.0.0.1:6443}");
  });

  it("serves the agent bundle without auth as one ES module", async () => {
    const res = await get("https://cp.example.com/agent/kubeflare-agent.mjs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/javascript/);
    const code = await res.text();
    expect(code.length).toBeGreaterThan(10_000);
    expect(code).toMatch(/^import\{createRequire as \w+\}from"node:module";/);
    expect(code).toContain("kubeflare-agent");
  });

  it("serves nothing else from public/agent and still guards the API", async () => {
    const raw = await get("https://cp.example.com/agent/install.sh");
    expect(raw.status).toBe(401);
    expect(((await raw.json()) as { kind: string }).kind).toBe("Status");
    expect((await get("https://cp.example.com/api/v1/namespaces")).status).toBe(401);
  });
});
