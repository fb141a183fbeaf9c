// A kubeconfig's current context, and requests to its cluster with its credentials, as kubectl
// makes them (bearer token or client certificate; the cluster's CA or insecure-skip-tls-verify).
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";

export interface Target {
  server: string;
  token?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure: boolean;
}

type Named<T> = { name: string } & T;

function named<T>(list: unknown, name: string, what: string, path: string): T {
  const found = (Array.isArray(list) ? (list as Named<T>[]) : []).find((e) => e?.name === name);
  if (!found) throw new Error(`${path}: no ${what} named "${name}"`);
  return found as T;
}

/** Inline data (base64) or a file, relative to the kubeconfig's directory. */
function material(data: unknown, file: unknown, base: string): Buffer | undefined {
  if (typeof data === "string" && data) return Buffer.from(data, "base64");
  if (typeof file === "string" && file) return readFileSync(resolve(base, file));
  return undefined;
}

export function parseKubeconfig(text: string, path: string): Target {
  let doc: any;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${path}: not a kubeconfig: ${(err as Error).message}`);
  }
  const contextName = doc?.["current-context"];
  if (typeof contextName !== "string" || !contextName)
    throw new Error(`${path}: no current-context`);
  const context =
    named<{ context?: any }>(doc.contexts, contextName, "context", path).context ?? {};
  const cluster = named<{ cluster?: any }>(doc.clusters, context.cluster, "cluster", path).cluster;
  const user = context.user
    ? (named<{ user?: any }>(doc.users, context.user, "user", path).user ?? {})
    : {};
  if (typeof cluster?.server !== "string" || !cluster.server)
    throw new Error(`${path}: cluster "${context.cluster}" has no server`);
  const base = dirname(resolve(path));
  const tokenFile = typeof user.tokenFile === "string" ? resolve(base, user.tokenFile) : undefined;
  return {
    server: cluster.server.replace(/\/+$/, ""),
    token: user.token ?? (tokenFile ? readFileSync(tokenFile, "utf8").trim() : undefined),
    ca: material(cluster["certificate-authority-data"], cluster["certificate-authority"], base),
    cert: material(user["client-certificate-data"], user["client-certificate"], base),
    key: material(user["client-key-data"], user["client-key"], base),
    insecure: cluster["insecure-skip-tls-verify"] === true,
  };
}

export function readKubeconfig(path: string): Target {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(
      `cannot read the kubeconfig ${path} (${(err as NodeJS.ErrnoException).code}): start the control plane with npm start, or name one with --kubeconfig`,
    );
  }
  return parseKubeconfig(text, path);
}

export interface Response {
  status: number;
  body: any;
}

/** One JSON request to the cluster. */
export function requestJson(
  t: Target,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  const url = t.server + path;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const send = url.startsWith("https:") ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = send(
      url,
      {
        method,
        headers: {
          accept: "application/json",
          "user-agent": "kubeflare-token",
          ...(payload ? { "content-type": "application/json" } : {}),
          ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
        },
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        rejectUnauthorized: !t.insecure,
        timeout: 30_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {}
          resolvePromise({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.on("error", (err) => reject(new Error(`${method} ${url}: ${err.message}`)));
    req.end(payload);
  });
}

/** The message of a failed response: the Status message when the server sent one. */
export const failure = (res: Response): string =>
  typeof res.body?.message === "string"
    ? `${res.body.message} (${res.status})`
    : `HTTP ${res.status}: ${typeof res.body === "string" ? res.body.slice(0, 200) : ""}`;
