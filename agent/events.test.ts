// The event recorder queues a burst instead of dropping it, and sends two at a time.
import { describe, expect, it } from "vitest";
import { eventRecorder } from "./events.ts";

describe("event recorder", () => {
  it("posts every event of a burst, at most two at a time", async () => {
    const posted: string[] = [];
    let inflight = 0;
    let most = 0;
    const api = {
      raw: async (_method: string, path: string, body?: unknown) => {
        inflight++;
        most = Math.max(most, inflight);
        await new Promise((r) => setTimeout(r, 2));
        posted.push(`${path} ${(body as { reason: string }).reason}`);
        inflight--;
        return { status: 201, body: {} };
      },
    };
    const record = eventRecorder(api, "node-a");
    const pod = { metadata: { namespace: "ns", name: "p", uid: "u" } };
    for (let i = 0; i < 90; i++) record(pod, "Normal", `R${i}`, "m", "c");
    while (posted.length < 90) await new Promise((r) => setTimeout(r, 5));
    expect(most).toBe(2);
    expect(posted.every((p) => p.startsWith("/api/v1/namespaces/ns/events R"))).toBe(true);
    const sent = posted.map((p) => Number(p.split(" R")[1])).sort((a, b) => a - b);
    expect(sent).toEqual([...Array(90).keys()]);
  });
});
