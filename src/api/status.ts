import { ApiError, badRequest, internalError } from "../k8s/errors.ts";
import { FieldSelectorError } from "../k8s/fields.ts";
import { SelectorError } from "../k8s/labels.ts";

/** Any error as a Kubernetes Status response; parse errors of selectors are the client's fault. */
export function statusResponse(err: unknown): Response {
  const e =
    err instanceof ApiError
      ? err
      : err instanceof SelectorError || err instanceof FieldSelectorError
        ? badRequest(err.message)
        : internalError(describe(err));
  if (e.code >= 500) console.error("internal error", err);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (e.details?.retryAfterSeconds) headers["retry-after"] = String(e.details.retryAfterSeconds);
  return new Response(JSON.stringify(e.toStatus()), { status: e.code, headers });
}

const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));
