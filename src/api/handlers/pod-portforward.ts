// pods/portforward (the kubelet's port-forward, reached through the node's tunnel): kubectl 1.31+
// opens a WebSocket with the SPDY/3.1+portforward.k8s.io subprotocol and speaks SPDY inside it;
// client libraries use the channel protocol (v4.channel.k8s.io, ports in the query). The bytes go
// unchanged to the pod's agent, which speaks either and connects to the ports inside the pod's
// network namespace.
import { badRequest } from "../../k8s/errors.ts";
import type { PortForwardQuery } from "../../k8s/tunnel-protocol.ts";
import * as rest from "../../resources/rest.ts";
import type { KObject, Strategy } from "../../resources/types.ts";
import { type C, storeCtx } from "../context.ts";
import type { ResourcePath } from "../paths.ts";
import { offeredProtocols, relayToNode } from "./pod-exec.ts";

/** SPDY tunnelled in WebSocket binary messages (client-go's tunneling dialer). */
export const PORT_FORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io";
/** Kubernetes' channel protocol, as client libraries (Python, JavaScript) forward ports. */
const CHANNEL_PROTOCOL = "v4.channel.k8s.io";
const PROTOCOLS = [PORT_FORWARD_PROTOCOL, CHANNEL_PROTOCOL];

export async function podPortForward(c: C, s: Strategy, p: ResourcePath): Promise<Response> {
  const name = p.name as string;
  const pod: KObject = (await rest.get(storeCtx(c), s, p.namespace ?? "", name)).object;
  const node = pod.spec?.nodeName;
  if (!node) throw badRequest(`pod ${name} does not have a host assigned`);
  const phase = pod.status?.phase;
  if (phase !== "Running")
    throw badRequest(
      `unable to forward port because pod is not running. Current status=${phase ?? "Pending"}`,
    );
  // kubectl falls back to a plain SPDY upgrade when the WebSocket one fails: both hear this.
  const offered = offeredProtocols(c);
  const protocol = PROTOCOLS.find((x) => offered.includes(x));
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket" || !protocol)
    throw badRequest(
      `unable to upgrade connection: port-forward is served over WebSocket with the ${PORT_FORWARD_PROTOCOL} subprotocol (kubectl 1.31 or newer, or 1.30 with KUBECTL_PORT_FORWARD_WEBSOCKETS=true) or ${CHANNEL_PROTOCOL} (client libraries)`,
    );
  const q: PortForwardQuery & { node: string } = {
    node,
    namespace: pod.metadata.namespace,
    pod: name,
    uid: pod.metadata.uid,
  };
  if (protocol === CHANNEL_PROTOCOL) {
    // The channel protocol names its ports up front: `?ports=80,8080` (or repeated).
    const ports = (c.req.queries("ports") ?? []).flatMap((x) => x.split(",")).filter(Boolean);
    if (!ports.length) throw badRequest('query parameter "ports" is required');
    q.ports = ports.map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw badRequest(`invalid port "${x}"`);
      return n;
    });
  }
  return relayToNode(c, node, "portforward", q, protocol);
}
