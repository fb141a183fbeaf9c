// get, list and watch.

import { badRequest, gone } from "../../k8s/errors.ts";
import { parseFieldSelector } from "../../k8s/fields.ts";
import { parseSelector } from "../../k8s/labels.ts";
import { storeResource } from "../../resources/registry.ts";
import { get, selectable } from "../../resources/rest.ts";
import type { Strategy } from "../../resources/types.ts";
import { compactedRevision } from "../../store/compaction.ts";
import { type KObject, listObjects, withRv } from "../../store/objects.ts";
import { boolQuery, type C, intQuery, query, storeCtx } from "../context.ts";
import { type IncludeObject, json, table, wantsTable } from "../output.ts";
import type { ResourcePath } from "../paths.ts";

const includeObject = (c: C): IncludeObject => {
  const v = query(c, "includeObject") ?? "Metadata";
  if (v !== "None" && v !== "Metadata" && v !== "Object")
    throw badRequest(`includeObject must be None, Metadata or Object, got ${v}`);
  return v;
};

export async function getOne(c: C, s: Strategy, p: ResourcePath) {
  const { object } = await get(storeCtx(c), s, p.namespace ?? "", p.name as string);
  if (wantsTable(c.req.header("accept") ?? null))
    return json(
      table(s, [object], { resourceVersion: object.metadata.resourceVersion }, includeObject(c)),
    );
  return json(object);
}

interface Continue {
  rv: number;
  ns: string;
  name: string;
}

const encodeContinue = (t: Continue) => btoa(JSON.stringify({ v: "kubeflare/v1", ...t }));

function decodeContinue(token: string): Continue {
  try {
    const t = JSON.parse(atob(token));
    if (t.v === "kubeflare/v1" && typeof t.rv === "number") return t;
  } catch {}
  throw badRequest(
    "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
  );
}

/** Filters named by labelSelector/fieldSelector, checked against what this kind can select on. */
export function selectors(c: C, s: Strategy) {
  const ls = query(c, "labelSelector");
  const fs = query(c, "fieldSelector");
  const labels = ls ? parseSelector(ls) : undefined;
  const fields = fs ? parseFieldSelector(fs) : undefined;
  if (fields) {
    const allowed = new Set(Object.keys(selectable(s, { metadata: {} }).fields));
    for (const r of fields.requirements())
      if (!allowed.has(r.field)) throw badRequest(`field label not supported: ${r.field}`);
  }
  const matches = (o: KObject) => {
    const sel = selectable(s, o);
    return (!labels || labels.matches(sel.labels)) && (!fields || fields.matches(sel.fields));
  };
  // An equality on spec.nodeName uses the indexed column instead of a scan.
  const nodeName = fields
    ?.requirements()
    .find((r) => r.field === "spec.nodeName" && r.operator !== "!=")?.value;
  return { ls, fs, matches, nodeName, any: !!(labels || fields) };
}

const PAGE = 500;

export async function list(c: C, s: Strategy, p: ResourcePath) {
  if (boolQuery(c, "watch")) return watch(c, s, p);
  const ctx = storeCtx(c);
  const sel = selectors(c, s);
  const limit = intQuery(c, "limit");
  const token = query(c, "continue");
  const start = token ? decodeContinue(token) : undefined;
  if (start && start.rv < (await compactedRevision(ctx.db)))
    throw gone(
      "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
    );
  const items: KObject[] = [];
  let after = start && { namespace: start.ns, name: start.name };
  let rv = start?.rv ?? 0;
  let more = false;
  // Without selectors one extra row tells whether more follow; with them, scan page by page.
  const pageSize = limit && !sel.any ? limit + 1 : PAGE;
  scan: for (;;) {
    const page = await listObjects(ctx.db, {
      resource: storeResource(s.info),
      namespace: p.namespace,
      nodeName: s.info.kind === "Pod" ? sel.nodeName : undefined,
      after,
      limit: limit || sel.any ? pageSize : undefined,
    });
    if (!rv) rv = page.rv;
    for (const row of page.rows) {
      if (limit && items.length >= limit) {
        more = true;
        break scan;
      }
      after = { namespace: row.namespace, name: row.name };
      const o = withRv(row.body, row.rv);
      if (!sel.any || sel.matches(o)) items.push(o);
    }
    if (!(limit || sel.any) || page.rows.length < pageSize) break;
  }
  const meta: { resourceVersion: string; continue?: string; remainingItemCount?: number } = {
    resourceVersion: String(rv),
  };
  if (more && after) meta.continue = encodeContinue({ rv, ns: after.namespace, name: after.name });
  if (wantsTable(c.req.header("accept") ?? null))
    return json(table(s, items, meta, includeObject(c)));
  const { group, version, kind } = s.info;
  return json({
    kind: `${kind}List`,
    apiVersion: group ? `${group}/${version}` : version,
    metadata: meta,
    items,
  });
}

export async function watch(c: C, s: Strategy, p: ResourcePath) {
  const sel = selectors(c, s);
  const hub = c.env.WATCH_HUB.getByName("hub");
  const stream = await hub.watch({
    resource: storeResource(s.info),
    namespace: p.namespace,
    labelSelector: sel.ls,
    fieldSelector: sel.fs,
    resourceVersion: query(c, "resourceVersion"),
    allowWatchBookmarks: boolQuery(c, "allowWatchBookmarks"),
    sendInitialEvents: boolQuery(c, "sendInitialEvents"),
    timeoutSeconds: intQuery(c, "timeoutSeconds"),
  });
  const body = wantsTable(c.req.header("accept") ?? null)
    ? stream.pipeThrough(tableEvents(s, includeObject(c)))
    : stream;
  return new Response(body, {
    // Uncompressed: a compressor would hold events back until its buffer fills.
    headers: {
      "content-type": "application/json",
      "cache-control": "no-cache",
      "content-encoding": "identity",
    },
  });
}

/** Rewrites each watch event's object as a one-row Table (kubectl get -w). */
function tableEvents(s: Strategy, include: IncludeObject) {
  const dec = new TextDecoder();
  const enc = new TextEncoder();
  let buf = "";
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, out) {
      buf += dec.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        const ev = JSON.parse(line);
        if (ev.type !== "ERROR" && ev.type !== "BOOKMARK")
          ev.object = table(
            s,
            [ev.object],
            { resourceVersion: ev.object.metadata?.resourceVersion },
            include,
          );
        out.enqueue(enc.encode(`${JSON.stringify(ev)}\n`));
      }
    },
  });
}
