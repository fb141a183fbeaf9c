import type { WatchHub } from "./api/watch-hub.ts";
import type { GarbageCollector } from "./controllers/garbage-collector.ts";
import type { NamespaceLifecycle } from "./controllers/namespace-lifecycle.ts";

export interface Env {
  DB: D1Database;
  ASSETS: Fetcher;
  WATCH_HUB: DurableObjectNamespace<WatchHub>;
  GARBAGE_COLLECTOR: DurableObjectNamespace<GarbageCollector>;
  NAMESPACE_LIFECYCLE: DurableObjectNamespace<NamespaceLifecycle>;
  /** The admin bearer token (a secret; `.dev.vars` locally). */
  ADMIN_TOKEN: string;
  /** Seals Secrets at rest: base64 of 32 random bytes (a secret; `.dev.vars` locally). */
  SECRETS_KEY?: string;
  CHANGE_LOG_RETAIN?: string;
  SERVICE_CIDR?: string;
  NODE_PORT_RANGE?: string;
  /** "1" serves the D1 floor measurement for `npm run bench`. */
  KUBEFLARE_BENCH?: string;
  /** Seconds between watch bookmarks; tests shorten it. */
  BOOKMARK_SECONDS?: string;
}
