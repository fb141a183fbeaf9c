import { catalog, type ResourceInfo } from "./catalog.ts";
import { configMaps } from "./configmap.ts";
import { defineStrategy } from "./define.ts";
import type { Strategy } from "./types.ts";

/** Kinds with behaviour of their own; every other catalog kind gets the generic strategy. */
const specific: Strategy[] = [configMaps];

const byResource = new Map<string, Strategy>();
for (const info of catalog) {
  const own = specific.find((s) => s.info === info);
  byResource.set(storeResource(info), own ?? defineStrategy(info));
}

/** The key objects of this kind are stored under: `<group>/<plural>` or `<plural>` for core. */
export function storeResource(r: Pick<ResourceInfo, "group" | "plural">): string {
  return r.group ? `${r.group}/${r.plural}` : r.plural;
}

export function strategyFor(group: string, plural: string): Strategy | undefined {
  return byResource.get(storeResource({ group, plural }));
}

export function strategyForKind(apiVersion: string, kind: string): Strategy | undefined {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  for (const s of byResource.values())
    if (s.info.group === group && s.info.version === version && s.info.kind === kind) return s;
  return undefined;
}

export const allStrategies = (): Strategy[] => [...byResource.values()];
