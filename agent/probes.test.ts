// The grpc probe against a real HTTP/2 server speaking grpc.health.v1: SERVING passes; a service
// not serving, an unknown service, a server answering an error status, or no server fails.
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { probeOnce } from "./probes.ts";

const STATUS: Record<string, number> = { "": 1, db: 2 }; // SERVING, NOT_SERVING

let server: Http2Server | undefined;
afterEach(() => server?.close());

/** A health server; `requests` collects the service names asked about. */
async function healthServer(opts: { grpcStatus?: string } = {}) {
  const requests: string[] = [];
  server = createServer();
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      const msg = body.subarray(5, 5 + body.readUInt32BE(1));
      const service = msg.length ? msg.subarray(2, 2 + msg[1]).toString() : "";
      requests.push(`${headers[":path"]} ${service}`);
      if (opts.grpcStatus) {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": opts.grpcStatus },
          { endStream: true },
        );
        return;
      }
      const status = STATUS[service];
      if (status === undefined) {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": "5" },
          { endStream: true },
        );
        return;
      }
      stream.respond(
        { ":status": 200, "content-type": "application/grpc" },
        { waitForTrailers: true },
      );
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      const reply = Buffer.alloc(7);
      reply.writeUInt32BE(2, 1);
      reply[5] = 0x08;
      reply[6] = status;
      stream.end(reply);
    });
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, requests };
}

const target = (port: number) => ({
  podIP: "127.0.0.1",
  container: { ports: [{ name: "grpc", containerPort: port }] },
  exec: async () => false,
});

describe("grpc probe", () => {
  it("passes when the service is SERVING and fails when it is not", async () => {
    const { port, requests } = await healthServer();
    expect(await probeOnce({ grpc: { port } }, target(port))).toBe(true);
    expect(await probeOnce({ grpc: { port, service: "db" } }, target(port))).toBe(false);
    expect(await probeOnce({ grpc: { port, service: "nope" } }, target(port))).toBe(false);
    expect(requests).toEqual([
      "/grpc.health.v1.Health/Check ",
      "/grpc.health.v1.Health/Check db",
      "/grpc.health.v1.Health/Check nope",
    ]);
  });

  it("fails on a gRPC error status and when nothing listens", async () => {
    const { port } = await healthServer({ grpcStatus: "12" }); // UNIMPLEMENTED
    expect(await probeOnce({ grpc: { port } }, target(port))).toBe(false);
    server?.close();
    server = undefined;
    expect(await probeOnce({ grpc: { port }, timeoutSeconds: 1 }, target(port))).toBe(false);
  });
});
