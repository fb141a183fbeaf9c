import { catalog, type ResourceInfo } from "./catalog.ts";

export function findInfo(group: string, plural: string): ResourceInfo {
  const info = catalog.find((r) => r.group === group && r.plural === plural);
  if (!info) throw new Error(`catalog has no ${plural}.${group}`);
  return info;
}
