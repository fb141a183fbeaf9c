// The agent's only way to the control plane: its public Kubernetes API over HTTPS (or HTTP in
// development), with the node's bearer credential, keep-alive connections, JSON bodies and
// streaming watches that resume from the last resourceVersion and relist on 410 Gone.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { lineSplitter } from "../src/k8s/lines.ts";

export interface ApiOptions {
  server: string;
  credential?: string;
  insecure?: boolean;
}

export interface Reply<T = any> {
  status: number;
  body: T;
}

/** A non-2xx answer, carrying the Kubernetes Status when the server sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason?: string;
  constructor(method: string, path: string, status: number, body: any) {
    const msg =
      typeof body === "object" && body?.message ? body.message : String(body).slice(0, 300);
    super(`${method} ${path}: ${status} ${msg}`);
    this.status = status;
    this.reason = typeof body === "object" ? body?.reason : undefined;
  }
}

export const MERGE_PATCH = "application/merge-patch+json";
export const STRATEGIC_PATCH = "application/strategic-merge-patch+json";

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: any;
}

export class Api {
  readonly url: URL;
  credential?: string;
  private readonly insecure: boolean;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly tls: boolean;

  constructor(opts: ApiOptions) {
    this.url = new URL(opts.server);
    this.credential = opts.credential;
    this.insecure = !!opts.insecure;
    this.tls = this.url.protocol === "https:";
    this.agent = this.tls
      ? new HttpsAgent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: !this.insecure })
      : new HttpAgent({ keepAlive: true, maxSockets: 8 });
  }

  private open(
    method: string,
    path: string,
    headers: Record<string, string>,
    agent: HttpAgent | HttpsAgent | false,
  ) {
    const base = this.url.pathname.replace(/\/$/, "");
    const opts = {
      method,
      host: this.url.hostname,
      port: this.url.port || (this.tls ? 443 : 80),
      path: base + path,
      agent,
      headers: {
        accept: "application/json",
        "user-agent": "kubeflare-agent",
        ...(this.credential ? { authorization: `Bearer ${this.credential}` } : {}),
        ...headers,
      },
      rejectUnauthorized: !this.insecure,
    };
    return this.tls ? httpsRequest(opts) : httpRequest(opts);
  }

  /** One request; resolves with any status (JSON-decoded body when possible). */
  raw(method: string, path: string, body?: unknown, contentType?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = {};
      if (data !== undefined) {
        headers["content-type"] = contentType ?? "application/json";
        headers["content-length"] = String(Buffer.byteLength(data));
      }
      const req = this.open(method, path, headers, this.agent);
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", reject);
      req.on("response", (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: any = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.end(data);
    });
  }

  /** A request that must succeed (2xx); throws ApiError otherwise. */
  async call<T = any>(method: string, path: string, body?: unknown, contentType?: string) {
    const r = await this.raw(method, path, body, contentType);
    if (r.status < 200 || r.status >= 300) throw new ApiError(method, path, r.status, r.body);
    return r.body as T;
  }

  get<T = any>(path: string) {
    return this.call<T>("GET", path);
  }

  /**
   * A watch stream from `resourceVersion`. Calls `onEvent` for each event; resolves when the
   * server ends the stream, rejects on errors (an ERROR event becomes an ApiError with its code).
   */
  watch(
    path: string,
    resourceVersion: string,
    onEvent: (ev: WatchEvent) => void,
  ): { done: Promise<void>; abort(): void } {
    const sep = path.includes("?") ? "&" : "?";
    const full = `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    let req: ReturnType<Api["open"]> | undefined;
    let aborted = false;
    const done = new Promise<void>((resolve, reject) => {
      req = this.open("GET", full, {}, false);
      // No event and no bookmark for this long: the connection is dead.
      req.setTimeout(120_000, () => req?.destroy(new Error("watch idle timeout")));
      req.on("error", (err) => (aborted ? resolve() : reject(err)));
      req.on("response", (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            let body: any = Buffer.concat(chunks).toString("utf8");
            try {
              body = JSON.parse(body);
            } catch {}
            reject(new ApiError("WATCH", path, res.statusCode ?? 0, body));
          });
          return;
        }
        res.setEncoding("utf8");
        res.on(
          "data",
          lineSplitter((line) => {
            let ev: WatchEvent;
            try {
              ev = JSON.parse(line);
            } catch {
              return;
            }
            if (ev.type === "ERROR") {
              const code = ev.object?.code ?? 500;
              req?.destroy();
              reject(new ApiError("WATCH", path, code, ev.object));
              return false;
            }
            try {
              onEvent(ev);
            } catch (err) {
              req?.destroy();
              reject(err);
              return false;
            }
          }),
        );
        res.on("end", () => resolve());
        res.on("error", (err) => (aborted ? resolve() : reject(err)));
      });
      req.end();
    });
    return {
      done,
      abort() {
        aborted = true;
        req?.destroy();
      },
    };
  }

  close() {
    this.agent.destroy();
  }
}

export interface InformerHandlers {
  /** The full current set after each (re)list. */
  onList(items: any[]): void;
  onEvent(type: "ADDED" | "MODIFIED" | "DELETED", obj: any): void;
  log?: (msg: string) => void;
}

/**
 * list+watch forever: resume the watch from the last resourceVersion seen, relist on 410 Gone,
 * back off (1 s doubling to 30 s) while the control plane is unreachable.
 */
export function informer(api: Api, path: string, h: InformerHandlers): { stop(): void } {
  let stopped = false;
  let current: { abort(): void } | undefined;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });
  (async () => {
    let rv = "";
    let backoff = 1000;
    while (!stopped) {
      try {
        if (!rv) {
          const list = await api.get(path);
          rv = list.metadata?.resourceVersion ?? "0";
          h.onList(list.items ?? []);
        }
        const w = api.watch(path, rv, (ev) => {
          if (ev.object?.metadata?.resourceVersion) rv = ev.object.metadata.resourceVersion;
          if (ev.type !== "BOOKMARK") h.onEvent(ev.type as "ADDED", ev.object);
          backoff = 1000;
        });
        current = w;
        await w.done;
      } catch (err) {
        if (stopped) return;
        if (err instanceof ApiError && err.status === 410) {
          rv = "";
          continue;
        }
        h.log?.(`watch ${path}: ${(err as Error).message}; retrying in ${backoff / 1000}s`);
        await sleep(backoff);
        backoff = Math.min(30_000, backoff * 2);
      }
    }
  })();
  return {
    stop() {
      stopped = true;
      current?.abort();
      wake?.();
    },
  };
}
