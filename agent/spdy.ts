// The server side of SPDY/3.1 as kubectl port-forward speaks it (moby/spdystream, the kubelet's
// httpstream): the client opens streams with SYN_STREAM, the server answers each with SYN_REPLY,
// then both send DATA frames and end with FIN. Header blocks are zlib streams with SPDY's preset
// dictionary, one compression context per direction for the whole connection. spdystream keeps
// no flow-control windows, so neither does this; PINGs from the client are echoed.
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from "node:zlib";

const VERSION = 3;
const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const FLAG_FIN = 0x01;
/** RST_STREAM status codes. */
export const RST = { protocolError: 1, invalidStream: 2, refusedStream: 3, cancel: 5 } as const;
/** Largest DATA payload sent in one frame (the tunnel carries at most 64 KiB per frame). */
export const MAX_DATA = 64 * 1024 - 8;

const DICTIONARY_WORDS = [
  ..."options head post put delete trace accept accept-charset accept-encoding accept-language".split(
    " ",
  ),
  ..."accept-ranges age allow authorization cache-control connection content-base".split(" "),
  ..."content-encoding content-language content-length content-location content-md5".split(" "),
  ..."content-range content-type date etag expect expires from host if-match".split(" "),
  ..."if-modified-since if-none-match if-range if-unmodified-since last-modified location".split(
    " ",
  ),
  ..."max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after".split(
    " ",
  ),
  ..."server te trailer transfer-encoding upgrade user-agent vary via warning".split(" "),
  ..."www-authenticate method get status".split(" "),
  "200 OK",
  "version",
  "HTTP/1.1",
  ..."url public set-cookie keep-alive origin".split(" "),
];
const DICTIONARY_TAIL =
  "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505" +
  "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 " +
  "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 " +
  "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, " +
  "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif," +
  "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=" +
  "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/** SPDY/3's header compression dictionary (draft 3, section 2.6.10.1): length-prefixed words, then a tail. */
export const DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length, 0);
    b.write(w, 4, "latin1");
    return b;
  }),
  Buffer.from(DICTIONARY_TAIL, "latin1"),
]);

/** One zlib context fed block by block, each block ending at a sync flush. */
export class HeaderZlib {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly z: Inflate | Deflate;
  constructor(z: Inflate | Deflate) {
    this.z = z;
    z.on("error", () => {});
  }

  run(block: Buffer): Promise<Buffer> {
    const next = this.queue.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          this.z.once("error", reject);
          this.z.write(block);
          this.z.flush(constants.Z_SYNC_FLUSH, () => {
            this.z.off("error", reject);
            // Paused mode: what the flush produced waits in the readable buffer.
            const chunks: Buffer[] = [];
            for (let c = this.z.read(); c !== null; c = this.z.read()) chunks.push(c);
            resolve(Buffer.concat(chunks));
          });
        }),
    );
    this.queue = next.catch(() => {});
    return next;
  }

  close() {
    this.z.close();
  }
}

export function encodeHeaders(headers: [string, string][]): Buffer {
  const parts = [u32(headers.length)];
  for (const [k, v] of headers) {
    const name = Buffer.from(k.toLowerCase(), "utf8");
    const value = Buffer.from(v, "utf8");
    parts.push(u32(name.length), name, u32(value.length), value);
  }
  return Buffer.concat(parts);
}

export function decodeHeaders(block: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  const take = () => {
    if (off + 4 > block.length) throw new Error("truncated header block");
    const n = block.readUInt32BE(off);
    off += 4;
    if (off + n > block.length) throw new Error("truncated header block");
    const s = block.toString("utf8", off, off + n);
    off += n;
    return s;
  };
  if (block.length < 4) throw new Error("truncated header block");
  const count = block.readUInt32BE(0);
  off = 4;
  for (let i = 0; i < count; i++) {
    const name = take();
    // Several values of one name are separated by NUL; the first is what these headers need.
    out.set(name.toLowerCase(), take().split("\0")[0]);
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(payload.length, 4);
  h[4] = flags;
  return Buffer.concat([h, payload]);
}

export function dataFrame(id: number, data: Uint8Array, fin = false): Buffer {
  const h = Buffer.alloc(8 + data.length);
  h.writeUInt32BE(id & 0x7fffffff, 0);
  h.writeUInt32BE(data.length, 4);
  h[4] = fin ? FLAG_FIN : 0;
  h.set(data, 8);
  return h;
}

export interface SpdyStream {
  readonly id: number;
  readonly headers: Map<string, string>;
  /** Data from the client; `null` once the client has sent FIN. Set before data can arrive. */
  onData?: (data: Buffer | null) => void;
  /** Called when the client resets the stream. */
  onReset?: () => void;
  /** Sends data (resolves once handed to the transport). */
  write(data: Uint8Array): Promise<void>;
  /** Sends FIN: nothing more from this side. */
  end(): Promise<void>;
  reset(status?: number): Promise<void>;
}

export interface SpdyServerOptions {
  /** Hands bytes to the client, in order; resolves when the transport took them. */
  send: (bytes: Buffer) => Promise<void>;
  /** A stream the client opened, already answered with SYN_REPLY. */
  onStream: (s: SpdyStream) => void;
  /** The connection failed (a frame this side cannot read): it should be closed. */
  onError?: (err: Error) => void;
}

interface Open {
  stream: SpdyStream;
  remoteDone: boolean;
  localDone: boolean;
}

/** One SPDY connection, fed the client's bytes as they come. */
export class SpdyServer {
  private buf = Buffer.alloc(0);
  private readonly inflate = new HeaderZlib(createInflate({ dictionary: DICTIONARY }));
  private readonly deflate = new HeaderZlib(createDeflate({ dictionary: DICTIONARY }));
  /** Frames are handled one after another: a stream's data must not overtake its SYN_STREAM. */
  private inbound: Promise<void> = Promise.resolve();
  /** Frames go out in order: a SYN_REPLY (compressed asynchronously) before its stream's data. */
  private outbound: Promise<void> = Promise.resolve();
  private readonly streams = new Map<number, Open>();
  private closed = false;

  private readonly opts: SpdyServerOptions;
  constructor(opts: SpdyServerOptions) {
    this.opts = opts;
  }

  feed(bytes: Uint8Array) {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, bytes]) : Buffer.from(bytes);
    while (this.buf.length >= 8) {
      const length = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + length) break;
      const frame = this.buf.subarray(0, 8 + length);
      this.buf = this.buf.subarray(8 + length);
      this.inbound = this.inbound.then(() => this.handle(frame)).catch((err) => this.fail(err));
    }
  }

  /** Ends the connection: every stream hears of it as a reset. */
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const o of this.streams.values()) o.stream.onReset?.();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
  }

  private fail(err: Error) {
    if (this.closed) return;
    this.opts.onError?.(err);
    this.close();
  }

  private out(bytes: Buffer | (() => Promise<Buffer>)): Promise<void> {
    const next = this.outbound.then(async () => {
      if (this.closed) return;
      await this.opts.send(typeof bytes === "function" ? await bytes() : bytes);
    });
    this.outbound = next.catch(() => {});
    return next;
  }

  private async handle(frame: Buffer) {
    if (this.closed) return;
    const flags = frame[4];
    if (!(frame[0] & 0x80)) {
      const id = frame.readUInt32BE(0) & 0x7fffffff;
      const o = this.streams.get(id);
      if (!o) {
        await this.out(
          controlFrame(RST_STREAM, 0, Buffer.concat([u32(id), u32(RST.invalidStream)])),
        );
        return;
      }
      const data = frame.subarray(8);
      if (data.length) o.stream.onData?.(Buffer.from(data));
      if (flags & FLAG_FIN) {
        o.remoteDone = true;
        o.stream.onData?.(null);
        this.forgetIfDone(id, o);
      }
      return;
    }
    const version = frame.readUInt16BE(0) & 0x7fff;
    if (version !== VERSION) throw new Error(`unsupported SPDY version ${version}`);
    const type = frame.readUInt16BE(2);
    const payload = frame.subarray(8);
    if (type === SYN_STREAM) {
      if (payload.length < 10) throw new Error("short SYN_STREAM frame");
      const id = payload.readUInt32BE(0) & 0x7fffffff;
      const headers = decodeHeaders(await this.inflate.run(Buffer.from(payload.subarray(10))));
      this.open(id, headers, (flags & FLAG_FIN) !== 0);
    } else if (type === RST_STREAM) {
      const id = payload.readUInt32BE(0) & 0x7fffffff;
      const o = this.streams.get(id);
      if (!o) return;
      this.streams.delete(id);
      o.stream.onReset?.();
    } else if (type === PING) {
      // The client's pings (odd ids) come back as they are.
      if (payload.readUInt32BE(0) & 1) await this.out(Buffer.from(frame));
    } else if (type === GOAWAY) {
      this.close();
    }
    // SETTINGS, HEADERS, WINDOW_UPDATE: nothing to do here.
  }

  private open(id: number, headers: Map<string, string>, fin: boolean) {
    // The stream is filled in below: its methods close over this record.
    const o = { remoteDone: fin, localDone: false } as Open;
    o.stream = {
      id,
      headers,
      // Every frame is queued at once: a write that starts before the last one ended (a child's
      // stdout may emit data while paused) still follows it.
      write: (data) => {
        let sent = Promise.resolve();
        for (let off = 0; off < data.length; off += MAX_DATA)
          sent = this.out(dataFrame(id, data.subarray(off, off + MAX_DATA)));
        return sent;
      },
      end: () => {
        if (o.localDone) return Promise.resolve();
        o.localDone = true;
        return this.out(dataFrame(id, new Uint8Array(0), true)).finally(() =>
          this.forgetIfDone(id, o),
        );
      },
      reset: (status = RST.cancel) => {
        this.streams.delete(id);
        o.localDone = true;
        return this.out(controlFrame(RST_STREAM, 0, Buffer.concat([u32(id), u32(status)])));
      },
    };
    this.streams.set(id, o);
    // The reply goes out before anything the handler writes: spdystream drops data it gets first.
    void this.out(async () =>
      controlFrame(
        SYN_REPLY,
        0,
        Buffer.concat([u32(id), await this.deflate.run(encodeHeaders([]))]),
      ),
    );
    this.opts.onStream(o.stream);
    if (fin) o.stream.onData?.(null);
  }

  private forgetIfDone(id: number, o: Open) {
    if (o.remoteDone && o.localDone && this.streams.get(id) === o) this.streams.delete(id);
  }
}
