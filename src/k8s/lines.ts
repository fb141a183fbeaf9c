// Watch streams are one JSON object per line, arriving in chunks that split lines anywhere.

/**
 * Returns a feeder for text chunks that calls `onLine` with each complete, non-blank line.
 * `onLine` returning false stops the chunk (the stream is being abandoned).
 */
export function lineSplitter(onLine: (line: string) => unknown) {
  let buf = "";
  return (chunk: string): void => {
    buf += chunk;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line && onLine(line) === false) return;
    }
  };
}
