import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.ts";

describe("restart back-off", () => {
  it("restarts at once the first time, then waits 10 s, 20 s, 40 s … capped at 5 min", () => {
    const b = new Backoff();
    let t = 1_000_000;
    expect(b.readyAt("c")).toBe(0);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      b.started("c", t);
      const at = b.readyAt("c", 1000);
      waits.push((at - t) / 1000);
      t = at;
    }
    expect(waits).toEqual([10, 20, 40, 80, 160, 300, 300, 300]);
    expect(b.delaySeconds("c")).toBe(300);
  });

  it("starts over after a run of 10 minutes, and forgets a pod's keys", () => {
    const b = new Backoff();
    b.started("uid/a", 0);
    b.started("uid/a", 10_000);
    expect(b.readyAt("uid/a", 600_000)).toBe(0);
    b.started("uid/b", 0);
    b.started("other/b", 0);
    b.forget("uid/");
    expect(b.readyAt("uid/b")).toBe(0);
    expect(b.readyAt("other/b")).toBe(10_000);
  });
});
