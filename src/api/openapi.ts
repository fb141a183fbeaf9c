// OpenAPI v3 documents, generated at build time (scripts/gen-openapi.ts) and served as static
// assets so the Worker bundle stays small. v2 is not served: kubectl falls back to v3.
import { ApiError } from "../k8s/errors.ts";
import type { C } from "./context.ts";
import { statusResponse } from "./status.ts";

export async function openapi(c: C): Promise<Response> {
  const path = c.req.path.replace(/\/+$/, "");
  const file =
    path === "/openapi/v3"
      ? "/openapi/v3/index.json"
      : /^\/openapi\/v3\/[a-z0-9./-]+$/.test(path)
        ? `${path}.json`
        : undefined;
  if (file) {
    const res = await c.env.ASSETS.fetch(new URL(file, c.req.url));
    if (res.ok)
      return new Response(res.body, {
        headers: { "content-type": "application/json", "cache-control": "public, max-age=3600" },
      });
  }
  return statusResponse(
    new ApiError(404, "NotFound", "the server could not find the requested resource"),
  );
}
