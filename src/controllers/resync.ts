// The level-triggered safety net: every RESYNC_SECONDS the sweep pokes the controller of every
// controlled object, so workloads converge even when every edge-triggered poke was lost. It also
// deletes expired join tokens.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import { openDb } from "../store/db.ts";
import { listObjects } from "../store/objects.ts";
import { objectCtx } from "./context.ts";
import { NAMESPACE_LIFECYCLE, poke, SCHEDULER, SWEPT, targetOf } from "./pokes.ts";
import { cleanExpiredTokens } from "./token-cleaner.ts";

const PAGE = 500;
const FIRST_SWEEP_MS = 1000;
/**
 * Pokes a second of the periodic sweep. Poked all at once, 1,000 nodes woke 1,000 lifecycle
 * objects within a second, and on the one local thread every API request waited seconds for
 * them; spread out, their passes mix with the requests (as informers jitter their resyncs).
 */
const SWEEP_RATE = 200;

export class Resync extends DurableObject<Env> {
  private get periodMs() {
    return Number(this.env.RESYNC_SECONDS ?? 60) * 1000;
  }

  /**
   * Make sure the periodic sweep is scheduled. With no alarm at all (a first start, or Durable
   * Object storage that did not survive a restart) the first sweep runs at once, so every
   * controller finds its work again without waiting a period.
   */
  async start(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null)
      await this.ctx.storage.setAlarm(Date.now() + FIRST_SWEEP_MS);
  }

  /** Poke the controller of every object of `resource` now (e.g. DaemonSets when nodes change). */
  sweep(resource: string): Promise<void> {
    return this.pokeAll(resource, false);
  }

  /** Poke the controller of every object of `resource`, at SWEEP_RATE when `paced`. */
  private async pokeAll(resource: string, paced: boolean): Promise<void> {
    const db = openDb(this.env.DB);
    const start = Date.now();
    let sent = 0;
    let after: { namespace: string; name: string } | undefined;
    for (;;) {
      const { rows } = await listObjects(db, { resource, after, limit: PAGE });
      const targets = rows.flatMap((r) => {
        const t = targetOf({ resource, namespace: r.namespace, name: r.name });
        return t ? [t] : [];
      });
      if (!paced) await Promise.all(targets.map((t) => poke(this.env, t)));
      else
        for (const t of targets) {
          const wait = start + (sent++ * 1000) / SWEEP_RATE - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          await poke(this.env, t);
        }
      const last = rows[rows.length - 1];
      if (rows.length < PAGE || !last) return;
      after = { namespace: last.namespace, name: last.name };
    }
  }

  override async alarm(): Promise<void> {
    try {
      for (const resource of SWEPT) await this.pokeAll(resource, true);
      await poke(this.env, SCHEDULER);
      await poke(this.env, NAMESPACE_LIFECYCLE);
      const { ctx, flush } = objectCtx(this.env);
      await cleanExpiredTokens(ctx);
      await flush();
    } finally {
      await this.ctx.storage.setAlarm(Date.now() + this.periodMs);
    }
  }
}
