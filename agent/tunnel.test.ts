// The agent's tunnel client against a loopback WebSocket server speaking the control plane's side
// of the protocol (the real Durable Object is exercised by test/e2e/logs.test.ts).
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import {
  type DownFrame,
  type LogQuery,
  MAX_CHUNK_BYTES,
  parseDataFrame,
  type UpFrame,
  WINDOW_BYTES,
} from "../src/k8s/tunnel-protocol.ts";
import { startTunnel, terminalSize, tunnelUrl } from "./tunnel.ts";

let dataDir: string;
let server: WebSocketServer;
let tunnel: { close(): void } | undefined;
/** Sockets the agent opened, with the request they came with. */
let conns: { ws: WebSocket; path: string; auth?: string; frames: (UpFrame | Buffer)[] }[];
let waiters: (() => void)[];

const notify = () => {
  for (const w of waiters.splice(0)) w();
};
async function until<T>(check: () => T | undefined | false, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise<void>((r) => {
      waiters.push(r);
      setTimeout(r, 50);
    });
  }
}

const ts = (s: number) => `2026-11-22T04:00:${String(s).padStart(2, "0")}.000000000Z`;
const logFile = () => join(dataDir, "pods", "default_web_u-1", "app", "0.log");

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "kubeflare-tunnel-"));
  mkdirSync(join(logFile(), ".."), { recursive: true });
  conns = [];
  waiters = [];
  server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  server.on("connection", (ws, req) => {
    const c = {
      ws,
      path: req.url ?? "",
      auth: req.headers.authorization,
      frames: [] as (UpFrame | Buffer)[],
    };
    conns.push(c);
    ws.on("message", (data, binary) => {
      if (binary) c.frames.push(data as Buffer);
      else if (data.toString() === "ping") ws.send("pong");
      else c.frames.push(JSON.parse(data.toString()));
      notify();
    });
    notify();
  });
  await new Promise((r) => server.once("listening", r));
  const port = (server.address() as AddressInfo).port;
  tunnel = startTunnel({
    server: `http://127.0.0.1:${port}`,
    nodeName: "host-1",
    credential: "secret-credential",
    dataDir,
  });
});

afterEach(async () => {
  tunnel?.close();
  for (const c of conns) c.ws.terminate();
  await new Promise((r) => server.close(r));
  rmSync(dataDir, { recursive: true, force: true });
});

const request = (ws: WebSocket, f: DownFrame) => ws.send(JSON.stringify(f));
const logs = (id: number, extra: Partial<LogQuery> = {}): DownFrame => ({
  type: "logs",
  id,
  namespace: "default",
  pod: "web",
  uid: "u-1",
  container: "app",
  ...extra,
});
const dataOf = (frames: (UpFrame | Buffer)[], id: number) =>
  Buffer.concat(
    frames
      .filter((f): f is Buffer => Buffer.isBuffer(f))
      .map((f) => parseDataFrame(f))
      .filter((f) => f.id === id)
      .map((f) => Buffer.from(f.data)),
  );
const control = (frames: (UpFrame | Buffer)[], id: number) =>
  frames
    .filter((f): f is UpFrame => !Buffer.isBuffer(f))
    .filter((f) => f.id === id)
    .map((f) => f.type);

describe("the agent's tunnel", () => {
  it("dials its node's tunnel with its credential and serves logs", async () => {
    writeFileSync(logFile(), `${ts(1)} stdout F hello\n${ts(2)} stderr F world\n`);
    const c = await until(() => conns[0]);
    expect(c.path).toBe("/kubeflare/v1/nodes/host-1/tunnel");
    expect(c.auth).toBe("Bearer secret-credential");
    request(c.ws, logs(1, { tailLines: 1, timestamps: true }));
    await until(() => control(c.frames, 1).includes("end"));
    expect(control(c.frames, 1)).toEqual(["start", "end"]);
    expect(dataOf(c.frames, 1).toString()).toBe("2026-11-22T04:00:02Z world\n");
  });

  it("answers a request it cannot serve with the kubelet's error", async () => {
    const c = await until(() => conns[0]);
    request(c.ws, logs(2, { previous: true }));
    const err = await until(() => c.frames.find((f) => !Buffer.isBuffer(f)));
    expect(err).toEqual({
      type: "error",
      id: 2,
      code: 400,
      message: 'previous terminated container "app" in pod "web" not found',
    });
  });

  it("sends no more than its window until the control plane acknowledges", async () => {
    const line = `${ts(1)} stdout F ${"y".repeat(1000)}\n`;
    writeFileSync(logFile(), line.repeat(1000));
    const c = await until(() => conns[0]);
    request(c.ws, logs(3));
    await until(() => dataOf(c.frames, 3).length > WINDOW_BYTES - MAX_CHUNK_BYTES);
    await new Promise((r) => setTimeout(r, 300));
    let acked = dataOf(c.frames, 3).length;
    expect(acked).toBeLessThanOrEqual(WINDOW_BYTES);
    // Acknowledge as the bytes arrive: the rest comes.
    request(c.ws, { type: "ack", id: 3, bytes: acked });
    await until(() => {
      const got = dataOf(c.frames, 3).length;
      if (got > acked) {
        request(c.ws, { type: "ack", id: 3, bytes: got - acked });
        acked = got;
      }
      return control(c.frames, 3).includes("end");
    });
    expect(dataOf(c.frames, 3).length).toBe(1001 * 1000);
  });

  it("follows until cancelled", async () => {
    writeFileSync(logFile(), `${ts(1)} stdout F first\n`);
    const c = await until(() => conns[0]);
    request(c.ws, logs(4, { follow: true }));
    await until(() => dataOf(c.frames, 4).toString() === "first\n");
    appendFileSync(logFile(), `${ts(2)} stdout F second\n`);
    await until(() => dataOf(c.frames, 4).toString() === "first\nsecond\n");
    request(c.ws, { type: "cancel", id: 4 });
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(logFile(), `${ts(3)} stdout F third\n`);
    await new Promise((r) => setTimeout(r, 1500));
    expect(dataOf(c.frames, 4).toString()).toBe("first\nsecond\n");
    expect(control(c.frames, 4)).toEqual(["start"]);
  });

  it("redials after the connection drops", async () => {
    const first = await until(() => conns[0]);
    first.ws.terminate();
    const second = await until(() => conns[1]);
    writeFileSync(logFile(), `${ts(1)} stdout F again\n`);
    request(second.ws, logs(5));
    await until(() => control(second.frames, 5).includes("end"));
    expect(dataOf(second.frames, 5).toString()).toBe("again\n");
  });

  it("reads kubectl's terminal size messages and ignores malformed ones", () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(terminalSize(bytes('{"Width":120,"Height":40}'))).toEqual({ width: 120, height: 40 });
    for (const bad of ['{"Width":0,"Height":40}', '{"Width":"80","Height":24}', "{", "[]"])
      expect(terminalSize(bytes(bad))).toBeUndefined();
  });

  it("builds the tunnel URL from the server's", () => {
    expect(tunnelUrl("https://cp.example.com", "n1")).toBe(
      "wss://cp.example.com/kubeflare/v1/nodes/n1/tunnel",
    );
    expect(tunnelUrl("http://127.0.0.1:8787/", "n1")).toBe(
      "ws://127.0.0.1:8787/kubeflare/v1/nodes/n1/tunnel",
    );
  });
});
