// One JSON request over a keep-alive HTTPS agent with a bearer token: the hollow kubelets' and
// the benchmarks' client of the local control plane.
import { type Agent, request } from "node:https";

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
      req.on("error", (err: NodeJS.ErrnoException) => {
        // The server may close an idle keep-alive socket just as it is reused: send again on a
        // fresh one (Node's documented remedy for a reused socket).
        if (req.reusedSocket && err.code === "ECONNRESET") send().then(resolve, reject);
        else reject(err);
      });
      req.end(data);
    });
  return send();
}
