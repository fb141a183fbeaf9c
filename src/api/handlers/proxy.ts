// pods/proxy and services/proxy: an HTTP request to a pod, as the apiserver proxies it
// (`/api/v1/namespaces/ns/pods/web:8080/proxy/path`, `…/services/web:http/proxy/path`). The
// control plane cannot reach pod IPs, so the agent of the pod's node makes the request through
// its tunnel and streams the answer back. Plain HTTP only; no upgrades.
import { ApiError, badRequest } from "../../k8s/errors.ts";
import type { ProxyQuery } from "../../k8s/tunnel-protocol.ts";
import { strategyFor } from "../../resources/registry.ts";
import * as rest from "../../resources/rest.ts";
import type { KObject, Strategy } from "../../resources/types.ts";
import { type C, storeCtx } from "../context.ts";
import type { ResourcePath } from "../paths.ts";

/** The apiserver's limit on a request body. */
const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Headers that belong to one hop, or to the caller's credentials, and go no further. */
const HOP = new Set([
  "authorization",
  "connection",
  "content-length",
  "host",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

interface Target {
  node: string;
  pod: KObject;
  port: number;
}

/** `[scheme:]name[:port]`. */
function splitName(raw: string): { scheme: string; name: string; port: string } {
  const parts = raw.split(":");
  if (parts.length === 3) return { scheme: parts[0], name: parts[1], port: parts[2] };
  if (parts.length === 2) return { scheme: "", name: parts[0], port: parts[1] };
  return { scheme: "", name: raw, port: "" };
}

const unavailable = (message: string) => new ApiError(503, "ServiceUnavailable", message);

function runningPod(pod: KObject): string {
  const node = pod.spec?.nodeName;
  if (!node || !pod.status?.podIP)
    throw unavailable(`pod ${pod.metadata.name} has no IP yet: it is not running`);
  return node;
}

async function podTarget(c: C, s: Strategy, namespace: string, raw: string): Promise<Target> {
  const { name, port } = splitName(raw);
  const pod = (await rest.get(storeCtx(c), s, namespace, name)).object;
  const node = runningPod(pod);
  // No port named: the pod's first declared container port, else 80 (the apiserver's choice).
  const declared = (pod.spec?.containers ?? []).flatMap((x: KObject) => x.ports ?? [])[0];
  const n = port ? Number(port) : (declared?.containerPort ?? 80);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw badRequest(`invalid port "${port}"`);
  return { node, pod, port: n };
}

async function serviceTarget(c: C, s: Strategy, namespace: string, raw: string) {
  const { name, port } = splitName(raw);
  const svc = (await rest.get(storeCtx(c), s, namespace, name)).object;
  const ports: KObject[] = svc.spec?.ports ?? [];
  const sp = ports.find((p) => (port ? p.name === port || String(p.port) === port : !p.name));
  if (!sp) throw unavailable(`no service port "${port}" found for service "${name}"`);
  const endpoints = strategyFor("", "endpoints") as Strategy;
  const ep = await rest.get(storeCtx(c), endpoints, namespace, name).catch(() => undefined);
  const candidates: { address: KObject; port: number }[] = [];
  for (const ss of ep?.object.subsets ?? []) {
    const epPort = (ss.ports ?? []).find((p: KObject) => (p.name ?? "") === (sp.name ?? ""));
    if (!epPort) continue;
    for (const address of ss.addresses ?? []) candidates.push({ address, port: epPort.port });
  }
  const withPod = candidates.filter((x) => x.address.targetRef?.kind === "Pod");
  if (!withPod.length) throw unavailable(`no endpoints available for service "${name}"`);
  const pick = withPod[Math.floor(Math.random() * withPod.length)];
  const pods = strategyFor("", "pods") as Strategy;
  const pod = (await rest.get(storeCtx(c), pods, namespace, pick.address.targetRef.name)).object;
  return { node: runningPod(pod), pod, port: pick.port };
}

export async function proxy(c: C, s: Strategy, p: ResourcePath): Promise<Response> {
  const namespace = p.namespace ?? "";
  const { scheme } = splitName(p.name as string);
  if (scheme && scheme !== "http")
    throw badRequest(`scheme "${scheme}" is not supported: pods are proxied over plain HTTP`);
  if (c.req.header("upgrade"))
    throw badRequest("upgrades (WebSocket) are not proxied; use kubectl port-forward");
  const t =
    s.info.plural === "pods"
      ? await podTarget(c, s, namespace, p.name as string)
      : await serviceTarget(c, s, namespace, p.name as string);
  const tooLarge = () =>
    new ApiError(413, "RequestEntityTooLarge", "the request body is too large to proxy");
  if (Number(c.req.header("content-length") ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (body.length > MAX_BODY_BYTES) throw tooLarge();
  const headers: [string, string][] = [];
  c.req.raw.headers.forEach((v, k) => {
    if (!HOP.has(k.toLowerCase())) headers.push([k, v]);
  });
  const q: ProxyQuery = {
    namespace,
    pod: t.pod.metadata.name,
    uid: t.pod.metadata.uid,
    port: t.port,
    method: c.req.method,
    path: `${p.proxyPath ?? "/"}${new URL(c.req.url).search}`,
    headers,
    bodyBytes: body.length,
  };
  const tunnel = c.env.TUNNEL.getByName(t.node);
  const r = await tunnel.proxy(t.node, q, body);
  if (!r.ok)
    throw new ApiError(
      r.code === 404 ? 404 : 503,
      r.code === 404 ? "NotFound" : "ServiceUnavailable",
      r.message,
    );
  c.req.raw.signal.addEventListener("abort", () => c.executionCtx.waitUntil(tunnel.cancel(r.id)));
  const out = new Headers();
  for (const [k, v] of r.headers ?? []) if (!HOP.has(k.toLowerCase())) out.append(k, v);
  const status = r.status ?? 502;
  // A body is not allowed with these statuses.
  const empty = c.req.method === "HEAD" || status === 204 || status === 304;
  if (empty) await r.body.cancel();
  return new Response(empty ? null : (r.body as ReadableStream), { status, headers: out });
}
