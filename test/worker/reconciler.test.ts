// The controller base (src/controllers/reconciler.ts): what an alarm leaves behind for the next
// pass.
import { env, runInDurableObject } from "cloudflare:test";
import type { DurableObject } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call } from "./helpers.ts";

const NS = "reconciler";

describe("reconciler", () => {
  it.each([
    ["once the pass has read", false],
    ["while the pass's own pokes go out", true],
  ])("a poke that lands %s brings the next pass soon, not at the resync", async (_, asItEnds) => {
    const name = asItEnds ? "idle-b" : "idle-a";
    const key = { resource: "apps/replicasets", namespace: NS, name };
    await call("POST", "/api/v1/namespaces", { metadata: { name: NS } });
    const rs = await call("POST", `/apis/apps/v1/namespaces/${NS}/replicasets`, {
      metadata: { name },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: "c", image: "busybox" }] },
        },
      },
    });
    expect(rs.status).toBe(201);
    const stub = env.REPLICASET.getByName(`apps/replicasets/${NS}/${name}`);
    await stub.poke(key);
    // An idle ReplicaSet's pass ends in the periodic resync, a minute away.
    expect(await stub.reconcileNow()).toBe("resync");

    // The stub's RPC types are too deep for runInDurableObject's generics.
    const plain = stub as unknown as DurableObjectStub<DurableObject>;
    await runInDurableObject<DurableObject, void>(plain, async (object, state) => {
      const instance = object as any;
      await state.storage.deleteAlarm();
      const pass = instance.reconcile;
      // Someone's write pokes the controller after the pass has read the world: what it read
      // may be stale, so the poke must not be lost under the resync alarm the pass ends with.
      instance.reconcile = async (...args: unknown[]) => {
        const next = await pass.apply(instance, args);
        // The pass's flushes (its pokes of other controllers) run after it returns.
        if (asItEnds) instance.flushes.push(() => instance.poke(key));
        else await instance.poke(key);
        return next;
      };
      try {
        await instance.alarm();
      } finally {
        instance.reconcile = pass;
      }
      const at = await state.storage.getAlarm();
      expect(at).not.toBeNull();
      expect((at ?? 0) - Date.now()).toBeLessThan(5_000);
    });
  });
  it("a pass that finds nothing to do keeps a poke that landed meanwhile, else forgets its object", async () => {
    const ns = "reconciler-gone";
    const key = { resource: "endpoints", namespace: ns, name: ns };
    await call("POST", "/api/v1/namespaces", { metadata: { name: ns } });
    const stub = env.ENDPOINTS.getByName(`endpoints/${ns}`);
    const plain = stub as unknown as DurableObjectStub<DurableObject>;
    await runInDurableObject<DurableObject, void>(plain, async (object, state) => {
      const instance = object as any;
      await instance.poke(key);
      await state.storage.deleteAlarm();
      const pass = instance.reconcile;
      // A namespace without Services has no endpoints to keep: the pass says "gone". A Service
      // made as it ends pokes it; that poke must survive the pass.
      instance.reconcile = async (...args: unknown[]) => {
        const next = await pass.apply(instance, args);
        expect(next).toBe("gone");
        await instance.poke(key);
        return next;
      };
      try {
        await instance.alarm();
      } finally {
        instance.reconcile = pass;
      }
      expect(await state.storage.getAlarm()).not.toBeNull();
      expect(await state.storage.get("key")).toEqual(key);
      // The next pass, with no poke during it, forgets the object and leaves no alarm.
      await state.storage.deleteAlarm();
      await instance.alarm();
      expect(await state.storage.getAlarm()).toBeNull();
      expect(await state.storage.list()).toEqual(new Map());
    });
  });
});
