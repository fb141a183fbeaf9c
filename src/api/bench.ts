// The D1 floor for `npm run bench`: raw single-row inserts through the same workerd and binding
// the API uses. Served only when the KUBEFLARE_BENCH variable is set (bench starts its own server).
import { ApiError } from "../k8s/errors.ts";
import type { C } from "./context.ts";
import { json } from "./output.ts";

export async function d1Floor(c: C): Promise<Response> {
  if (c.env.KUBEFLARE_BENCH !== "1")
    throw new ApiError(404, "NotFound", "the server could not find the requested resource");
  const n = Number(c.req.query("n") ?? 1000);
  const concurrency = Number(c.req.query("concurrency") ?? 10);
  const size = Number(c.req.query("bytes") ?? 1000);
  const value = "x".repeat(size);
  const prefix = `bench-${crypto.randomUUID()}-`;
  const insert = c.env.DB.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        await insert.bind(`${prefix}${i}`, value).run();
      }
    }),
  );
  // performance.now() only advances across I/O in workerd, which each insert is.
  const ms = performance.now() - start;
  await c.env.DB.prepare("DELETE FROM meta WHERE key LIKE ?").bind(`${prefix}%`).run();
  return json({ n, concurrency, ms, perSecond: (n / ms) * 1000 });
}
