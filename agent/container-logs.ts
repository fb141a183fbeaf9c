// Container logs as the kubelet serves them (pkg/kubelet/kuberuntime/logs): read the CRI log
// files `<dataDir>/pods/<ns>_<pod>_<uid>/<container>/<N>.log`, lines like
// `2026-11-22T04:21:26.123456789Z stdout F text` (F: full line; P: partial, continued by the
// next line of the same stream), and print the text, with tail, since, timestamps, limitBytes,
// previous and follow. Memory stays bounded: files are streamed in chunks, never read whole.

import { type FSWatcher, watch } from "node:fs";
import { type FileHandle, open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";

const CHUNK = 64 * 1024;
/** A raw line longer than this is passed through as it streams rather than held whole. */
const MAX_LINE = 1024 * 1024;
/** Follow re-checks the file this often even when no change event came. */
const POLL_MS = 1000;
const NL = 0x0a;
const SPACE = 0x20;
const EMPTY = Buffer.alloc(0);
const NEWLINE = Buffer.from("\n");

/** A log request the node refuses, with the kubelet's HTTP status. */
export class LogError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export interface LogTarget {
  namespace: string;
  pod: string;
  uid: string;
  container: string;
  previous?: boolean;
}

export interface ReadOptions {
  tailLines?: number;
  /** Skip lines older than this (ms since the epoch). */
  since?: number;
  timestamps?: boolean;
  limitBytes?: number;
  follow?: boolean;
  /** Whether the container still runs: follow ends once it does not (the kubelet's check). */
  running?: () => boolean | Promise<boolean>;
  signal?: AbortSignal;
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The container's log directory. */
export function logDir(dataDir: string, t: LogTarget): string {
  for (const part of [t.namespace, t.pod, t.uid, t.container])
    if (!SAFE.test(part) || part.includes("..")) throw new LogError(400, `invalid name ${part}`);
  return join(dataDir, "pods", `${t.namespace}_${t.pod}_${t.uid}`, t.container);
}

/** The restart numbers of the container's log files, ascending. */
export async function logNumbers(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d+)\.log$/.exec(n))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The file to read: the newest log, or the one before it for `previous`. */
export async function findLog(dataDir: string, t: LogTarget): Promise<string> {
  const dir = logDir(dataDir, t);
  const ns = await logNumbers(dir);
  const c = JSON.stringify(t.container);
  const p = JSON.stringify(t.pod);
  if (t.previous) {
    if (ns.length < 2)
      throw new LogError(400, `previous terminated container ${c} in pod ${p} not found`);
    return join(dir, `${ns[ns.length - 2]}.log`);
  }
  if (!ns.length) throw new LogError(404, `no log of container ${c} in pod ${p} on this node`);
  return join(dir, `${ns[ns.length - 1]}.log`);
}

interface Header {
  ts: string;
  stream: string;
  partial: boolean;
  /** Where the message starts in the line. */
  body: number;
}

/** `<timestamp> <stream> <tag> <message>`; undefined when the line is not CRI format. */
function parseHeader(line: Uint8Array): Header | undefined {
  const b = Buffer.from(line.buffer, line.byteOffset, line.byteLength);
  const s1 = b.indexOf(SPACE);
  if (s1 <= 0) return undefined;
  const s2 = b.indexOf(SPACE, s1 + 1);
  if (s2 < 0) return undefined;
  const s3 = b.indexOf(SPACE, s2 + 1);
  const stream = b.toString("latin1", s1 + 1, s2);
  if (stream !== "stdout" && stream !== "stderr") return undefined;
  // Tags are ':'-separated; the first says full or partial.
  const tag = b.toString("latin1", s2 + 1, s3 < 0 ? b.length : s3).split(":")[0];
  if (tag !== "F" && tag !== "P") return undefined;
  return {
    ts: b.toString("latin1", 0, s1),
    stream,
    partial: tag === "P",
    body: s3 < 0 ? b.length : s3 + 1,
  };
}

/** As Go's RFC3339Nano prints it, which the kubelet uses: trailing zeros of the fraction go. */
export function formatTimestamp(ts: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return ts;
  const frac = (m[2] ?? "").replace(/0+$/, "");
  return `${m[1]}${frac ? `.${frac}` : ""}${m[3]}`;
}

/** Turns CRI log bytes into what `kubectl logs` prints, chunk by chunk. */
export class CriDecoder {
  private readonly timestamps: boolean;
  private readonly since?: number;
  private remaining: number;
  private carry: Buffer[] = [];
  private carryLength = 0;
  /** Inside an over-long raw line whose header is handled: the rest is message up to '\n'. */
  private long?: { partial: boolean; show: boolean };
  private readonly atLineStart = new Map<string, boolean>();
  private out: Buffer[] = [];

  constructor(o: Pick<ReadOptions, "timestamps" | "since" | "limitBytes">) {
    this.timestamps = !!o.timestamps;
    this.since = o.since;
    this.remaining = o.limitBytes ?? Number.POSITIVE_INFINITY;
  }

  /** limitBytes reached: nothing more will be printed. */
  get full(): boolean {
    return this.remaining <= 0;
  }

  /** Decode the next bytes of the file; returns what to print. */
  push(chunk: Buffer): Buffer {
    let i = 0;
    while (i < chunk.length && !this.full) {
      const nl = chunk.indexOf(NL, i);
      const end = nl < 0 ? chunk.length : nl;
      if (this.long) {
        if (this.long.show) this.emit(chunk.subarray(i, end));
        if (nl < 0) break;
        if (this.long.show && !this.long.partial) this.emit(NEWLINE);
        this.long = undefined;
      } else if (nl < 0) {
        this.carry.push(chunk.subarray(i));
        this.carryLength += chunk.length - i;
        if (this.carryLength > MAX_LINE) this.startLong(this.takeCarry());
        break;
      } else {
        const piece = chunk.subarray(i, nl);
        this.line(this.carry.length ? Buffer.concat([...this.carry, piece]) : piece);
        this.carry = [];
        this.carryLength = 0;
      }
      i = end + 1;
    }
    return this.drain();
  }

  /** The file ends without a final newline and nothing more will come: print that line too. */
  end(): Buffer {
    if (this.carryLength && !this.long) this.line(this.takeCarry());
    return this.drain();
  }

  private takeCarry(): Buffer {
    const b = Buffer.concat(this.carry);
    this.carry = [];
    this.carryLength = 0;
    return b;
  }

  private drain(): Buffer {
    const b = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    return b;
  }

  private line(line: Buffer) {
    const h = parseHeader(line);
    const prefix = h && this.begin(h);
    if (h && prefix) this.emit(prefix, line.subarray(h.body), h.partial ? EMPTY : NEWLINE);
  }

  private startLong(head: Buffer) {
    const h = parseHeader(head);
    const prefix = h && this.begin(h);
    this.long = { partial: h?.partial ?? false, show: !!prefix };
    if (h && prefix) this.emit(prefix, head.subarray(h.body));
  }

  /** A raw line begins: its timestamp prefix when it is shown, undefined when it is not. */
  private begin(h: Header): Buffer | undefined {
    // A partial line's continuation gets no timestamp of its own (per stream).
    const lineStart = this.atLineStart.get(h.stream) ?? true;
    this.atLineStart.set(h.stream, !h.partial);
    if (this.since !== undefined && Date.parse(h.ts) < this.since) return undefined;
    return this.timestamps && lineStart ? Buffer.from(`${formatTimestamp(h.ts)} `) : EMPTY;
  }

  private emit(...parts: Buffer[]) {
    for (const p of parts) {
      if (this.full) return;
      const b = p.length > this.remaining ? p.subarray(0, this.remaining) : p;
      this.remaining -= b.length;
      if (b.length) this.out.push(b);
    }
  }
}

/** Where the last `n` lines start (a partial line and its continuation count as one line). */
export async function tailStart(fh: FileHandle, size: number, n: number): Promise<number> {
  if (n <= 0) return size;
  let count = 0;
  let newest = true;
  // Does the raw line [start, end) end a logical line? (The newest complete one always does:
  // it is the last line so far, even when partial.)
  const endsLine = async (start: number, end: number) => {
    const head = Buffer.alloc(Math.min(64, end - start));
    await fh.read(head, 0, head.length, start);
    const h = parseHeader(head);
    const ends = !h?.partial || newest;
    newest = false;
    return ends;
  };
  const buf = Buffer.alloc(CHUNK);
  // Walk the newlines from the end; `lineEnd` is the newline ending the line looked at next. An
  // incomplete last line (no newline yet) does not count, as in the kubelet.
  let lineEnd = -1;
  for (let pos = size; pos > 0; ) {
    const from = Math.max(0, pos - CHUNK);
    await fh.read(buf, 0, pos - from, from);
    for (let i = pos - from - 1; i >= 0; i--) {
      if (buf[i] !== NL) continue;
      if (lineEnd >= 0 && (await endsLine(from + i + 1, lineEnd))) {
        if (count === n) return lineEnd + 1;
        count++;
      }
      lineEnd = from + i;
    }
    pos = from;
  }
  if (lineEnd >= 0 && (await endsLine(0, lineEnd)) && count === n) return lineEnd + 1;
  return 0;
}

/** Has a newer log file of the container appeared (it restarted), or is the pod gone? */
async function superseded(path: string, dir: string, n: number): Promise<boolean> {
  try {
    await stat(path);
  } catch {
    return true;
  }
  return (await logNumbers(dir)).some((m) => m > n);
}

/**
 * The log of one container as `kubectl logs` prints it. With follow, waits for lines written
 * later, and ends, after printing what the container wrote last, once it no longer runs, as the
 * kubelet's does: when `running` says so, when a newer `<N>.log` appears (it restarted), or when
 * its pod's logs are removed.
 */
export async function* readLog(path: string, o: ReadOptions): AsyncGenerator<Buffer> {
  const fh = await open(path, "r");
  const dir = join(path, "..");
  const n = Number(/(\d+)\.log$/.exec(path)?.[1] ?? -1);
  let watcher: FSWatcher | undefined;
  let dirty = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    dirty = true;
    wake?.();
  };
  try {
    const dec = new CriDecoder(o);
    const size = (await fh.stat()).size;
    let pos = o.tailLines !== undefined ? await tailStart(fh, size, o.tailLines) : 0;
    let last = !o.follow;
    for (;;) {
      for (;;) {
        if (o.signal?.aborted || dec.full) return;
        const buf = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        const out = dec.push(buf.subarray(0, bytesRead));
        if (out.length) yield out;
      }
      if (last) {
        const out = dec.end();
        if (out.length) yield out;
        return;
      }
      if (!watcher) {
        try {
          watcher = watch(dir, poke);
          watcher.on("error", () => {});
        } catch {
          // No inotify: the poll below still notices.
        }
      }
      if (!dirty)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(poke, POLL_MS);
          o.signal?.addEventListener("abort", poke, { once: true });
          wake = () => {
            clearTimeout(timer);
            o.signal?.removeEventListener("abort", poke);
            wake = undefined;
            resolve();
          };
        });
      dirty = false;
      if (o.signal?.aborted) return;
      // Truncated in place (copytruncate): start over.
      if ((await fh.stat()).size < pos) pos = 0;
      // Read what the old container wrote last, then stop.
      if ((await superseded(path, dir, n)) || (o.running && !(await o.running()))) last = true;
    }
  } finally {
    watcher?.close();
    await fh.close();
  }
}
