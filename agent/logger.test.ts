// The shipped logger, run as containerd's shim runs it: stdout on fd 3, stderr on fd 4, a
// readiness pipe on fd 5 it must close.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { installLogger, logUri, MAX_LINE } from "./logger.ts";

const dir = mkdtempSync(join(tmpdir(), "kubeflare-logger-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const logger = installLogger(dir);

function runLogger(
  file: string,
  feed: (out: Writable, err: Writable) => Promise<void>,
  extra: string[] = [],
) {
  const child = spawn(logger, ["file", file, ...extra], {
    stdio: ["ignore", "ignore", "inherit", "pipe", "pipe", "pipe"],
  });
  const stdio = child.stdio as unknown as [null, null, null, Writable, Writable, Readable];
  const ready = new Promise<void>((r) => stdio[5].on("end", r).resume());
  const exit = new Promise<number | null>((r) => child.on("exit", r));
  return (async () => {
    await ready;
    await feed(stdio[3], stdio[4]);
    stdio[3].end();
    stdio[4].end();
    return exit;
  })();
}

const write = (s: Writable, d: string) => new Promise<void>((r) => s.write(d, () => r()));
const CRI = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$/;

describe("container logger", () => {
  it("signals readiness, then writes one CRI line per output line with a nanosecond UTC time", async () => {
    const file = join(dir, "0.log");
    const before = Date.now();
    const code = await runLogger(file, async (out, err) => {
      // Pauses between writes to the two pipes keep their order across streams.
      await write(out, "hello\nwor");
      await new Promise((r) => setTimeout(r, 50));
      await write(err, "oops\n");
      await new Promise((r) => setTimeout(r, 50));
      await write(out, "ld\n\nlast without newline");
    });
    expect(code).toBe(0);
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines.pop()).toBe("");
    const parsed = lines.map((l) => CRI.exec(l)?.slice(1));
    expect(parsed.map((p) => p?.slice(1))).toEqual([
      ["stdout", "F", "hello"],
      ["stderr", "F", "oops"],
      ["stdout", "F", "world"],
      ["stdout", "F", ""],
      ["stdout", "F", "last without newline"],
    ]);
    const t = Date.parse(parsed[0]?.[0] as string);
    expect(t).toBeGreaterThanOrEqual(before - 1000);
    expect(t).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("splits a line longer than the limit into partial (P) lines and appends to the file", async () => {
    const file = join(dir, "1.log");
    await runLogger(file, async (out) => write(out, "first\n"));
    await runLogger(file, async (out) => write(out, `${"x".repeat(MAX_LINE + 10)}\n`));
    const lines = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => CRI.exec(l)?.slice(2));
    expect(lines).toEqual([
      ["stdout", "F", "first"],
      ["stdout", "P", "x".repeat(MAX_LINE)],
      ["stdout", "F", "x".repeat(10)],
    ]);
  });

  it("rotates past max-size, keeping max-files files with the current one", async () => {
    const sub = join(dir, "rot");
    mkdirSync(sub);
    const file = join(sub, "0.log");
    await runLogger(
      file,
      async (out) => {
        // Paced, so the logger reads (and may rotate after) each write on its own.
        for (let i = 0; i < 40; i++) {
          await write(out, `line ${i} ${"y".repeat(40)}\n`);
          await new Promise((r) => setTimeout(r, 10));
        }
      },
      ["max-size", "500", "max-files", "3"],
    );
    const files = readdirSync(sub).sort();
    expect(files[0]).toBe("0.log");
    expect(files).toHaveLength(3);
    for (const f of files.slice(1)) expect(f).toMatch(/^0\.log\.\d{8}-\d{6}(\.\d+)?$/);
    // Whole CRI lines throughout, the newest last, and the current file under the limit again.
    const newestRotated = readFileSync(join(sub, files[2]), "utf8");
    const lines = (newestRotated + readFileSync(file, "utf8")).trimEnd().split("\n");
    expect(lines.every((l) => CRI.test(l))).toBe(true);
    expect(lines.at(-1)).toContain("line 39 ");
    expect(statSync(file).size).toBeLessThan(500);
  });

  it("is named in a binary:// log URI with the file and the rotation limits", () => {
    expect(logUri("/d/bin/kubeflare-logger", "/d/pods/a b/c/0.log")).toBe(
      "binary:///d/bin/kubeflare-logger?file=%2Fd%2Fpods%2Fa%20b%2Fc%2F0.log&max-size=10485760&max-files=5",
    );
  });
});
