// The agent's install script and bundle, served without authentication so a new host can fetch
// them with curl before it has any credential (built into public/agent/ by scripts/build-agent.ts).
import { ApiError } from "../k8s/errors.ts";
import type { C } from "./context.ts";

export const AGENT_FILES = ["/install.sh", "/agent/kubeflare-agent.mjs"];

async function asset(c: C, path: string): Promise<Response> {
  const res = await c.env.ASSETS.fetch(new URL(path, c.req.url));
  if (!res.ok) throw new ApiError(404, "NotFound", `${path} is not built on this server`);
  return res;
}

/** install.sh with this server's origin as the default --server. */
export async function installScript(c: C): Promise<Response> {
  // Decoded by hand: the asset's own content-type (application/x-sh) is not a text/* one.
  const script = new TextDecoder().decode(
    await (await asset(c, "/agent/install.sh")).arrayBuffer(),
  );
  return new Response(script.replaceAll("__KUBEFLARE_SERVER__", new URL(c.req.url).origin), {
    headers: { "content-type": "text/x-shellscript; charset=utf-8", "cache-control": "no-cache" },
  });
}

export async function agentBundle(c: C): Promise<Response> {
  const res = await asset(c, "/agent/kubeflare-agent.mjs");
  return new Response(res.body, {
    headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" },
  });
}
