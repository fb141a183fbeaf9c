import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, call } from "./helpers.ts";

interface Event {
  type: string;
  object: {
    kind?: string;
    metadata: { name?: string; resourceVersion: string; annotations?: Record<string, string> };
    code?: number;
    reason?: string;
  };
}

/** Open a watch and read events from it until `count` arrived (or the stream ends). */
async function openWatch(path: string) {
  const res = await api("GET", path);
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = "";
  const events: Event[] = [];
  return {
    async take(count: number, timeoutMs = 5000): Promise<Event[]> {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count) {
        if (Date.now() > deadline) throw new Error(`got ${events.length} of ${count} events`);
        const { value, done } = await Promise.race([
          reader.read(),
          new Promise<{ value: undefined; done: true }>((r) =>
            setTimeout(() => r({ value: undefined, done: true }), deadline - Date.now()),
          ),
        ]);
        if (done) break;
        buf += dec.decode(value, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          events.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
      }
      return events.splice(0, count);
    },
    close: () => reader.cancel(),
  };
}

const cm = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, labels },
  data: { v: "1" },
});
const CM = "/api/v1/namespaces/default/configmaps";

describe("watch", () => {
  it("streams ADDED, MODIFIED and DELETED in order from a list's resourceVersion", async () => {
    await call("POST", CM, cm("before"));
    const list = await call("GET", CM);
    const w = await openWatch(
      `${CM}?watch=1&resourceVersion=${list.body.metadata.resourceVersion}`,
    );
    await call("POST", CM, cm("w1"));
    await call(
      "PATCH",
      `${CM}/w1`,
      { data: { v: "2" } },
      { "content-type": "application/merge-patch+json" },
    );
    await call("DELETE", `${CM}/w1`);
    const events = await w.take(3);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
      "ADDED w1",
      "MODIFIED w1",
      "DELETED w1",
    ]);
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
    await w.close();
  });

  it("starts with the current state as ADDED events when no resourceVersion is given", async () => {
    await call("POST", "/api/v1/namespaces", { metadata: { name: "fresh" } });
    const FRESH = "/api/v1/namespaces/fresh/configmaps";
    await call("POST", FRESH, cm("s1"));
    await call("POST", FRESH, cm("s2"));
    const w = await openWatch(`${FRESH}?watch=true`);
    const events = await w.take(2);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`).sort()).toEqual([
      "ADDED s1",
      "ADDED s2",
    ]);
    await w.close();
  });

  it("with a label selector, an object that stops matching is DELETED and one that starts is ADDED", async () => {
    const list = await call("GET", CM);
    const w = await openWatch(
      `${CM}?watch=1&labelSelector=tier%3Dfront&resourceVersion=${list.body.metadata.resourceVersion}`,
    );
    await call("POST", CM, cm("l1", { tier: "front" }));
    await call("POST", CM, cm("l2", { tier: "back" }));
    const merge = { "content-type": "application/merge-patch+json" };
    await call("PATCH", `${CM}/l1`, { metadata: { labels: { tier: "back" } } }, merge);
    await call("PATCH", `${CM}/l2`, { metadata: { labels: { tier: "front" } } }, merge);
    const events = await w.take(3);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
      "ADDED l1",
      "DELETED l1",
      "ADDED l2",
    ]);
    await w.close();
  });

  it("sends bookmarks when asked", async () => {
    const list = await call("GET", CM);
    const w = await openWatch(
      `${CM}?watch=1&allowWatchBookmarks=true&resourceVersion=${list.body.metadata.resourceVersion}`,
    );
    const hub = env.WATCH_HUB.getByName("hub");
    await new Promise((r) => setTimeout(r, 1100));
    await runDurableObjectAlarm(hub);
    const [bm] = await w.take(1);
    expect(bm.type).toBe("BOOKMARK");
    expect(Number(bm.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      Number(list.body.metadata.resourceVersion),
    );
    await w.close();
  });

  it("answers 410 Expired for a resourceVersion older than the compacted log", async () => {
    const first = await call("POST", CM, cm("old"));
    const oldRv = Number(first.body.metadata.resourceVersion);
    for (let i = 0; i < 120; i++)
      await call(
        "PATCH",
        `${CM}/old`,
        { data: { v: String(i) } },
        { "content-type": "application/merge-patch+json" },
      );
    const hub = env.WATCH_HUB.getByName("hub");
    await runDurableObjectAlarm(hub);
    const w = await openWatch(`${CM}?watch=1&resourceVersion=${oldRv}`);
    const [ev] = await w.take(1);
    expect(ev.type).toBe("ERROR");
    expect(ev.object).toMatchObject({ kind: "Status", code: 410, reason: "Expired" });
  });
});
