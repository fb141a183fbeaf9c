// One list+watch of Services and EndpointSlices for the agent's roles that need them: the proxy
// (nftables rules) and DNS (its records).
import type { Api } from "./api.ts";
import { informer } from "./api.ts";

export type WatchedKind = "services" | "endpointslices";

export interface ServiceWatcher {
  /** The whole set after a (re)list. */
  onList(kind: WatchedKind, items: any[]): void;
  onEvent(kind: WatchedKind, type: "ADDED" | "MODIFIED" | "DELETED", obj: any): void;
}

const PATHS: Record<WatchedKind, string> = {
  services: "/api/v1/services",
  endpointslices: "/apis/discovery.k8s.io/v1/endpointslices",
};

export function watchServices(api: Api, watchers: ServiceWatcher[]): { stop(): void } {
  const informers = (Object.keys(PATHS) as WatchedKind[]).map((kind) =>
    informer(api, PATHS[kind], {
      onList: (items) => {
        for (const w of watchers) w.onList(kind, items);
      },
      onEvent: (type, obj) => {
        for (const w of watchers) w.onEvent(kind, type as "ADDED", obj);
      },
    }),
  );
  return {
    stop: () => {
      for (const i of informers) i.stop();
    },
  };
}
