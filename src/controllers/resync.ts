// The level-triggered safety net: every RESYNC_SECONDS the sweep pokes the controller of every
// controlled object, so workloads converge even when every edge-triggered poke was lost. It also
// deletes expired join tokens.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import { openDb } from "../store/db.ts";
import { listObjects } from "../store/objects.ts";
import { objectCtx } from "./context.ts";
import { poke, SCHEDULER, SWEPT, targetOf } from "./pokes.ts";
import { cleanExpiredTokens } from "./token-cleaner.ts";

const PAGE = 500;
const FIRST_SWEEP_MS = 1000;

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
  async sweep(resource: string): Promise<void> {
    const db = openDb(this.env.DB);
    let after: { namespace: string; name: string } | undefined;
    for (;;) {
      const { rows } = await listObjects(db, { resource, after, limit: PAGE });
      await Promise.all(
        rows.map((r) => {
          const t = targetOf({ resource, namespace: r.namespace, name: r.name });
          return t ? poke(this.env, t) : undefined;
        }),
      );
      const last = rows[rows.length - 1];
      if (rows.length < PAGE || !last) return;
      after = { namespace: last.namespace, name: last.name };
    }
  }

  override async alarm(): Promise<void> {
    try {
      for (const resource of SWEPT) await this.sweep(resource);
      await poke(this.env, SCHEDULER);
      const { ctx, flush } = objectCtx(this.env);
      await cleanExpiredTokens(ctx);
      await flush();
    } finally {
      await this.ctx.storage.setAlarm(Date.now() + this.periodMs);
    }
  }
}
