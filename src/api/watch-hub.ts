// The WatchHub Durable Object: tails the change log and fans events out to open watch streams
// (DESIGN.md, "Watch fan-out"). Pokes only wake it; the alarm tails too, so a lost poke delays an
// event but never loses or reorders one.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import { parseFieldSelector } from "../k8s/fields.ts";
import { parseSelector } from "../k8s/labels.ts";
import { allStrategies } from "../resources/registry.ts";
import { selectable } from "../resources/rest.ts";
import type { Strategy } from "../resources/types.ts";
import { compact, compactedRevision } from "../store/compaction.ts";
import { type DB, openDb } from "../store/db.ts";
import {
  type ChangeRow,
  changesAfter,
  currentRevision,
  type KObject,
  listObjects,
  withRv,
} from "../store/objects.ts";
import { configureSealing } from "../store/sealing.ts";

export interface WatchQuery {
  resource: string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** "" or "0": start with the current state as ADDED events. */
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
}

interface Watcher {
  q: WatchQuery;
  strategy: Strategy;
  matches: (o: { labels: Record<string, string>; fields: Record<string, string> }) => boolean;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Revision of the last event this watcher has been given (or skipped). */
  sent: number;
  live: boolean;
  deadline: number;
  lastBookmark: number;
}

const PAGE = 500;
/** A watcher whose client reads slower than this many queued bytes is dropped; it will resume. */
const MAX_BUFFERED = 8 << 20;
const TICK_MS = 1000;
const COMPACT_EVERY_MS = 60_000;

const encoder = new TextEncoder();

export class WatchHub extends DurableObject<Env> {
  private db: DB;
  private cursor = -1;
  private watchers = new Set<Watcher>();
  private tailing = false;
  private again = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    configureSealing(env.SECRETS_KEY);
    this.db = openDb(env.DB);
  }

  /** Open a watch: returns the event stream (Kubernetes' streaming JSON, one event per line). */
  async watch(q: WatchQuery): Promise<ReadableStream<Uint8Array>> {
    const strategy = allStrategies().find((s) => key(s) === q.resource);
    if (!strategy) throw new Error(`unknown resource ${q.resource}`);
    const labels = q.labelSelector ? parseSelector(q.labelSelector) : undefined;
    const fields = q.fieldSelector ? parseFieldSelector(q.fieldSelector) : undefined;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(undefined, {
      highWaterMark: MAX_BUFFERED,
    });
    const now = Date.now();
    const w: Watcher = {
      q,
      strategy,
      matches: (o) =>
        (!labels || labels.matches(o.labels)) && (!fields || fields.matches(o.fields)),
      writer: writable.getWriter(),
      sent: 0,
      live: false,
      deadline: now + (q.timeoutSeconds ?? 1800) * 1000,
      lastBookmark: now,
    };
    w.writer.closed.catch(() => this.watchers.delete(w));
    this.watchers.add(w);
    await this.ensureCursor();
    await this.ensureAlarm();
    // Catch up in the background; the response starts streaming at once.
    this.ctx.waitUntil(this.start(w).catch((err) => this.fail(w, err)));
    return readable;
  }

  /** Wake up: new changes were committed. */
  async poke(): Promise<void> {
    if (this.watchers.size === 0) return;
    await this.tail();
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    // Cheap when there is nothing to do: one indexed max() and an empty delete.
    await compact(this.db, Number(this.env.CHANGE_LOG_RETAIN ?? 20000));
    if (this.watchers.size === 0) {
      // Stay alive for compaction, but rarely.
      await this.ctx.storage.setAlarm(Date.now() + COMPACT_EVERY_MS);
      return;
    }
    await this.tail();
    const period = Number(this.env.BOOKMARK_SECONDS ?? 60) * 1000;
    for (const w of this.watchers) {
      if (now >= w.deadline) this.close(w);
      else if (w.live && w.q.allowWatchBookmarks && now - w.lastBookmark >= period) {
        w.sent = Math.max(w.sent, this.cursor);
        this.bookmark(w);
      }
    }
    await this.ctx.storage.setAlarm(Date.now() + TICK_MS);
  }

  private async ensureAlarm() {
    const at = await this.ctx.storage.getAlarm();
    if (at === null || at > Date.now() + TICK_MS)
      await this.ctx.storage.setAlarm(Date.now() + TICK_MS);
  }

  private async ensureCursor() {
    if (this.cursor < 0) {
      const rv = await currentRevision(this.db);
      if (this.cursor < 0) this.cursor = rv;
    }
  }

  private async start(w: Watcher) {
    const rv = w.q.resourceVersion;
    if (!rv || rv === "0" || w.q.sendInitialEvents) {
      await this.sendInitialState(w);
    } else {
      const from = Number(rv);
      if (!Number.isInteger(from) || from < 0) {
        return this.error(w, 400, "BadRequest", `invalid resource version: ${rv}`);
      }
      const compacted = await compactedRevision(this.db);
      if (from < compacted) {
        return this.error(w, 410, "Expired", `too old resource version: ${from} (${compacted})`);
      }
      w.sent = from;
    }
    // Replay what happened since, until caught up with the hub's live cursor. All resources are
    // read (filtered in deliver) so that `sent` reaches the log's head when a page comes back short.
    for (;;) {
      const rows = await changesAfter(this.db, w.sent, PAGE);
      for (const row of rows) this.deliver(w, row);
      if (rows.length < PAGE && w.sent >= this.cursor) break;
    }
    w.live = true;
    if (w.q.sendInitialEvents && w.q.allowWatchBookmarks) this.bookmark(w, true);
  }

  private async sendInitialState(w: Watcher) {
    let after: { namespace: string; name: string } | undefined;
    let rv = 0;
    for (;;) {
      const page = await listObjects(this.db, {
        resource: w.q.resource,
        namespace: w.q.namespace,
        after,
        limit: PAGE,
      });
      if (!after) rv = page.rv;
      for (const row of page.rows) {
        // Later pages may be newer than the first page's revision; the replay skips what we sent.
        const o = withRv(row.body, row.rv);
        if (w.matches(selectable(w.strategy, o))) this.send(w, "ADDED", o);
      }
      const last = page.rows[page.rows.length - 1];
      if (page.rows.length < PAGE || !last) break;
      after = { namespace: last.namespace, name: last.name };
    }
    w.sent = rv;
  }

  private async tail() {
    if (this.tailing) {
      this.again = true;
      return;
    }
    this.tailing = true;
    try {
      await this.ensureCursor();
      do {
        this.again = false;
        for (;;) {
          const rows = await changesAfter(this.db, this.cursor, PAGE);
          for (const row of rows) this.publish(row);
          if (rows.length) this.cursor = rows[rows.length - 1].rv;
          if (rows.length < PAGE) break;
        }
      } while (this.again);
    } finally {
      this.tailing = false;
    }
  }

  private publish(row: ChangeRow) {
    let obj: KObject | undefined;
    for (const w of this.watchers) {
      if (!w.live || row.rv <= w.sent) continue;
      if (w.q.resource !== row.resource) {
        w.sent = row.rv;
        continue;
      }
      obj ??= withRv(row.body, row.rv);
      this.deliver(w, row, obj);
    }
  }

  /** Send one change to one watcher, translated by its filter (objects entering or leaving it). */
  private deliver(w: Watcher, row: ChangeRow, obj?: KObject) {
    if (row.rv <= w.sent) return;
    w.sent = row.rv;
    if (row.resource !== w.q.resource) return;
    if (w.q.namespace && row.namespace !== w.q.namespace) return;
    obj ??= withRv(row.body, row.rv);
    const now = w.matches(selectable(w.strategy, obj));
    const before = row.prev ? w.matches(JSON.parse(row.prev)) : false;
    let type: string | undefined;
    if (row.type === "ADDED") type = now ? "ADDED" : undefined;
    else if (row.type === "DELETED") type = now || before ? "DELETED" : undefined;
    else if (now) type = before || !row.prev ? "MODIFIED" : "ADDED";
    else if (before) type = "DELETED";
    if (type) this.send(w, type, obj);
  }

  private send(w: Watcher, type: string, object: unknown) {
    if ((w.writer.desiredSize ?? 0) < 0) {
      // The client is not keeping up: drop it rather than hold unbounded memory.
      this.close(w);
      return;
    }
    w.writer
      .write(encoder.encode(`${JSON.stringify({ type, object })}\n`))
      .catch(() => this.close(w));
  }

  private bookmark(w: Watcher, initialEventsEnd = false) {
    w.lastBookmark = Date.now();
    const { group, version, kind } = w.strategy.info;
    const metadata: KObject = { resourceVersion: String(w.sent) };
    if (initialEventsEnd) metadata.annotations = { "k8s.io/initial-events-end": "true" };
    this.send(w, "BOOKMARK", {
      kind,
      apiVersion: group ? `${group}/${version}` : version,
      metadata,
    });
  }

  private error(w: Watcher, code: number, reason: string, message: string) {
    this.send(w, "ERROR", {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      code,
    });
    this.close(w);
  }

  private fail(w: Watcher, err: unknown) {
    console.error("watch failed", err);
    this.error(w, 500, "InternalError", `Internal error occurred: ${String(err)}`);
  }

  private close(w: Watcher) {
    if (!this.watchers.delete(w)) return;
    w.writer.close().catch(() => {});
  }
}

const key = (s: Strategy) => (s.info.group ? `${s.info.group}/${s.info.plural}` : s.info.plural);
