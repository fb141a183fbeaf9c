// pods/exec (pkg/registry/core/pod/rest/subresources.go, the kubelet's exec): kubectl's WebSocket
// (v5 or v4.channel.k8s.io) goes to the pod's node's tunnel object, which relays it to the agent;
// the agent runs the command in the container and streams its output and exit status back.
import { badRequest } from "../../k8s/errors.ts";
import type { ExecQuery } from "../../k8s/tunnel-protocol.ts";
import * as rest from "../../resources/rest.ts";
import type { KObject, Strategy } from "../../resources/types.ts";
import { boolQuery, type C, query, storeCtx } from "../context.ts";
import type { ResourcePath } from "../paths.ts";
import { containerStatus, pickContainer } from "./pod-log.ts";

/** The streaming protocols spoken, preferred first (v5 adds closing stdin). */
const PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

export async function podExec(c: C, s: Strategy, p: ResourcePath): Promise<Response> {
  const name = p.name as string;
  const pod: KObject = (await rest.get(storeCtx(c), s, p.namespace ?? "", name)).object;
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed")
    throw badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`);
  const node = pod.spec?.nodeName;
  if (!node) throw badRequest(`pod ${name} does not have a host assigned`);
  const container = pickContainer(pod, query(c, "container") || undefined);
  if (!containerStatus(pod, container)?.state?.running)
    throw badRequest(`unable to upgrade connection: container not found ("${container}")`);
  const command = c.req.queries("command") ?? [];
  if (!command.length) throw badRequest("you must specify at least one command for the container");
  // No process argument can hold a NUL byte.
  if (command.some((a) => a.includes("\0")))
    throw badRequest("invalid command: an argument contains a NUL byte");
  const q: ExecQuery & { node: string } = {
    node,
    namespace: pod.metadata.namespace,
    pod: name,
    uid: pod.metadata.uid,
    container,
    command,
    stdin: boolQuery(c, "stdin"),
    stdout: boolQuery(c, "stdout"),
    stderr: boolQuery(c, "stderr"),
    tty: boolQuery(c, "tty"),
  };
  if (!q.stdin && !q.stdout && !q.stderr)
    throw badRequest("you must specify at least 1 of stdin, stdout, stderr");
  // What is asked is checked first, so that kubectl's SPDY retry hears the same answer.
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket")
    throw badRequest("Upgrade request required: exec is served over WebSocket (v5.channel.k8s.io)");
  const offered = offeredProtocols(c);
  const protocol = PROTOCOLS.find((x) => offered.includes(x));
  if (!protocol)
    throw badRequest(
      `unable to upgrade connection: none of the offered protocols [${offered.join(" ")}] is supported; this server speaks ${PROTOCOLS.join(", ")}`,
    );
  return relayToNode(c, node, "exec", q, protocol);
}

/** The WebSocket subprotocols the client offers, in its order. */
export const offeredProtocols = (c: C): string[] =>
  (c.req.header("sec-websocket-protocol") ?? "").split(",").map((x) => x.trim());

/**
 * Hands the client's WebSocket upgrade to the tunnel object of the pod's node, which relays the
 * session to the agent as a `kind` stream opened with `q`, speaking `protocol`.
 */
export function relayToNode(
  c: C,
  node: string,
  kind: "exec" | "portforward",
  q: object,
  protocol: string,
): Promise<Response> {
  return c.env.TUNNEL.getByName(node).fetch(
    new Request(`https://tunnel.internal/${kind}`, {
      headers: {
        upgrade: "websocket",
        [`x-kubeflare-${kind}`]: JSON.stringify(q),
        "x-kubeflare-protocol": protocol,
      },
    }),
  );
}
