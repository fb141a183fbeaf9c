import { describe, expect, it } from "vitest";
import { lineSplitter } from "./lines.ts";

describe("lineSplitter", () => {
  it("joins lines split across chunks and skips blank ones", () => {
    const lines: string[] = [];
    const feed = lineSplitter((l) => {
      lines.push(l);
    });
    feed('{"a":');
    feed('1}\n\n  \n{"b"');
    expect(lines).toEqual(['{"a":1}']);
    feed(":2}\n");
    expect(lines).toEqual(['{"a":1}', '{"b":2}']);
  });

  it("stops a chunk when the handler returns false", () => {
    const lines: string[] = [];
    const feed = lineSplitter((l) => {
      lines.push(l);
      return l !== "stop";
    });
    feed("one\nstop\nafter\n");
    expect(lines).toEqual(["one", "stop"]);
  });
});
