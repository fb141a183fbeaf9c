// NodeTunnel: one Durable Object per node (`TUNNEL.getByName(nodeName)`) holding the WebSocket its
// agent dialed out to, so the control plane reaches the host with no inbound port (DESIGN.md,
// "Agent"). Requests are multiplexed over that one socket as streams.
//
// Wire protocol (types in src/k8s/tunnel-protocol.ts):
// - The agent dials `GET /kubeflare/v1/nodes/<node>/tunnel` (WebSocket upgrade) with its node
//   credential. A new socket replaces the old one: the old one is closed (code 4000) and the
//   streams on it end.
// - Text frames are JSON control messages, binary frames are stream data.
// - Control plane → agent:
//     {"type":"logs","id":7,"namespace":"default","pod":"web","uid":"…","container":"app",
//      "follow":true,"tailLines":10,"sinceSeconds":60,"sinceTime":"…","timestamps":true,
//      "previous":false,"limitBytes":1024}            open stream 7 (ids are uint32)
//     {"type":"ack","id":7,"bytes":65536}              the client consumed that many bytes
//     {"type":"exec","id":8,"namespace":"default","pod":"web","uid":"…","container":"app",
//      "command":["sh"],"stdin":true,"stdout":true,"stderr":true,"tty":false}
//                                                      open exec stream 8
//     {"type":"portforward","id":9,"namespace":"default","pod":"web","uid":"…"}
//                                                      open a port-forward session: its data
//                                                      frames carry kubectl's SPDY bytes as sent
//     binary (exec streams): stream id, then a channel byte and its data (stdin, resize, close)
//     {"type":"cancel","id":7}                         the client went away: stop stream 7
// - Agent → control plane:
//     {"type":"start","id":7}                          stream 7 is good, data follows
//     {"type":"error","id":7,"code":400,"message":"…"} stream 7 failed before any data (the
//                                                      kubelet's HTTP status and message)
//     binary: stream id as 4 bytes big-endian, then up to 64 KiB of data (for exec streams, a
//     channel byte first: stdout, stderr, or the final Status on the error channel)
//     {"type":"end","id":7}                            stream 7 is complete
// - Flow control: the agent has at most WINDOW_BYTES (256 KiB) of a stream's data unacknowledged;
//   the object acknowledges bytes as the client reads them, so a slow client holds the agent
//   back instead of filling this object's memory.
// - Keep-alive: the agent sends the text frame "ping" every 20 s; "pong" is answered without
//   waking the object from hibernation. No pong for a while → the agent redials.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import {
  CHANNEL,
  type DownFrame,
  dataFrame,
  type ExecQuery,
  type LogQuery,
  MAX_CHUNK_BYTES,
  PING,
  PONG,
  type PortForwardQuery,
  type ProxyQuery,
  parseDataFrame,
  type UpFrame,
} from "../k8s/tunnel-protocol.ts";

/** A stream's outcome as the Worker needs it: a body to return, or a Kubernetes error. */
export type StreamResult =
  | {
      ok: true;
      id: number;
      body: ReadableStream<Uint8Array>;
      /** A proxied response's status and headers. */
      status?: number;
      headers?: [string, string][];
    }
  | { ok: false; code: number; message: string };

interface Stream {
  ws: WebSocket;
  /** An exec or port-forward stream's client (kubectl's WebSocket), which its data goes to. */
  client?: WebSocket;
  /** Ends the client's session with an error, as its protocol can say it. */
  fail?: (code: number, message: string) => void;
  /** An exec or port-forward stream the agent started. */
  started?: boolean;
  /** Set once the agent said start. */
  controller?: ReadableStreamDefaultController<Uint8Array>;
  /** Settles the request waiting for start or error. */
  settle?: (r: StreamResult) => void;
  /** Bytes handed to the client since the last ack. */
  unacked: number;
}

/** Ends an exec client's stream as the kubelet does: a failure Status on the error channel, then close. */
function endExec(client: WebSocket, code: number, message: string) {
  const status = { metadata: {}, status: "Failure", message, code };
  try {
    client.send(
      new Uint8Array([CHANNEL.error, ...new TextEncoder().encode(JSON.stringify(status))]),
    );
    client.close(1000, "");
  } catch {}
}

/** Closes a client's WebSocket with a reason (at most 123 bytes fit in a close frame). */
function closeWith(client: WebSocket, message: string) {
  try {
    client.close(1011, message.slice(0, 120));
  } catch {}
}

/** How long the agent has to start a stream. */
const START_TIMEOUT_MS = 30_000;
/** Close code telling an agent its socket was superseded by a newer one. */
const REPLACED = 4000;

export class NodeTunnel extends DurableObject<Env> {
  private streams = new Map<number, Stream>();
  // Random start: frames for a stream of a previous incarnation never match a new one.
  private nextId = Math.floor(Math.random() * 0xffffffff);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  /**
   * The agent's WebSocket upgrade, or (`/exec`) a client's for `kubectl exec`; the Worker has
   * authenticated and authorized both.
   */
  override async fetch(req: Request): Promise<Response> {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket")
      return new Response("expected a WebSocket upgrade", { status: 426 });
    const path = new URL(req.url).pathname;
    if (path === "/exec") return this.relay(req, "exec");
    if (path === "/portforward") return this.relay(req, "portforward");
    for (const old of this.ctx.getWebSockets()) {
      this.dropStreams(old);
      try {
        old.close(REPLACED, "replaced by a newer connection");
      } catch {}
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Open a log stream on the node: the body once the agent starts it, or why not. */
  logs(node: string, q: LogQuery): Promise<StreamResult> {
    const url = `https://${node}:10250/containerLogs/${q.namespace}/${q.pod}/${q.container}`;
    return this.open(node, `Get "${url}"`, (id) => ({ type: "logs", id, ...q }));
  }

  /**
   * One HTTP request to a pod, made by the node's agent (pods/proxy, services/proxy): the
   * response's status, headers and body once the agent has them, or why not.
   */
  proxy(node: string, q: ProxyQuery, body: Uint8Array): Promise<StreamResult> {
    const what = `${q.method} "http://${q.pod}:${q.port}${q.path}"`;
    return this.open(
      node,
      what,
      (id) => ({ type: "proxy", id, ...q, bodyBytes: body.length }),
      body,
    );
  }

  /** Opens a stream on the node's agent; `what` names the request in error messages. */
  private async open(
    node: string,
    what: string,
    frame: (id: number) => DownFrame,
    body?: Uint8Array,
  ): Promise<StreamResult> {
    const ws = this.ctx.getWebSockets().find((w) => w.readyState === WebSocket.OPEN);
    if (!ws)
      return {
        ok: false,
        code: 503,
        message: `${what}: no tunnel for node "${node}": its agent is not connected`,
      };
    this.nextId = (this.nextId + 1) >>> 0;
    const id = this.nextId;
    const s: Stream = { ws, unacked: 0 };
    this.streams.set(id, s);
    const result = new Promise<StreamResult>((resolve) => {
      const timer = setTimeout(() => {
        this.cancel(id);
        resolve({
          ok: false,
          code: 504,
          message: `${what}: node "${node}" did not answer within ${START_TIMEOUT_MS / 1000}s`,
        });
      }, START_TIMEOUT_MS);
      s.settle = (r) => {
        clearTimeout(timer);
        s.settle = undefined;
        resolve(r);
      };
    });
    let sent = this.send(ws, frame(id));
    try {
      for (let off = 0; sent && body && off < body.length; off += MAX_CHUNK_BYTES)
        ws.send(dataFrame(id, body.subarray(off, off + MAX_CHUNK_BYTES)));
    } catch {
      sent = false;
    }
    if (!sent)
      s.settle?.({
        ok: false,
        code: 503,
        message: `${what}: the tunnel of node "${node}" is closing`,
      });
    return result;
  }

  /**
   * `kubectl exec` and `kubectl port-forward`: the client's WebSocket (not hibernatable: the
   * session lives as long as it does) relayed to a stream on the agent. Bytes pass through
   * unchanged both ways (exec's channel bytes, port-forward's SPDY frames).
   */
  private relay(req: Request, kind: "exec" | "portforward"): Response {
    const q = JSON.parse(req.headers.get(`x-kubeflare-${kind}`) ?? "{}") as (
      | ExecQuery
      | PortForwardQuery
    ) & { node: string };
    const protocol = req.headers.get("x-kubeflare-protocol") ?? "";
    const { 0: client, 1: server } = new WebSocketPair();
    server.accept();
    const ws = this.ctx.getWebSockets().find((w) => w.readyState === WebSocket.OPEN);
    // An exec ends with a Status on its error channel; SPDY has no place for one before the
    // client opens streams, so a port-forward's socket closes with the reason.
    const fail = (code: number, message: string) =>
      kind === "exec" ? endExec(server, code, message) : closeWith(server, message);
    if (!ws) fail(500, `no tunnel for node "${q.node}": its agent is not connected`);
    else {
      this.nextId = (this.nextId + 1) >>> 0;
      const id = this.nextId;
      const stream: Stream = { ws, client: server, fail, unacked: 0 };
      this.streams.set(id, stream);
      // As for logs: an agent that never starts the session does not leave kubectl waiting.
      const timer = setTimeout(() => {
        if (this.streams.get(id) !== stream || stream.started) return;
        fail(504, `node "${q.node}" did not answer within ${START_TIMEOUT_MS / 1000}s`);
        this.cancel(id);
      }, START_TIMEOUT_MS);
      server.addEventListener("close", () => clearTimeout(timer));
      const { node: _node, ...query } = q;
      const opened = this.send(ws, { type: kind, id, ...query } as DownFrame);
      if (!opened) fail(500, "the node's tunnel is closing");
      // Binary messages of an accepted (not hibernatable) socket may come as Blobs: read them in
      // order, so the bytes keep their sequence.
      let relayed = Promise.resolve();
      server.addEventListener("message", (ev) => {
        const data = ev.data as string | ArrayBuffer | Blob;
        if (typeof data === "string") return;
        relayed = relayed.then(async () => {
          const bytes = new Uint8Array(data instanceof Blob ? await data.arrayBuffer() : data);
          if (!this.streams.has(id)) return;
          try {
            ws.send(dataFrame(id, bytes));
          } catch {}
        });
      });
      server.addEventListener("close", () => this.cancel(id));
      server.addEventListener("error", () => this.cancel(id));
    }
    return new Response(null, {
      status: 101,
      webSocket: client,
      headers: protocol ? { "sec-websocket-protocol": protocol } : {},
    });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (typeof message !== "string") {
      if (message.byteLength < 4) return;
      const { id, data } = parseDataFrame(message);
      const s = this.streams.get(id);
      if (s?.client) {
        try {
          s.client.send(data);
        } catch {}
        // What the client's socket took is acknowledged at once: it buffers, this object does not.
        this.send(ws, { type: "ack", id, bytes: data.byteLength });
        return;
      }
      if (!s?.controller) {
        this.send(ws, { type: "cancel", id });
        return;
      }
      s.unacked += data.byteLength;
      s.controller.enqueue(data);
      return;
    }
    let f: UpFrame;
    try {
      f = JSON.parse(message);
    } catch {
      return;
    }
    const s = this.streams.get(f.id);
    if (!s) return;
    if (s.client) {
      if (f.type === "start") {
        s.started = true;
        return;
      }
      this.streams.delete(f.id);
      if (f.type === "error") s.fail?.(f.code, f.message);
      else
        try {
          s.client.close(1000, "");
        } catch {}
      return;
    }
    if (f.type === "start") this.start(f.id, s, f.status, f.headers);
    else if (f.type === "error") {
      this.streams.delete(f.id);
      if (s.settle) s.settle({ ok: false, code: f.code, message: f.message });
      else s.controller?.close();
    } else if (f.type === "end") {
      this.streams.delete(f.id);
      s.settle?.({ ok: false, code: 500, message: "the node ended the stream before starting it" });
      s.controller?.close();
    }
  }

  override webSocketClose(ws: WebSocket): void {
    this.dropStreams(ws);
    // Finish the closing handshake (older compatibility dates leave it to us).
    try {
      ws.close(1000, "closed by the agent");
    } catch {}
  }

  override webSocketError(ws: WebSocket): void {
    this.dropStreams(ws);
  }

  private start(id: number, s: Stream, status?: number, headers?: [string, string][]) {
    if (!s.settle) return;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          s.controller = controller;
        },
        // Called when the client wants more and nothing is queued: grant the agent what it read.
        pull: () => {
          if (s.unacked > 0 && this.streams.has(id)) {
            this.send(s.ws, { type: "ack", id, bytes: s.unacked });
            s.unacked = 0;
          }
        },
        cancel: () => this.cancel(id),
      },
      { highWaterMark: 0 },
    );
    s.settle({ ok: true, id, body, status, headers });
  }

  /**
   * The client is gone (or never came): tell the agent to stop. The Worker calls this when its
   * client disconnects, since a returned stream learns of that only at its next write.
   */
  cancel(id: number) {
    const s = this.streams.get(id);
    if (!s) return;
    this.streams.delete(id);
    this.send(s.ws, { type: "cancel", id });
    try {
      s.controller?.close();
      s.client?.close(1000, "");
    } catch {}
  }

  /** A socket went away: its streams end (those not started yet fail). */
  private dropStreams(ws: WebSocket) {
    for (const [id, s] of this.streams) {
      if (s.ws !== ws) continue;
      this.streams.delete(id);
      s.settle?.({ ok: false, code: 503, message: "the node's tunnel closed" });
      try {
        s.controller?.close();
        s.client?.close(1011, "the node's tunnel closed");
      } catch {}
    }
  }

  private send(ws: WebSocket, f: DownFrame): boolean {
    try {
      ws.send(JSON.stringify(f));
      return true;
    } catch {
      return false;
    }
  }
}
