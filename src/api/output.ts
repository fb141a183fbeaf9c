// Response encodings: plain JSON, or metav1.Table when kubectl asks for it.

import { toTable } from "../resources/table.ts";
import type { Strategy } from "../resources/types.ts";
import type { KObject } from "../store/objects.ts";

export type IncludeObject = "None" | "Metadata" | "Object";

export const wantsTable = (accept: string | null): boolean =>
  !!accept?.split(",").some((p) => p.includes("as=Table") && p.includes("g=meta.k8s.io"));

export const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

function rowObject(o: KObject, include: IncludeObject): unknown {
  if (include === "None") return undefined;
  if (include === "Object") return o;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

export function table(
  s: Strategy,
  objs: KObject[],
  meta: { resourceVersion?: string; continue?: string },
  include: IncludeObject,
  now = Date.now(),
) {
  const t = toTable(s.columns, objs, now);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: meta,
    columnDefinitions: t.columnDefinitions,
    rows: t.rows.map((r) => ({ cells: r.cells, object: rowObject(r.object, include) })),
  };
}
