// The base of every controller Durable Object (DESIGN.md, "Controllers as Durable Objects"):
// a poke remembers which object this instance reconciles and sets a short alarm (bursts
// coalesce); the alarm runs one idempotent reconcile and keeps exactly one alarm for the next
// check. A throw is logged and retried with back-off, never lost.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import type { Ctx } from "../resources/rest.ts";
import type { Key } from "../store/objects.ts";
import { objectCtx } from "./context.ts";

/** What a reconcile wants next: a check after `ms`, the periodic resync, or nothing (gone). */
export type Next = { after: number } | "resync" | "gone";

export const soon = (ms: number): Next => ({ after: ms });

/** Delay between a poke and the reconcile it triggers, so a burst of writes costs one pass. */
const POKE_DELAY_MS = 20;
const MAX_BACKOFF_MS = 60_000;

export abstract class Reconciler extends DurableObject<Env> {
  /** The periodic re-check of an object that is otherwise idle. */
  protected resyncMs = 60_000;
  private key?: Key;
  private failures = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** The pokes of the pass's contexts: made and awaited as it ends (context.ts says why). */
  private flushes: (() => Promise<void>)[] = [];

  protected abstract reconcile(ctx: Ctx, key: Key): Promise<Next>;

  /** Wake up for `key` (the object this instance owns). */
  async poke(key: Key): Promise<void> {
    if (!this.key) {
      this.key = key;
      await this.ctx.storage.put("key", key);
    }
    const at = await this.ctx.storage.getAlarm();
    if (at === null || at > Date.now() + POKE_DELAY_MS)
      await this.ctx.storage.setAlarm(Date.now() + POKE_DELAY_MS);
  }

  /**
   * Passes never overlap: an alarm and an RPC can arrive together, and a pass reads then writes,
   * so two at once could both create the same missing pod.
   */
  protected serially<T>(f: () => Promise<T>): Promise<T> {
    const pass = async () => {
      try {
        return await f();
      } finally {
        while (this.flushes.length)
          await Promise.allSettled(this.flushes.splice(0).map((f) => f()));
      }
    };
    const run = this.queue.then(pass, pass);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Run one reconcile now (tests use it to step a controller deterministically). */
  async reconcileNow(): Promise<Next | undefined> {
    const key = this.key ?? (await this.ctx.storage.get<Key>("key"));
    if (!key) return undefined;
    this.key = key;
    return this.serially(() => this.reconcile(this.writeCtx(), key));
  }

  /**
   * The store context a pass writes through (for subclasses' own RPCs). Its writes do not poke
   * this object: the pass knows what it wrote.
   */
  protected writeCtx(): Ctx {
    const { ctx, flush } = objectCtx(this.env, this.key);
    this.flushes.push(flush);
    return ctx;
  }

  override async alarm(): Promise<void> {
    let next: Next | undefined;
    try {
      next = await this.reconcileNow();
      this.failures = 0;
    } catch (err) {
      this.failures++;
      console.error(`${this.constructor.name} ${JSON.stringify(this.key)}:`, err);
      next = { after: Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.failures) };
    }
    if (next === undefined) return;
    if (next === "gone") {
      // A poke during the pass set an alarm: what it announced (a Service made in a namespace
      // that had none) may be what this pass did not see. The alarm's pass looks again.
      if ((await this.ctx.storage.getAlarm()) !== null) return;
      // The object is gone: forget it. The alarm has fired, so its key is all this object
      // stores (deleteAll cost more: a namespace without Services lands here on every poke).
      this.key = undefined;
      await this.ctx.storage.delete("key");
      return;
    }
    const at =
      Date.now() + (next === "resync" ? this.resyncMs : Math.max(POKE_DELAY_MS, next.after));
    // A poke during this handler set an alarm (getAlarm is null in a handler until one is set):
    // it may concern what the pass had already read, so a sooner one stands.
    const poked = await this.ctx.storage.getAlarm();
    if (poked === null || poked > at) await this.ctx.storage.setAlarm(at);
  }
}
