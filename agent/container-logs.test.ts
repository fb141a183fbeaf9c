import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findLog, formatTimestamp, LogError, type ReadOptions, readLog } from "./container-logs.ts";

let dataDir: string;
const target = { namespace: "default", pod: "web", uid: "u-1", container: "app" };
const dir = () => join(dataDir, "pods", "default_web_u-1", "app");

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "kubeflare-logs-"));
  mkdirSync(dir(), { recursive: true });
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const ts = (s: number, frac = "000000000") =>
  `2026-11-22T04:00:${String(s).padStart(2, "0")}.${frac}Z`;
const cri = (lines: [number, "stdout" | "stderr", "F" | "P", string][]) =>
  lines
    .map(([s, stream, tag, text]) => `${ts(s, "123456789")} ${stream} ${tag} ${text}\n`)
    .join("");

function write(n: number, text: string): string {
  const p = join(dir(), `${n}.log`);
  writeFileSync(p, text);
  return p;
}

async function read(path: string, o: ReadOptions = {}): Promise<string> {
  let out = "";
  for await (const b of readLog(path, o)) out += b.toString();
  return out;
}

const SAMPLE = cri([
  [1, "stdout", "F", "one"],
  [2, "stderr", "F", "oops"],
  [3, "stdout", "P", "tw"],
  [3, "stdout", "F", "o"],
  [4, "stdout", "F", "three"],
]);

describe("reading CRI logs", () => {
  it("prints the messages, joining partial lines", async () => {
    expect(await read(write(0, SAMPLE))).toBe("one\noops\ntwo\nthree\n");
  });

  it("keeps an empty message and skips lines not in CRI format", async () => {
    const text = `${ts(1)} stdout F \ngarbage line\n${ts(2)} stdout F after\n`;
    expect(await read(write(0, text))).toBe("\nafter\n");
  });

  it("prefixes timestamps as the kubelet prints them, once per line", async () => {
    const out = await read(write(0, SAMPLE), { timestamps: true });
    expect(out).toBe(
      [
        "2026-11-22T04:00:01.123456789Z one",
        "2026-11-22T04:00:02.123456789Z oops",
        "2026-11-22T04:00:03.123456789Z two",
        "2026-11-22T04:00:04.123456789Z three",
        "",
      ].join("\n"),
    );
    expect(formatTimestamp("2026-11-22T04:00:01.120000000Z")).toBe("2026-11-22T04:00:01.12Z");
    expect(formatTimestamp("2026-11-22T04:00:01.000000000Z")).toBe("2026-11-22T04:00:01Z");
  });

  it("tails the last lines, a partial line and its end counting as one", async () => {
    const p = write(0, SAMPLE);
    expect(await read(p, { tailLines: 2 })).toBe("two\nthree\n");
    expect(await read(p, { tailLines: 1 })).toBe("three\n");
    expect(await read(p, { tailLines: 3 })).toBe("oops\ntwo\nthree\n");
    expect(await read(p, { tailLines: 10 })).toBe("one\noops\ntwo\nthree\n");
    expect(await read(p, { tailLines: 0 })).toBe("");
  });

  it("tails across read chunks of a large file", async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `${ts(5)} stdout F line ${i}\n`);
    const p = write(0, lines.join(""));
    const out = await read(p, { tailLines: 3 });
    expect(out).toBe("line 19997\nline 19998\nline 19999\n");
    const many = (await read(p, { tailLines: 5000 })).split("\n");
    expect(many).toHaveLength(5001);
    expect(many[0]).toBe("line 15000");
  });

  it("does not count an unfinished last line when tailing", async () => {
    const p = write(0, `${SAMPLE}${ts(9)} stdout F unfinish`);
    expect(await read(p, { tailLines: 1 })).toBe("three\nunfinish\n");
  });

  it("skips lines older than since", async () => {
    const since = Date.parse("2026-11-22T04:00:03Z");
    expect(await read(write(0, SAMPLE), { since })).toBe("two\nthree\n");
  });

  it("stops after limitBytes", async () => {
    expect(await read(write(0, SAMPLE), { limitBytes: 6 })).toBe("one\noo");
    expect(await read(write(0, SAMPLE), { limitBytes: 6, timestamps: true })).toBe("2026-1");
  });

  it("passes through a line longer than the decoder holds", async () => {
    const big = "x".repeat(3 * 1024 * 1024);
    const p = write(0, `${ts(1)} stdout F ${big}\n${ts(2)} stdout F small\n`);
    const out = await read(p);
    expect(out.length).toBe(big.length + "\nsmall\n".length);
    expect(out.endsWith("x\nsmall\n")).toBe(true);
  });
});

describe("choosing the log file", () => {
  it("reads the newest log, and the one before it for previous", async () => {
    write(9, "");
    write(10, "");
    expect(await findLog(dataDir, target)).toBe(join(dir(), "10.log"));
    expect(await findLog(dataDir, { ...target, previous: true })).toBe(join(dir(), "9.log"));
  });

  it("refuses previous without a restart, and a container without logs", async () => {
    write(0, "");
    await expect(findLog(dataDir, { ...target, previous: true })).rejects.toMatchObject({
      code: 400,
      message: 'previous terminated container "app" in pod "web" not found',
    });
    await expect(findLog(dataDir, { ...target, container: "other" })).rejects.toBeInstanceOf(
      LogError,
    );
    await expect(findLog(dataDir, { ...target, pod: "../x" })).rejects.toMatchObject({
      code: 400,
    });
  });
});

describe("following", () => {
  const next = async (it: AsyncGenerator<Buffer>) => (await it.next()).value?.toString();

  it("streams appended lines and ends when the container is replaced", async () => {
    const p = write(0, cri([[1, "stdout", "F", "start"]]));
    const it = readLog(p, { follow: true });
    expect(await next(it)).toBe("start\n");
    const later = next(it);
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(p, `${ts(2)} stdout P hal`);
    appendFileSync(p, "\n");
    appendFileSync(p, `${ts(2)} stdout F f\n`);
    let got = await later;
    while (got !== undefined && got !== "half\n") got += (await next(it)) ?? "";
    expect(got).toBe("half\n");
    // The container restarts: its last words still arrive, then follow ends.
    appendFileSync(p, `${ts(3)} stdout F last words\n`);
    write(1, cri([[4, "stdout", "F", "new container"]]));
    let rest = "";
    for (let r = await it.next(); !r.done; r = await it.next()) rest += r.value.toString();
    expect(rest).toBe("last words\n");
  });

  it("ends once the container no longer runs", async () => {
    const p = write(0, cri([[1, "stdout", "F", "start"]]));
    let running = true;
    const it = readLog(p, { follow: true, running: () => running });
    expect(await next(it)).toBe("start\n");
    appendFileSync(p, `${ts(2)} stdout F bye\n`);
    running = false;
    let rest = "";
    for (let r = await it.next(); !r.done; r = await it.next()) rest += r.value.toString();
    expect(rest).toBe("bye\n");
  });

  it("stops when cancelled", async () => {
    const p = write(0, cri([[1, "stdout", "F", "start"]]));
    const ac = new AbortController();
    const it = readLog(p, { follow: true, signal: ac.signal });
    expect(await next(it)).toBe("start\n");
    const pending = it.next();
    setTimeout(() => ac.abort(), 50);
    expect((await pending).done).toBe(true);
  });

  it("follows from the tail", async () => {
    const p = write(0, SAMPLE);
    const it = readLog(p, { follow: true, tailLines: 1 });
    expect(await next(it)).toBe("three\n");
    appendFileSync(p, `${ts(5)} stdout F four\n`);
    expect(await next(it)).toBe("four\n");
    await it.return(undefined);
  });
});
