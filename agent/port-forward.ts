// kubectl port-forward on the host, as the kubelet serves it: over one SPDY connection the client
// opens, per local connection, an error stream and a data stream with the same requestID and
// port. Once both are there the agent connects to localhost:<port> inside the pod's network
// namespace and copies bytes both ways; a failure is written on the error stream. When the copy
// is over both streams end, which is what kubectl waits for before it closes the local side.
import { type ChildProcess, spawn } from "node:child_process";
import { connect as tcpConnect } from "node:net";
import { RST, SpdyServer, type SpdyStream } from "./spdy.ts";

/** Where a pod's ports are: its IP, and its network namespace (none for a hostNetwork pod). */
export interface PodNetwork {
  ip: string;
  netns?: string;
}

export interface PortForwardOptions {
  /** namespace/name, for messages. */
  pod: string;
  uid: string;
  network: PodNetwork;
  /** Hands SPDY bytes to the client, in order. */
  send: (bytes: Buffer) => Promise<void>;
  log: (msg: string) => void;
  /** The connection broke (a frame that cannot be read): end the session. */
  onError?: (err: Error) => void;
}

/** How long the second stream of a pair may keep the first waiting (the kubelet's timeout). */
const PAIR_TIMEOUT_MS = 30_000;

// Run in the pod's network namespace (nsenter --net) by the agent's own Node: connect to the
// port on localhost and copy stdin to it and it to stdout. A refused connection exits 1 with why.
const HELPER = `const s = require("node:net").connect(Number(process.argv[1]), "127.0.0.1");
s.once("connect", () => { process.stdin.pipe(s); s.pipe(process.stdout); });
s.once("error", (e) => { process.stderr.write(e.message); process.exit(1); });
s.once("close", () => process.stdout.end(() => process.exit(0)));`;

/** A connection to a pod's port: bytes in and out, and why it failed if it did. */
interface PortConnection {
  readable: NodeJS.ReadableStream & { pause(): void; resume(): void };
  write(data: Buffer): void;
  end(): void;
  /** Resolves when it is over: undefined, or why it could not connect or broke. */
  done: Promise<string | undefined>;
  kill(): void;
}

function connectToPort(network: PodNetwork, port: number): PortConnection {
  if (!network.netns) {
    // A hostNetwork pod's ports are the host's own.
    const sock = tcpConnect(port, "127.0.0.1");
    let failure: string | undefined;
    sock.on("error", (err) => {
      failure = err.message;
    });
    return {
      readable: sock,
      write: (d) => void sock.write(d),
      end: () => sock.end(),
      done: new Promise((resolve) => sock.once("close", () => resolve(failure))),
      kill: () => sock.destroy(),
    };
  }
  const child: ChildProcess = spawn(
    "nsenter",
    [`--net=${network.netns}`, "--", process.execPath, "-e", HELPER, String(port)],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  child.stdin?.on("error", () => {});
  return {
    readable: child.stdout as PortConnection["readable"],
    write: (d) => void child.stdin?.write(d),
    end: () => child.stdin?.end(),
    done: new Promise((resolve) => {
      child.once("error", (err) => resolve(err.message));
      child.once("close", (code, signal) =>
        resolve(code === 0 ? undefined : stderr.trim() || `exit ${code ?? signal}`),
      );
    }),
    kill: () => child.kill("SIGKILL"),
  };
}

/**
 * Hands what the pod sends to `write`, pausing while a chunk goes out, so the pod's data waits
 * for the client's transport rather than piling up here (a child's stdout may still hand over a
 * chunk or two meanwhile: `write` must keep order by itself).
 */
function copyFromPod(conn: PortConnection, write: (chunk: Buffer) => Promise<void>) {
  conn.readable.on("data", (chunk: Buffer) => {
    conn.readable.pause();
    write(chunk).then(
      () => conn.readable.resume(),
      () => conn.kill(),
    );
  });
}

/** Why a port could not be reached, as the kubelet words it on the error stream (and logged). */
function failureReport(
  opts: Pick<PortForwardOptions, "pod" | "uid" | "log">,
  port: number,
  failure: string,
): Buffer {
  const message = `error forwarding port ${port} to pod ${opts.pod}, uid ${opts.uid}: localhost:${port} inside the pod's network namespace: ${failure}`;
  opts.log(`port-forward: ${message}`);
  return Buffer.from(message);
}

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  /** Client data that came before the connection to the pod was made. */
  early: (Buffer | null)[];
  timer: NodeJS.Timeout;
}

/** Serves one port-forward session; feed it the client's bytes, close it when the client goes. */
export function servePortForward(opts: PortForwardOptions) {
  const pairs = new Map<string, Pair>();
  const live = new Set<PortConnection>();
  let closed = false;

  const forward = async (
    port: number,
    data: SpdyStream,
    error: SpdyStream,
    early: (Buffer | null)[],
  ) => {
    const conn = connectToPort(opts.network, port);
    live.add(conn);
    const toPod = (d: Buffer | null) => (d === null ? conn.end() : conn.write(d));
    for (const d of early) toPod(d);
    data.onData = toPod;
    // A client that resets the streams (or goes away) wants no reason for the end it caused.
    let dropped = false;
    const drop = () => {
      dropped = true;
      conn.kill();
    };
    data.onReset = drop;
    error.onReset = drop;
    copyFromPod(conn, (chunk) => data.write(chunk));
    const failure = await conn.done;
    live.delete(conn);
    if (dropped || closed) return;
    if (failure) await error.write(failureReport(opts, port, failure)).catch(() => {});
    await data.end().catch(() => {});
    await error.end().catch(() => {});
  };

  const onStream = (s: SpdyStream) => {
    const type = s.headers.get("streamtype");
    const port = Number(s.headers.get("port"));
    const requestID = s.headers.get("requestid") ?? "";
    if (
      (type !== "data" && type !== "error") ||
      !Number.isInteger(port) ||
      port < 1 ||
      port > 65535
    ) {
      opts.log(
        `port-forward: refusing stream ${s.id} (streamType ${type}, port ${s.headers.get("port")})`,
      );
      void s.reset(RST.refusedStream).catch(() => {});
      return;
    }
    let pair = pairs.get(requestID);
    if (!pair) {
      const p: Pair = {
        early: [],
        timer: setTimeout(() => {
          pairs.delete(requestID);
          for (const x of [p.data, p.error]) void x?.reset().catch(() => {});
        }, PAIR_TIMEOUT_MS),
      };
      pair = p;
      pairs.set(requestID, pair);
    }
    const p = pair;
    if (type === "data") {
      p.data = s;
      s.onData = (d) => p.early.push(d);
    } else {
      // kubectl only reads the error stream; what it sends there is nothing.
      p.error = s;
      s.onData = () => {};
    }
    if (p.data && p.error) {
      clearTimeout(p.timer);
      pairs.delete(requestID);
      void forward(port, p.data, p.error, p.early);
    }
  };

  const server = new SpdyServer({ send: opts.send, onStream, onError: opts.onError });
  return {
    input: (bytes: Uint8Array) => server.feed(bytes),
    close() {
      closed = true;
      server.close();
      for (const p of pairs.values()) clearTimeout(p.timer);
      pairs.clear();
      for (const c of live) c.kill();
      live.clear();
    },
  };
}

/**
 * Serves the channel protocol (v4.channel.k8s.io) of client libraries: one connection per
 * requested port for the life of the session. For the i-th port, channel 2i carries data both
 * ways and 2i+1 its error; each first sends the port number, 2 bytes little-endian. The session
 * ends once every connection has.
 */
export function serveChannelPortForward(
  opts: Omit<PortForwardOptions, "onError"> & { ports: number[]; onEnd: () => void },
) {
  let closed = false;
  // One queue: frames of a channel stay in order even when a child's stdout runs ahead.
  let queue = Promise.resolve();
  const send = (channel: number, data: Uint8Array = new Uint8Array(0)) => {
    const frame = Buffer.concat([Buffer.from([channel]), data]);
    const next = queue.then(() => (closed ? undefined : opts.send(frame)));
    queue = next.catch(() => {});
    return next;
  };
  const conns = opts.ports.map((port, i) => {
    const portBytes = Buffer.from([port & 0xff, port >> 8]);
    void send(2 * i, portBytes);
    void send(2 * i + 1, portBytes);
    const conn = connectToPort(opts.network, port);
    copyFromPod(conn, (chunk) => send(2 * i, chunk));
    return { conn, port };
  });
  void Promise.all(
    conns.map(async ({ conn, port }, i) => {
      const failure = await conn.done;
      if (closed || !failure) return;
      await send(2 * i + 1, failureReport(opts, port, failure)).catch(() => {});
    }),
  ).then(() => queue.then(() => closed || opts.onEnd()));
  return {
    input(bytes: Uint8Array) {
      const channel = bytes[0];
      const c = conns[channel >> 1];
      if (c && channel % 2 === 0 && bytes.length > 1) c.conn.write(Buffer.from(bytes.subarray(1)));
    },
    close() {
      closed = true;
      for (const { conn } of conns) conn.kill();
    },
  };
}
