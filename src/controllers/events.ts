// Events, as kubectl describe and kubectl get events show them. A repeat of the same event
// (object, reason, message) bumps its count instead of adding a row, as the event recorder does.
import { ApiError } from "../k8s/errors.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Ctx, create, timestamp, update } from "../resources/rest.ts";
import type { KObject } from "../store/objects.ts";

export interface Involved {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/** A stable event name per (object, reason, message), so repeats find it. */
async function eventName(o: Involved, reason: string, message: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${o.metadata.uid}/${reason}/${message}`),
  );
  const hex = [...new Uint8Array(digest).slice(0, 8)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  return `${o.metadata.name}.${hex}`;
}

export async function recordEvent(
  ctx: Ctx,
  involved: Involved,
  type: "Normal" | "Warning",
  reason: string,
  message: string,
  component: string,
): Promise<void> {
  const s = strategyFor("", "events");
  if (!s) return;
  const namespace = involved.metadata.namespace || "default";
  const name = await eventName(involved, reason, message);
  const now = timestamp(ctx.now());
  try {
    await update(ctx, s, namespace, name, (e: KObject) => {
      e.count = (e.count ?? 1) + 1;
      e.lastTimestamp = now;
      return e;
    });
    return;
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 404)) throw err;
  }
  try {
    await create(ctx, s, namespace, {
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name: involved.metadata.name,
        namespace: involved.metadata.namespace,
        uid: involved.metadata.uid,
        resourceVersion: involved.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component },
      reportingComponent: component,
      reportingInstance: component,
    });
  } catch (err) {
    // A concurrent recorder made it first: the count is close enough.
    if (!(err instanceof ApiError && (err.code === 409 || err.code === 403 || err.code === 404)))
      throw err;
  }
}
