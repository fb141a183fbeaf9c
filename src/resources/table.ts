import type { Column, KObject } from "./types.ts";

/** Human duration as kubectl prints ages: 45s, 3m12s, 5h, 2d3h, 400d. (duration.HumanDuration) */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  if (d < 365 * 8) return `${Math.floor(d / 365)}y${d % 365}d`;
  return `${Math.floor(d / 365)}y`;
}

export const age = (ts: string | undefined, now: number): string =>
  ts ? humanDuration(now - Date.parse(ts)) : "<unknown>";

export const nameColumn: Column = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
  cell: (o) => o.metadata?.name ?? "",
};

export const ageColumn: Column = {
  name: "Age",
  type: "string",
  description:
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
  cell: (o, now) => age(o.metadata?.creationTimestamp, now),
};

/** "a=b,c=d" or "<none>", as kubectl prints label selectors and maps. */
export const mapString = (m: Record<string, string> | undefined): string => {
  const entries = Object.entries(m ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(",") : "<none>";
};

export const orNone = (v: unknown): string =>
  v === undefined || v === null || v === "" ? "<none>" : String(v);

export const joinOrNone = (xs: unknown[] | undefined): string =>
  xs?.length ? xs.join(",") : "<none>";

export const column = (
  name: string,
  cell: Column["cell"],
  extra: Partial<Omit<Column, "name" | "cell">> = {},
): Column => ({ name, type: "string", ...extra, cell });

export const wide = (name: string, cell: Column["cell"]): Column =>
  column(name, cell, { priority: 1 });

export function toTable(columns: Column[], objs: KObject[], now: number) {
  return {
    columnDefinitions: columns.map(({ name, type, format, description, priority }) => ({
      name,
      type,
      format: format ?? "",
      description: description ?? "",
      priority: priority ?? 0,
    })),
    rows: objs.map((o) => ({ cells: columns.map((c) => c.cell(o, now)), object: o })),
  };
}
