// One JSON request over a keep-alive HTTPS agent with a bearer token: the hollow kubelets' and
// the benchmarks' client of the local control plane.
import { type Agent, request } from "node:https";
import type { Socket } from "node:net";

export interface Reply {
  status: number;
  body: string;
}

export interface Target {
  agent: Agent;
  url: URL;
  token: string;
  userAgent?: string;
}

/**
 * Requests each socket has carried. Node's `reusedSocket` is set only when a request takes an
 * idle socket from the pool, not when a queued request is handed a socket just freed; this
 * counts both, and in both the server may have closed the socket as the request went out.
 */
const carried = new WeakMap<Socket, number>();

export function httpsJson(
  t: Target,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<Reply> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  const send = (): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          agent: t.agent,
          host: t.url.hostname,
          port: t.url.port,
          method,
          path,
          headers: {
            authorization: `Bearer ${t.token}`,
            accept: "application/json",
            ...(t.userAgent ? { "user-agent": t.userAgent } : {}),
            ...(data
              ? { "content-type": contentType, "content-length": Buffer.byteLength(data) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
          res.on("error", reject);
        },
      );
      let reused = false;
      req.on("socket", (socket) => {
        const n = (carried.get(socket) ?? 0) + 1;
        carried.set(socket, n);
        reused = n > 1;
      });
      req.on("error", (err: NodeJS.ErrnoException) => {
        // The server may close a keep-alive socket it found idle just as it is reused (locally,
        // workerd does so when its one thread left the socket unread past its pipeline timeout):
        // send again on a fresh one, Node's documented remedy for a reused socket.
        if (reused && err.code === "ECONNRESET") send().then(resolve, reject);
        else {
          err.message = `${method} ${path}: ${err.message}`;
          reject(err);
        }
      });
      req.end(data);
    });
  return send();
}
