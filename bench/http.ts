// A keep-alive HTTPS client for the local control plane (self-signed certificate).
import { Agent, request } from "node:https";

export interface Reply {
  status: number;
  body: string;
}

export function client(server: string, token: string, maxSockets = 64) {
  const agent = new Agent({ keepAlive: true, maxSockets, rejectUnauthorized: false });
  const url = new URL(server);
  return (
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<Reply> => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const send = (): Promise<Reply> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            agent,
            host: url.hostname,
            port: url.port,
            method,
            path,
            headers: {
              authorization: `Bearer ${token}`,
              accept: "application/json",
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
        req.on("error", (err: NodeJS.ErrnoException) => {
          // The server may close an idle keep-alive socket just as it is reused: send again on a
          // fresh one (Node's documented remedy for a reused socket).
          if (req.reusedSocket && err.code === "ECONNRESET") send().then(resolve, reject);
          else reject(err);
        });
        req.end(data);
      });
    return send();
  };
}

export type Client = ReturnType<typeof client>;
