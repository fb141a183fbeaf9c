import { exports } from "cloudflare:workers";

// The Worker under test, as the runtime exposes it.
const worker = (exports as unknown as { default: Fetcher }).default;

export const TOKEN = "test-admin-token";

export async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const init: RequestInit = {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
  };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  return worker.fetch(new Request(`https://kubeflare.test${path}`, init));
}

// biome-ignore lint/suspicious/noExplicitAny: tests read free-form JSON.
export async function call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await api(method, path, body, headers);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
