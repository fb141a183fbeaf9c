// GET /kubeflare/v1/nodes/<name>/tunnel: the agent's WebSocket to its node's tunnel object.
// Only the node itself may open it: whoever holds the socket serves that node's logs.
import { badRequest, forbidden } from "../../k8s/errors.ts";
import type { C } from "../context.ts";

export async function openTunnel(c: C): Promise<Response> {
  const node = c.req.param("name") as string;
  const user = c.get("user");
  if (user.node?.name !== node)
    throw forbidden(
      `nodes "${node}" is forbidden: User "${user.username}" cannot open the tunnel of node "${node}": only the node itself may`,
    );
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket")
    throw badRequest("the tunnel is a WebSocket: expected an Upgrade: websocket request");
  return c.env.TUNNEL.getByName(node).fetch(c.req.raw);
}
