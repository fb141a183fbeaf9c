// pods/log (pkg/registry/core/pod/rest/log.go and the kubelet's containerLogs): pick the
// container, check it has logs to show as the kubelet does from the pod's status, then stream
// them from the pod's node through its tunnel.
import { ApiError, badRequest, invalid } from "../../k8s/errors.ts";
import type { LogQuery } from "../../k8s/tunnel-protocol.ts";
import {
  aggregateMessage,
  type FieldError,
  forbidden,
  invalid as invalidField,
  statusCauses,
} from "../../k8s/validation.ts";
import * as rest from "../../resources/rest.ts";
import type { KObject, Strategy } from "../../resources/types.ts";
import { boolQuery, type C, intQuery, query, storeCtx } from "../context.ts";
import type { ResourcePath } from "../paths.ts";

type Options = Omit<LogQuery, "namespace" | "pod" | "uid" | "container"> & { container?: string };

function options(c: C, name: string): Options {
  const o: Options = {
    container: query(c, "container") || undefined,
    follow: boolQuery(c, "follow"),
    previous: boolQuery(c, "previous"),
    timestamps: boolQuery(c, "timestamps"),
    tailLines: intQuery(c, "tailLines"),
    sinceSeconds: intQuery(c, "sinceSeconds"),
    limitBytes: intQuery(c, "limitBytes"),
  };
  const since = query(c, "sinceTime");
  if (since) {
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(since))
      throw badRequest(`invalid value for sinceTime: ${since}: want RFC 3339`);
    o.sinceTime = since;
  }
  // ValidatePodLogOptions.
  const errs: FieldError[] = [];
  if (o.tailLines !== undefined && o.tailLines < 0)
    errs.push(invalidField("tailLines", o.tailLines, "must be greater than or equal to 0"));
  if (o.limitBytes !== undefined && o.limitBytes < 1)
    errs.push(invalidField("limitBytes", o.limitBytes, "must be greater than 0"));
  if (o.sinceSeconds !== undefined && o.sinceTime !== undefined)
    errs.push(forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"));
  else if (o.sinceSeconds !== undefined && o.sinceSeconds < 1)
    errs.push(invalidField("sinceSeconds", o.sinceSeconds, "must be greater than 0"));
  if (errs.length)
    throw invalid(
      "PodLogOptions",
      "",
      name,
      aggregateMessage("PodLogOptions", name, errs),
      statusCauses(errs),
    );
  return o;
}

const names = (list: unknown): string[] =>
  Array.isArray(list) ? list.map((c: KObject) => c.name) : [];

/** validateContainer: the named one, or the only one. */
export function pickContainer(pod: KObject, container: string | undefined): string {
  const name = pod.metadata.name;
  if (container) {
    const all = [
      ...names(pod.spec?.initContainers),
      ...names(pod.spec?.containers),
      ...names(pod.spec?.ephemeralContainers),
    ];
    if (!all.includes(container))
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    return container;
  }
  const containers = names(pod.spec?.containers);
  if (containers.length === 1) return containers[0];
  if (containers.length === 0)
    throw badRequest(`a container name must be specified for pod ${name}`);
  const all = [
    ...names(pod.spec?.initContainers),
    ...containers,
    ...names(pod.spec?.ephemeralContainers),
  ];
  throw badRequest(
    `a container name must be specified for pod ${name}, choose one of: [${all.join(" ")}]`,
  );
}

/** What the node last reported of a container (regular, init or ephemeral), if anything. */
export function containerStatus(pod: KObject, container: string): KObject | undefined {
  const st = pod.status ?? {};
  return [
    ...(st.containerStatuses ?? []),
    ...(st.initContainerStatuses ?? []),
    ...(st.ephemeralContainerStatuses ?? []),
  ].find((s: KObject) => s.name === container);
}

/**
 * The kubelet's validateContainerLogStatus, on the status the node reported: throws when there
 * is no log to show, else says whether the container runs (only then is there more to follow).
 */
function checkLogStatus(pod: KObject, container: string, previous: boolean): boolean {
  const pod_ = JSON.stringify(pod.metadata.name);
  const c_ = JSON.stringify(container);
  const status = containerStatus(pod, container);
  const fail = (why: string) => badRequest(`container ${c_} in pod ${pod_} ${why}`);
  // Nothing reported yet: the node is still creating it.
  if (!status) throw fail("is waiting to start: ContainerCreating");
  const last = status.lastState?.terminated;
  const { waiting, running, terminated } = status.state ?? {};
  if (previous) {
    if (!last?.containerID)
      throw badRequest(`previous terminated container ${c_} in pod ${pod_} not found`);
    return false;
  }
  if (running) return true;
  if (terminated) {
    if (terminated.containerID || last?.containerID) return false;
    throw fail("is terminated");
  }
  if (last) {
    if (last.containerID) return false;
    throw fail("is terminated");
  }
  if (waiting) {
    if (waiting.reason === "ErrImagePull") throw fail("is waiting to start: image can't be pulled");
    if (waiting.reason === "ImagePullBackOff")
      throw fail("is waiting to start: trying and failing to pull image");
    throw fail(`is waiting to start: ${waiting.reason ?? ""}`);
  }
  throw fail("is waiting to start - no logs yet");
}

/** The kubelet's answer as the apiserver relays it (NewGenericServerResponse). */
function relayed(code: number, message: string): ApiError {
  if (code === 400) return badRequest(message);
  if (code === 404) return new ApiError(404, "NotFound", message);
  if (code === 503) return new ApiError(503, "ServiceUnavailable", message);
  if (code === 504) return new ApiError(504, "Timeout", message);
  return new ApiError(500, "InternalError", message);
}

/** GET pods/<name>/log. */
export async function podLog(c: C, s: Strategy, p: ResourcePath) {
  const name = p.name as string;
  const namespace = p.namespace ?? "";
  const o = options(c, name);
  const { object: pod } = await rest.get(storeCtx(c), s, namespace, name);
  const container = pickContainer(pod, o.container);
  const node: string | undefined = pod.spec?.nodeName;
  if (!node) throw badRequest(`pod ${name} does not have a host assigned`);
  const running = checkLogStatus(pod, container, !!o.previous);
  const tunnel = c.env.TUNNEL.getByName(node);
  const r = await tunnel.logs(node, {
    ...o,
    // A container that does not run writes nothing more: the kubelet stops at the end.
    follow: o.follow && running,
    namespace,
    pod: name,
    uid: pod.metadata.uid,
    container,
  });
  if (!r.ok) throw relayed(r.code, r.message);
  // The returned stream learns of the client going away only at its next write, which a quiet
  // `logs -f` may never make: the request's signal (enable_request_signal) tells the node now.
  c.req.raw.signal.addEventListener("abort", () => c.executionCtx.waitUntil(tunnel.cancel(r.id)));
  return new Response(r.body as ReadableStream, {
    // Uncompressed: a compressor would hold `logs -f` lines back until its buffer fills.
    headers: {
      "content-type": "text/plain",
      "cache-control": "no-cache, private",
      "content-encoding": "identity",
    },
  });
}
