// The HTTP surface: authentication, discovery, OpenAPI and the Kubernetes REST paths.
import { Hono } from "hono";
import { authenticate } from "../auth/authenticate.ts";
import { authorize } from "../auth/authorize.ts";
import { impersonated } from "../auth/impersonation.ts";
import { writeCtx } from "../controllers/context.ts";
import { ApiError, methodNotAllowed, unauthorized } from "../k8s/errors.ts";
import { bootstrap } from "../resources/bootstrap.ts";
import { strategyFor } from "../resources/registry.ts";
import { openDb } from "../store/db.ts";
import { AGENT_FILES, agentBundle, installScript } from "./agent-files.ts";
import { attributesOf } from "./attributes.ts";
import { d1Floor } from "./bench.ts";
import type { C, HonoEnv } from "./context.ts";
import {
  aggregated,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  version,
  wantsAggregated,
} from "./discovery.ts";
import { openTunnel } from "./handlers/node-tunnel.ts";
import { podExec } from "./handlers/pod-exec.ts";
import { podLog } from "./handlers/pod-log.ts";
import { podPortForward } from "./handlers/pod-portforward.ts";
import { binding, eviction } from "./handlers/pod-subresources.ts";
import { proxy } from "./handlers/proxy.ts";
import { getOne, list } from "./handlers/read.ts";
import { review } from "./handlers/reviews.ts";
import { scale } from "./handlers/scale.ts";
import { tokenRequest } from "./handlers/token-request.ts";
import { create, patch, remove, removeCollection, replace } from "./handlers/write.ts";
import { joinHandler } from "./join.ts";
import { openapi } from "./openapi.ts";
import { json } from "./output.ts";
import { parseResourcePath, type ResourcePath } from "./paths.ts";
import { statusResponse } from "./status.ts";

const PUBLIC = new Set([
  "/version",
  "/healthz",
  "/livez",
  "/readyz",
  "/kubeflare/v1/join",
  ...AGENT_FILES,
]);

/** Kubernetes resource paths, authorized per resource in dispatch. */
const RESOURCE_PATH = /^\/(api\/v1|apis\/[^/]+\/[^/]+)\/./;

let booted: Promise<void> | undefined;

export const app = new Hono<HonoEnv>();

app.onError((err) => statusResponse(err));
app.notFound(() =>
  statusResponse(new ApiError(404, "NotFound", "the server could not find the requested resource")),
);

app.use(async (c, next) => {
  c.set("warnings", []);
  if (!PUBLIC.has(c.req.path)) {
    const caller = await authenticate(c.req.raw, c.env);
    if (!caller) throw unauthorized();
    const user = await impersonated(openDb(c.env.DB), caller, c.req.raw.headers);
    c.set("user", user);
    if (!RESOURCE_PATH.test(c.req.path))
      await authorize(openDb(c.env.DB), user, {
        verb: c.req.method === "HEAD" ? "get" : c.req.method.toLowerCase(),
        path: c.req.path,
      });
  }
  // The server's own writes: no caller's admission applies to them.
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  booted ??= bootstrap(writeCtx(c.env, waitUntil), c.env, waitUntil).catch((err) => {
    booted = undefined;
    throw err;
  });
  await booted;
  await next();
  const warnings = c.get("warnings");
  if (warnings.length) {
    const res = new Response(c.res.body, c.res);
    for (const w of warnings) res.headers.append("Warning", `299 - ${JSON.stringify(w)}`);
    c.res = res;
  }
});

for (const p of ["/healthz", "/livez", "/readyz"]) app.get(p, (c) => c.text("ok"));
app.get("/version", () => json(version));

app.get("/api", (c) => {
  const v = wantsAggregated(c.req.header("accept") ?? null);
  return v ? discoveryJson(aggregated(true, v), v) : json(apiVersions());
});
app.get("/apis", (c) => {
  const v = wantsAggregated(c.req.header("accept") ?? null);
  return v ? discoveryJson(aggregated(false, v), v) : json(apiGroupList());
});
app.get("/api/v1", () => json(apiResourceList("", "v1")));
app.get("/apis/:group", (c) => found(apiGroup(c.req.param("group"))));
app.get("/apis/:group/:version", (c) =>
  found(apiResourceList(c.req.param("group"), c.req.param("version"))),
);

app.get("/openapi/*", (c) => openapi(c));
app.get("/install.sh", (c) => installScript(c));
app.get("/agent/kubeflare-agent.mjs", (c) => agentBundle(c));
app.post("/debug/bench/d1", (c) => d1Floor(c));
app.post("/kubeflare/v1/join", (c) => joinHandler(c));
app.get("/kubeflare/v1/nodes/:name/tunnel", (c) => openTunnel(c));

app.all("/api/v1/*", (c) => dispatch(c, parseResourcePath("", "v1", rest(c, "/api/v1/"))));
app.all("/apis/:group/:version/*", (c) => {
  const { group, version: v } = c.req.param();
  return dispatch(c, parseResourcePath(group, v, rest(c, `/apis/${group}/${v}/`)));
});

const rest = (c: C, prefix: string) => c.req.path.slice(prefix.length).split("/");

const discoveryJson = (body: unknown, v: string) =>
  json(body, 200, {
    "content-type": `application/json;g=apidiscovery.k8s.io;v=${v.split("/")[1]};as=APIGroupDiscoveryList`,
  });

// A function, not a shared constant: each throw needs its own stack, and building an error
// on every request (to throw on few) cost 3 % of the Worker's time under load.
const notFound = () =>
  new ApiError(404, "NotFound", "the server could not find the requested resource");

const found = (body: unknown) => (body ? json(body) : statusResponse(notFound()));

async function dispatch(c: C, p: ResourcePath | undefined): Promise<Response> {
  if (!p) throw notFound();
  const s = strategyFor(p.group, p.plural);
  if (!s || s.info.version !== p.version) throw notFound();
  if (p.namespace && !s.info.namespaced) throw notFound();
  await authorize(openDb(c.env.DB), c.get("user"), attributesOf(c, p));
  const method = c.req.method;
  if (p.subresource) {
    if (!p.name || !s.info.subresources?.includes(p.subresource)) throw notFound();
    if (p.subresource === "scale") return scale(c, s, p);
    if (p.subresource === "proxy" && (s.info.plural === "pods" || s.info.plural === "services"))
      return proxy(c, s, p);
    if (p.subresource === "binding" && method === "POST") return binding(c, s, p);
    if (p.subresource === "eviction" && method === "POST") return eviction(c, s, p);
    if (p.subresource === "log" && method === "GET" && s.info.plural === "pods")
      return podLog(c, s, p);
    if (p.subresource === "token" && method === "POST") return tokenRequest(c, s, p);
    if (
      p.subresource === "exec" &&
      (method === "GET" || method === "POST") &&
      s.info.plural === "pods"
    )
      return podExec(c, s, p);
    if (
      p.subresource === "portforward" &&
      (method === "GET" || method === "POST") &&
      s.info.plural === "pods"
    )
      return podPortForward(c, s, p);
    if (p.subresource === "status") {
      if (method === "GET") return getOne(c, s, p);
      if (method === "PUT") return replace(c, s, p);
      if (method === "PATCH") return patch(c, s, p);
    }
    throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  }
  if (s.info.verbs) return review(c, s, p);
  if (!p.name) {
    if (method === "GET") return list(c, s, p);
    if (method === "POST") {
      if (s.info.namespaced && !p.namespace) throw notFound();
      return create(c, s, p);
    }
    if (method === "DELETE") return removeCollection(c, s, p);
  } else {
    if (s.info.namespaced && !p.namespace) throw notFound();
    if (method === "GET") return getOne(c, s, p);
    if (method === "PUT") return replace(c, s, p);
    if (method === "PATCH") return patch(c, s, p);
    if (method === "DELETE") return remove(c, s, p);
  }
  throw methodNotAllowed(`the server does not allow this method on the requested resource`);
}
