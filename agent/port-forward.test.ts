import { createServer, type Server } from "node:net";
import { constants, createDeflate, inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PodNetwork, serveChannelPortForward, servePortForward } from "./port-forward.ts";
import { DICTIONARY, decodeHeaders, encodeHeaders, HeaderZlib } from "./spdy.ts";

// A client that frames as spdystream does: header blocks compressed with SPDY's dictionary in
// one zlib context for the whole connection, each block ending at a sync flush.
async function synStream(
  z: HeaderZlib,
  id: number,
  headers: [string, string][],
  fin = false,
): Promise<Buffer> {
  const block = await z.run(encodeHeaders(headers));
  const h = Buffer.alloc(18);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(1, 2);
  h.writeUInt32BE(10 + block.length, 4);
  h[4] = fin ? 1 : 0;
  h.writeUInt32BE(id, 8);
  return Buffer.concat([h, block]);
}

function data(id: number, bytes: Buffer, fin = false): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h.writeUInt32BE(bytes.length, 4);
  h[4] = fin ? 1 : 0;
  return Buffer.concat([h, bytes]);
}

interface Seen {
  replies: number[];
  pings: number[];
  data: Map<number, Buffer[]>;
  fins: Set<number>;
}

/** Reads what the server sent, frame by frame. */
function parse(out: Buffer): Seen {
  const seen: Seen = { replies: [], pings: [], data: new Map(), fins: new Set() };
  let off = 0;
  let inflated = false;
  while (off + 8 <= out.length) {
    const len = out.readUInt32BE(off + 4) & 0xffffff;
    const flags = out[off + 4];
    const frame = out.subarray(off, off + 8 + len);
    off += 8 + len;
    if (frame[0] & 0x80) {
      const type = frame.readUInt16BE(2);
      if (type === 2) {
        const id = frame.readUInt32BE(8);
        seen.replies.push(id);
        if (!inflated) {
          // The server's first header block starts its zlib stream; it must read back.
          const block = inflateSync(frame.subarray(12), {
            dictionary: DICTIONARY,
            finishFlush: constants.Z_SYNC_FLUSH,
          });
          expect(decodeHeaders(block).size).toBe(0);
          inflated = true;
        }
      } else if (type === 6) seen.pings.push(frame.readUInt32BE(8));
    } else {
      const id = frame.readUInt32BE(0);
      if (!seen.replies.includes(id)) throw new Error(`data on stream ${id} before its reply`);
      const list = seen.data.get(id) ?? [];
      list.push(Buffer.from(frame.subarray(8)));
      seen.data.set(id, list);
      if (flags & 1) seen.fins.add(id);
    }
  }
  return seen;
}

/** A session whose sends complete after random delays, as a busy tunnel's would. */
function session(network: PodNetwork = { ip: "127.0.0.1" }) {
  const chunks: Buffer[] = [];
  const logs: string[] = [];
  const pf = servePortForward({
    pod: "default/web",
    uid: "u-1",
    network,
    log: (m) => logs.push(m),
    send: async (bytes) => {
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      chunks.push(Buffer.from(bytes));
    },
  });
  return { pf, out: () => Buffer.concat(chunks), logs };
}

const compressor = () => new HeaderZlib(createDeflate({ dictionary: DICTIONARY }));

const pair = async (
  z: HeaderZlib,
  requestID: string,
  port: number,
  errorId: number,
  dataId: number,
) => [
  await synStream(z, errorId, [
    ["streamType", "error"],
    ["port", String(port)],
    ["requestID", requestID],
  ]),
  // kubectl closes its side of the error stream at once: it only reads it.
  data(errorId, Buffer.alloc(0), true),
  await synStream(z, dataId, [
    ["streamType", "data"],
    ["port", String(port)],
    ["requestID", requestID],
  ]),
];

async function until(check: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

let server: Server;
let port: number;
let refused: number;
// 1.3 MB: many pipe reads, each split into more than one DATA frame.
const big = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `${i + 1}\n`).join(""));

beforeAll(async () => {
  server = createServer((sock) => {
    sock.once("data", (req) => {
      if (req.toString() === "big") sock.end(big);
      else sock.end(Buffer.concat([Buffer.from("echo:"), req]));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  refused = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
});

afterAll(() => new Promise((r) => server.close(r)));

describe("port-forward's SPDY session", () => {
  it("answers each stream, copies a connection both ways, and ends both streams", async () => {
    const { pf, out } = session();
    const z = compressor();
    for (const f of await pair(z, "0", port, 1, 3)) pf.input(f);
    // Bytes may come split anywhere.
    const hello = data(3, Buffer.from("hello"), true);
    pf.input(hello.subarray(0, 5));
    pf.input(hello.subarray(5));
    await until(() => parse(out()).fins.has(1) && parse(out()).fins.has(3));
    const seen = parse(out());
    expect(seen.replies).toEqual([1, 3]);
    expect(Buffer.concat(seen.data.get(3) ?? []).toString()).toBe("echo:hello");
    expect(Buffer.concat(seen.data.get(1) ?? []).toString()).toBe("");
    pf.close();
  });

  // In a pod's network namespace the agent copies through a helper's stdout, which may hand
  // over data while paused: frames must still go out in order (here the test's own namespace).
  it.each([
    ["on the host network", { ip: "127.0.0.1" }],
    ["through a network namespace", { ip: "127.0.0.1", netns: "/proc/self/ns/net" }],
  ])("keeps a large reply in order across frames, %s", async (_, network: PodNetwork) => {
    const { pf, out } = session(network);
    const z = compressor();
    // A second pair on the same connection reads on from the same compression context.
    for (const f of await pair(z, "6", port, 1, 3)) pf.input(f);
    pf.input(data(3, Buffer.from("small"), true));
    for (const f of await pair(z, "7", port, 5, 7)) pf.input(f);
    pf.input(data(7, Buffer.from("big"), true));
    await until(() => parse(out()).fins.has(7) && parse(out()).fins.has(3), 20_000);
    expect(Buffer.concat(parse(out()).data.get(3) ?? []).toString()).toBe("echo:small");
    expect(Buffer.concat(parse(out()).data.get(7) ?? []).equals(big)).toBe(true);
    pf.close();
  });

  it("says on the error stream why a port could not be reached", async () => {
    const { pf, out } = session();
    for (const f of await pair(compressor(), "1", refused, 9, 11)) pf.input(f);
    await until(() => parse(out()).fins.has(9));
    const message = Buffer.concat(parse(out()).data.get(9) ?? []).toString();
    expect(message).toMatch(
      new RegExp(`^error forwarding port ${refused} to pod default/web, uid u-1: .*ECONNREFUSED`),
    );
    expect(parse(out()).fins.has(11)).toBe(true);
    pf.close();
  });

  it("echoes the client's pings and refuses streams it cannot serve", async () => {
    const { pf, out } = session();
    const ping = Buffer.alloc(12);
    ping.writeUInt16BE(0x8003, 0);
    ping.writeUInt16BE(6, 2);
    ping.writeUInt32BE(4, 4);
    ping.writeUInt32BE(1, 8);
    pf.input(ping);
    pf.input(await synStream(compressor(), 13, [["streamType", "shell"]]));
    await until(() => out().length >= 12 + 16);
    expect(parse(out()).pings).toEqual([1]);
    const rst = out().subarray(out().length - 16);
    expect(rst.readUInt16BE(2)).toBe(3);
    expect(rst.readUInt32BE(8)).toBe(13);
    pf.close();
  });
});

describe("port-forward's channel protocol (v4.channel.k8s.io)", () => {
  it("opens each port's channels with its number, copies data, and reports a refused port", async () => {
    const frames: Buffer[] = [];
    let ended = false;
    const pf = serveChannelPortForward({
      pod: "default/web",
      uid: "u-1",
      network: { ip: "127.0.0.1", netns: "/proc/self/ns/net" },
      log: () => {},
      ports: [port, refused],
      send: async (bytes) => {
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        frames.push(Buffer.from(bytes));
      },
      onEnd: () => {
        ended = true;
      },
    });
    const on = (channel: number) =>
      frames.filter((f) => f[0] === channel).map((f) => f.subarray(1));
    const le = (n: number) => Buffer.from([n & 0xff, n >> 8]);
    pf.input(Buffer.concat([Buffer.from([0]), Buffer.from("big")]));
    await until(() => ended, 20_000);
    for (const [channel, p] of [
      [0, port],
      [1, port],
      [2, refused],
      [3, refused],
    ])
      expect(on(channel)[0]).toEqual(le(p));
    expect(Buffer.concat(on(0).slice(1)).equals(big)).toBe(true);
    expect(on(1)).toHaveLength(1);
    expect(Buffer.concat(on(3).slice(1)).toString()).toMatch(
      new RegExp(`^error forwarding port ${refused} to pod default/web, uid u-1: .*ECONNREFUSED`),
    );
    pf.close();
  });
});
