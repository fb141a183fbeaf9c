// A keep-alive HTTPS client for the local control plane (self-signed certificate).
import { Agent } from "node:https";
import { httpsJson, type Reply } from "../test/hollow/https-json.ts";

export type { Reply };

export function client(server: string, token: string, maxSockets = 64) {
  const target = {
    agent: new Agent({ keepAlive: true, maxSockets, rejectUnauthorized: false }),
    url: new URL(server),
    token,
  };
  return (method: string, path: string, body?: unknown, contentType = "application/json") =>
    httpsJson(target, method, path, body, contentType);
}

export type Client = ReturnType<typeof client>;
