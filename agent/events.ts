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

/**
 * Events wait in a queue and go out two at a time, as the kubelet's event broadcaster buffers
 * them: a burst of pod starts (three or four events each) then competes less with the pods'
 * status writes, and no event is lost to the burst. Only a queue this long (the API away for a
 * while) drops the newest, as the broadcaster's full buffer does.
 */
const IN_FLIGHT = 2;
const QUEUE_MAX = 1000;

export function eventRecorder(api: Pick<Api, "raw">, nodeName: string): Recorder {
  const queue: { namespace: string; body: unknown }[] = [];
  let inflight = 0;
  const pump = () => {
    while (inflight < IN_FLIGHT && queue.length) {
      const e = queue.shift() as { namespace: string; body: unknown };
      inflight++;
      api
        .raw("POST", `/api/v1/namespaces/${e.namespace}/events`, e.body)
        .catch(() => {})
        .finally(() => {
          inflight--;
          pump();
        });
    }
  };
  return (pod, type, reason, message, container) => {
    if (queue.length >= QUEUE_MAX) return;
    const md = pod.metadata;
    const at = `${new Date().toISOString().slice(0, 19)}Z`;
    queue.push({
      namespace: md.namespace,
      body: {
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
      },
    });
    pump();
  };
}
