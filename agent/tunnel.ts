// The agent's end of its node's tunnel: one outbound WebSocket to the control plane
// (`/kubeflare/v1/nodes/<node>/tunnel`), over which it serves container logs and exec (the wire protocol is
// described at the top of src/tunnel/node-tunnel.ts). It redials with back-off and jitter
// whenever the socket drops (deploys close every socket) and when keep-alives go unanswered.

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { request as httpRequest, type IncomingMessage } from "node:http";
import WebSocket from "ws";
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
  WINDOW_BYTES,
} from "../src/k8s/tunnel-protocol.ts";
import { findLog, LogError, type LogTarget, readLog } from "./container-logs.ts";
import { type PodNetwork, serveChannelPortForward, servePortForward } from "./port-forward.ts";

export interface TunnelOptions {
  /** The control plane, e.g. https://kubeflare.example.com */
  server: string;
  nodeName: string;
  /** The node credential from enrollment. */
  credential: string;
  dataDir: string;
  insecure?: boolean;
  log?: (msg: string) => void;
  /**
   * Whether a container still runs. When given, `logs -f` ends once the container stops, as
   * the kubelet's does; without it, only once it restarts or its pod's logs are removed.
   */
  containerRunning?: (t: LogTarget) => boolean | Promise<boolean>;
  /** Starts `kubectl exec`'s command; undefined when the container does not run here. */
  exec?: (q: ExecQuery) => ChildProcessWithoutNullStreams | undefined;
  /** Where a pod running here has its ports; undefined when it does not run here. */
  podNetwork?: (uid: string) => PodNetwork | undefined;
  /** Sets the terminal size of an exec started with a terminal. */
  resize?: (pid: number, size: TerminalSize) => Promise<void>;
}

export interface TerminalSize {
  width: number;
  height: number;
}

/** kubectl's resize message ({"Width":80,"Height":24}), or undefined when it is not one. */
export function terminalSize(data: Uint8Array): TerminalSize | undefined {
  try {
    const { Width: width, Height: height } = JSON.parse(new TextDecoder().decode(data));
    const ok = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) <= 65535;
    return ok(width) && ok(height) ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

const PING_MS = 20_000;
/** No pong for this long: the connection is dead even if TCP has not noticed. */
const DEAD_MS = 50_000;
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
const STABLE_MS = 10_000;

interface Served {
  sock: WebSocket;
  abort: AbortController;
  /** Bytes the control plane will still take before acknowledging more. */
  credit: number;
  /** Senders waiting for credit (an exec's stdout and stderr may both be). */
  waiters: (() => void)[];
  /** An exec stream's input: a data frame's payload (channel byte first). */
  input?: (data: Uint8Array) => void;
}

function wakeAll(st: Served) {
  for (const w of st.waiters.splice(0)) w();
}

export function tunnelUrl(server: string, nodeName: string): string {
  const u = new URL(server);
  u.protocol = u.protocol === "http:" ? "ws:" : "wss:";
  u.pathname = `${u.pathname.replace(/\/$/, "")}/kubeflare/v1/nodes/${encodeURIComponent(nodeName)}/tunnel`;
  return u.toString();
}

export function startTunnel(opts: TunnelOptions): { close(): void } {
  const log = opts.log ?? (() => {});
  const streams = new Map<number, Served>();
  let sock: WebSocket | undefined;
  let closed = false;
  let failures = 0;
  let redial: NodeJS.Timeout | undefined;

  const connect = () => {
    const s = new WebSocket(tunnelUrl(opts.server, opts.nodeName), {
      headers: { authorization: `Bearer ${opts.credential}` },
      rejectUnauthorized: !opts.insecure,
      perMessageDeflate: false,
      handshakeTimeout: 15_000,
    });
    sock = s;
    let lastPong = Date.now();
    let openedAt = 0;
    let pinger: NodeJS.Timeout | undefined;
    s.on("open", () => {
      openedAt = Date.now();
      log(`tunnel: connected to ${opts.server}`);
      pinger = setInterval(() => {
        if (Date.now() - lastPong > DEAD_MS) {
          log("tunnel: no answer to keep-alives, redialing");
          s.terminate();
        } else s.send(PING);
      }, PING_MS);
    });
    s.on("message", (data, isBinary) => {
      if (isBinary) {
        const { id, data: payload } = parseDataFrame(data as Buffer);
        streams.get(id)?.input?.(payload);
        return;
      }
      const text = data.toString();
      if (text === PONG) {
        lastPong = Date.now();
        return;
      }
      let f: DownFrame;
      try {
        f = JSON.parse(text);
      } catch {
        return;
      }
      handle(s, f);
    });
    s.on("error", (err) => log(`tunnel: ${err.message}`));
    s.on("close", (code, reason) => {
      clearInterval(pinger);
      for (const [id, st] of streams) if (st.sock === s) stop(id);
      if (sock === s) sock = undefined;
      if (closed) return;
      // Back off again only from a connection that held (one closed at once, say because
      // another agent took the node's tunnel, keeps backing off).
      if (openedAt && Date.now() - openedAt > STABLE_MS) failures = 0;
      const base = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** failures++);
      const delay = Math.round(base / 2 + (Math.random() * base) / 2);
      log(`tunnel: closed (${code}${reason.length ? ` ${reason}` : ""}), redialing in ${delay} ms`);
      redial = setTimeout(connect, delay);
    });
  };

  const handle = (s: WebSocket, f: DownFrame) => {
    const failed = (err: Error) => log(`tunnel: ${f.type} stream ${f.id}: ${err.message}`);
    if (f.type === "logs") serveLogs(s, f).catch(failed);
    else if (f.type === "exec") serveExec(s, f).catch(failed);
    else if (f.type === "portforward") servePortForwarding(s, f).catch(failed);
    else if (f.type === "proxy") serveProxy(s, f).catch(failed);
    else if (f.type === "ack") {
      const st = streams.get(f.id);
      if (!st) return;
      st.credit += f.bytes;
      wakeAll(st);
    } else if (f.type === "cancel") stop(f.id);
  };

  const stop = (id: number) => {
    const st = streams.get(id);
    if (!st) return;
    streams.delete(id);
    st.abort.abort();
    wakeAll(st);
  };

  const send = (s: WebSocket, payload: string | Uint8Array) =>
    new Promise<void>((resolve, reject) =>
      s.send(payload, (err) => (err ? reject(err) : resolve())),
    );
  const control = (s: WebSocket, f: UpFrame) => send(s, JSON.stringify(f)).catch(() => {});

  /** A stream served on `s`, with a full window. */
  const openStream = (s: WebSocket, id: number): Served => {
    const st: Served = { sock: s, abort: new AbortController(), credit: WINDOW_BYTES, waiters: [] };
    streams.set(id, st);
    return st;
  };

  /** Sends one data frame once the window has room for it; false when the stream was stopped. */
  const sendWithin = async (st: Served, id: number, payload: Uint8Array): Promise<boolean> => {
    while (st.credit < payload.length && !st.abort.signal.aborted)
      await new Promise<void>((r) => st.waiters.push(r));
    if (st.abort.signal.aborted) return false;
    st.credit -= payload.length;
    await send(st.sock, dataFrame(id, payload));
    return true;
  };

  const serveLogs = async (s: WebSocket, q: LogQuery & { id: number }) => {
    const st = openStream(s, q.id);
    const { signal } = st.abort;
    let started = false;
    try {
      const path = await findLog(opts.dataDir, q);
      const since =
        q.sinceTime !== undefined
          ? Date.parse(q.sinceTime)
          : q.sinceSeconds !== undefined
            ? Date.now() - q.sinceSeconds * 1000
            : undefined;
      const running = opts.containerRunning;
      const lines = readLog(path, {
        ...q,
        since,
        signal,
        running: running && (() => running(q)),
      });
      // Opened: from here on the stream has started, whatever comes.
      started = true;
      await control(s, { type: "start", id: q.id });
      for await (const chunk of lines) {
        for (let off = 0; off < chunk.length; off += MAX_CHUNK_BYTES)
          if (!(await sendWithin(st, q.id, chunk.subarray(off, off + MAX_CHUNK_BYTES)))) return;
      }
      if (!signal.aborted) await control(s, { type: "end", id: q.id });
    } catch (err) {
      if (signal.aborted) return;
      const message = err instanceof Error ? err.message : String(err);
      if (started) {
        log(`tunnel: logs of ${q.namespace}/${q.pod}/${q.container}: ${message}`);
        await control(s, { type: "end", id: q.id });
      } else {
        const code = err instanceof LogError ? err.code : 500;
        await control(s, { type: "error", id: q.id, code, message });
      }
    } finally {
      streams.delete(q.id);
    }
  };

  /** Sends `data` on `channel` of an exec stream, within the stream's window. */
  const sendChannel = async (st: Served, id: number, channel: number, data: Uint8Array) => {
    for (let off = 0; off < data.length; off += MAX_CHUNK_BYTES - 1) {
      const piece = data.subarray(off, off + MAX_CHUNK_BYTES - 1);
      const payload = new Uint8Array(piece.length + 1);
      payload[0] = channel;
      payload.set(piece, 1);
      if (!(await sendWithin(st, id, payload))) return;
    }
  };

  const serveExec = async (s: WebSocket, q: ExecQuery & { id: number }) => {
    const st = openStream(s, q.id);
    let proc: ChildProcessWithoutNullStreams | undefined;
    let failure = { code: 404, message: `container not found ("${q.container}")` };
    try {
      proc = opts.exec?.(q);
    } catch (err) {
      const message = `cannot run ${JSON.stringify(q.command)}: ${(err as Error).message}`;
      failure = { code: 500, message };
    }
    if (!proc) {
      streams.delete(q.id);
      await control(s, { type: "error", id: q.id, ...failure });
      return;
    }
    // Resizes run one at a time, the latest size last; those in between are skipped.
    let size: TerminalSize | undefined;
    let resizing = false;
    const resize = async () => {
      resizing = true;
      for (let next = size; next; next = size) {
        size = undefined;
        await opts.resize?.(proc.pid as number, next).catch((err) => {
          log(`tunnel: resize in ${q.namespace}/${q.pod}/${q.container}: ${err.message}`);
        });
      }
      resizing = false;
    };
    st.input = (data) => {
      if (data[0] === CHANNEL.stdin) proc.stdin.write(data.subarray(1));
      else if (data[0] === CHANNEL.close && data[1] === CHANNEL.stdin) proc.stdin.end();
      else if (data[0] === CHANNEL.resize && q.tty && proc.pid) {
        size = terminalSize(data.subarray(1)) ?? size;
        if (!resizing) void resize();
      }
    };
    st.abort.signal.addEventListener("abort", () => proc.kill("SIGKILL"));
    proc.stdin.on("error", () => {});
    if (!q.stdin) proc.stdin.end();
    await control(s, { type: "start", id: q.id });
    const pump = async (from: NodeJS.ReadableStream, channel: number, wanted: boolean) => {
      for await (const chunk of from)
        if (wanted) await sendChannel(st, q.id, channel, chunk as Uint8Array);
    };
    const exited = new Promise<number>((resolve) => {
      proc.on("error", () => resolve(126));
      proc.on("close", (code, signal) => resolve(code ?? (signal ? 137 : 1)));
    });
    try {
      await Promise.all([
        pump(proc.stdout, CHANNEL.stdout, q.stdout),
        pump(proc.stderr, CHANNEL.stderr, q.stderr),
      ]);
      const code = await exited;
      if (st.abort.signal.aborted) return;
      // The kubelet's last word: Success, or the exit code kubectl exits with.
      const status =
        code === 0
          ? { metadata: {}, status: "Success" }
          : {
              metadata: {},
              status: "Failure",
              message: `command terminated with non-zero exit code: error executing command [${q.command.join(" ")}], exit code ${code}`,
              reason: "NonZeroExitCode",
              details: { causes: [{ reason: "ExitCode", message: String(code) }] },
            };
      await sendChannel(st, q.id, CHANNEL.error, new TextEncoder().encode(JSON.stringify(status)));
      await control(s, { type: "end", id: q.id });
    } catch (err) {
      log(`tunnel: exec in ${q.namespace}/${q.pod}/${q.container}: ${(err as Error).message}`);
      await control(s, { type: "end", id: q.id });
    } finally {
      streams.delete(q.id);
    }
  };

  /**
   * Where the pod of a port-forward or proxy stream runs here; when it does not, the stream
   * fails with `code` (the Worker answers a proxy's with 503, as the apiserver does).
   */
  const podHere = async (
    s: WebSocket,
    q: { id: number; namespace: string; pod: string; uid: string },
    code: number,
  ): Promise<PodNetwork | undefined> => {
    const network = opts.podNetwork?.(q.uid);
    if (network) return network;
    streams.delete(q.id);
    const message = `pod ${q.namespace}/${q.pod} (uid ${q.uid}) is not running on this node`;
    await control(s, { type: "error", id: q.id, code, message });
    return undefined;
  };

  const servePortForwarding = async (s: WebSocket, q: PortForwardQuery & { id: number }) => {
    const st = openStream(s, q.id);
    const network = await podHere(s, q, 404);
    if (!network) return;
    const ended = new Promise<void>((resolve) => {
      if (st.abort.signal.aborted) resolve();
      else st.abort.signal.addEventListener("abort", () => resolve());
    });
    const common = {
      pod: `${q.namespace}/${q.pod}`,
      uid: q.uid,
      network,
      log,
      send: async (bytes: Buffer) => {
        if (!(await sendWithin(st, q.id, bytes))) throw new Error("the client went away");
      },
    };
    const end = () => {
      stop(q.id);
      void control(s, { type: "end", id: q.id });
    };
    const session = q.ports?.length
      ? serveChannelPortForward({ ...common, ports: q.ports, onEnd: end })
      : servePortForward({
          ...common,
          onError: (err) => {
            log(`tunnel: port-forward to ${q.namespace}/${q.pod}: ${err.message}`);
            end();
          },
        });
    st.input = (data) => session.input(data);
    await control(s, { type: "start", id: q.id });
    await ended;
    session.close();
    streams.delete(q.id);
  };

  /** One HTTP request to a pod running here (pods/proxy, services/proxy), answered as it comes. */
  const serveProxy = async (s: WebSocket, q: ProxyQuery & { id: number }) => {
    const st = openStream(s, q.id);
    const { signal } = st.abort;
    // The request body follows in data frames: take them before anything is awaited.
    const body: Uint8Array[] = [];
    let received = 0;
    const bodyDone = new Promise<void>((resolve) => {
      if (received >= q.bodyBytes) resolve();
      st.input = (data) => {
        body.push(data);
        received += data.length;
        if (received >= q.bodyBytes) resolve();
      };
      signal.addEventListener("abort", () => resolve());
    });
    const network = await podHere(s, q, 503);
    if (!network) return;
    await bodyDone;
    if (signal.aborted) return;
    const headers: Record<string, string> = {};
    for (const [k, v] of q.headers)
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    let started = false;
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest(
          { host: network.ip, port: q.port, method: q.method, path: q.path, headers, signal },
          resolve,
        );
        req.setTimeout(30_000, () => req.destroy(new Error("timed out waiting for an answer")));
        req.on("error", reject);
        req.end(Buffer.concat(body));
      });
      const pairs: [string, string][] = [];
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
        pairs.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
      started = true;
      await control(s, { type: "start", id: q.id, status: res.statusCode ?? 502, headers: pairs });
      for await (const chunk of res)
        for (let off = 0; off < chunk.length; off += MAX_CHUNK_BYTES)
          if (!(await sendWithin(st, q.id, chunk.subarray(off, off + MAX_CHUNK_BYTES)))) return;
      await control(s, { type: "end", id: q.id });
    } catch (err) {
      if (signal.aborted) return;
      const message = `error trying to reach service: ${(err as Error).message}`;
      if (started) await control(s, { type: "end", id: q.id });
      else await control(s, { type: "error", id: q.id, code: 503, message });
    } finally {
      streams.delete(q.id);
    }
  };

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(redial);
      for (const id of [...streams.keys()]) stop(id);
      sock?.close(1000, "agent stopping");
    },
  };
}
