// Pod events as the kubelet records them (Pulling, Pulled, Created, Started, Killing, BackOff,
// Unhealthy, Failed), so `kubectl describe pod` and `kubectl get events` tell what happened.
// Fire and forget: an event that cannot be posted is dropped, never retried.
import type { Api } from "./api.ts";

export type EventType = "Normal" | "Warning";

export type Recorder = (
  pod: any,
  type: EventType,
  reason: string,
  message: string,
  container?: string,
) => void;

/** In flight at most; beyond that events are dropped (the API is slow or away). */
const MAX_INFLIGHT = 16;

export function eventRecorder(api: Api, nodeName: string): Recorder {
  let inflight = 0;
  return (pod, type, reason, message, container) => {
    if (inflight >= MAX_INFLIGHT) return;
    const md = pod.metadata;
    const now = new Date().toISOString();
    const at = `${now.slice(0, 19)}Z`;
    inflight++;
    api
      .raw("POST", `/api/v1/namespaces/${md.namespace}/events`, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { generateName: `${md.name}.`, namespace: md.namespace },
        involvedObject: {
          apiVersion: "v1",
          kind: "Pod",
          namespace: md.namespace,
          name: md.name,
          uid: md.uid,
          ...(container ? { fieldPath: `spec.containers{${container}}` } : {}),
        },
        type,
        reason,
        message,
        source: { component: "kubelet", host: nodeName },
        reportingComponent: "kubelet",
        reportingInstance: nodeName,
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      })
      .catch(() => {})
      .finally(() => {
        inflight--;
      });
  };
}
