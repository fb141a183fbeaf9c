// The local control plane: the Worker on workerd through Miniflare's API, serving HTTPS itself.
// `wrangler dev` puts a ProxyWorker and its Node supervisor in front of the Worker; under load
// (hundreds of hollow nodes) a client dropping a connection surfaced there as "Network connection
// lost." and wrangler exited (workers-sdk #15317, #15451), and the extra hop capped throughput.
// Here workerd terminates TLS and runs the Worker directly; the bindings come from wrangler.toml
// and .dev.vars as `wrangler dev` reads them, and state lives where `--persist-to` puts it.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

export interface ControlPlaneOptions {
  root: string;
  port: number;
  /** The state directory (as `wrangler dev --persist-to`: D1 and Durable Objects under v3/). */
  state: string;
  /** Extra plain-text bindings (e.g. KUBEFLARE_BENCH). */
  vars?: Record<string, string>;
}

export interface ControlPlane {
  url: string;
  stop(): Promise<void>;
}

const ASSETS_WORKER = "kubeflare-assets";

const levels: Record<string, number> = { debug: 0, info: 1, log: 2, warn: 3, error: 4 };

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { workerOptions, main } = unstable_getMiniflareWorkerOptions(
    join(opts.root, "wrangler.toml"),
  );
  const assetsDir = (workerOptions.assets as { directory: string }).directory;
  const out = join(opts.state, "worker");
  mkdirSync(out, { recursive: true });
  const script = join(out, "index.js");
  // The same esbuild settings wrangler uses for a Worker without nodejs_compat.
  await build({
    entryPoints: [main as string],
    outfile: script,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2024",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    external: ["cloudflare:*"],
    logLevel: "warning",
  });
  // Worker console output at or above WRANGLER_LOG's level (warn unless set), as wrangler did.
  const threshold = levels[process.env.WRANGLER_LOG ?? "warn"] ?? levels.warn;
  const signalListeners = {
    SIGINT: process.listeners("SIGINT"),
    SIGTERM: process.listeners("SIGTERM"),
  };
  // wrangler still speaks Miniflare 4's option shape; Miniflare 5 converts it.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: opts.port,
      https: true,
      cf: false,
      log: new Log(threshold <= levels.info ? LogLevel.INFO : LogLevel.WARN),
      logRequests: false,
      // For profiling with Chrome DevTools (chrome://inspect), as `wrangler dev --inspector-port`.
      ...(process.env.KUBEFLARE_INSPECTOR_PORT
        ? { inspectorPort: Number(process.env.KUBEFLARE_INSPECTOR_PORT) }
        : {}),
      resourcePersistencePath: join(opts.state, "v3"),
      handleStructuredLogs: ({ level, message }) => {
        if ((levels[level] ?? levels.log) < threshold) return;
        (level === "error" || level === "warn" ? process.stderr : process.stdout).write(
          `${message}\n`,
        );
      },
      workers: [
        {
          // Keys wrangler leaves undefined fail Miniflare's validation: drop them.
          ...Object.fromEntries(
            Object.entries(workerOptions).filter(
              // One bundled module: no rules. Assets are served by the worker below.
              ([k, v]) => v !== undefined && k !== "modulesRules" && k !== "assets",
            ),
          ),
          name: "kubeflare",
          // Module names are relative to rootPath and may not climb out of it.
          rootPath: out,
          modules: true,
          scriptPath: script,
          bindings: { ...(workerOptions.bindings as Record<string, string>), ...opts.vars },
          serviceBindings: {
            ...(workerOptions.serviceBindings as Record<string, string>),
            ASSETS: ASSETS_WORKER,
          },
        },
        // Miniflare puts a Worker with assets behind two more Workers (an RPC proxy and the
        // assets router), and every API request paid for both hops on the one workerd thread,
        // though only install.sh, the agent bundle and the OpenAPI files are assets. Here the
        // API Worker takes requests first hand and reaches the files through this one.
        {
          name: ASSETS_WORKER,
          modules: true,
          script: "export default { fetch: () => new Response(null, { status: 404 }) };",
          compatibilityDate: workerOptions.compatibilityDate as string,
          assets: { directory: assetsDir, binding: "ASSETS" },
        },
      ],
    }),
  );
  // Miniflare's exit hook exits the process at once on SIGINT/SIGTERM; the caller stops its node
  // first and then disposes of Miniflare, so those signals are left to the caller (the hook still
  // runs on exit and ends workerd).
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    for (const l of process.listeners(signal))
      if (!signalListeners[signal].includes(l)) process.removeListener(signal, l);
  const url = await mf.ready;
  return {
    url: url.origin,
    stop: () => mf.dispose(),
  };
}
