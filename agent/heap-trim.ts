// V8 leaves the garbage of a busy stretch (a burst of pod starts, a relist) in the old generation
// until its next major collection, which a mostly idle daemon may not reach for a long while:
// after 60-odd pod starts the agent held ~6 MB of dead objects and its RSS sat 8–13 MB above a
// freshly started agent running the same pods. A full collection whenever the heap has grown by
// a few MB since the last one gives that memory back, for a few ms on a heap this small.
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const EVERY_MS = 10_000;
const GROWTH_BYTES = 2 * 1024 * 1024;

export function trimHeapWhenGrown(): void {
  setFlagsFromString("--expose-gc");
  // A context made after the flag is set has `gc`; the main one was made before.
  const gc = runInNewContext("gc") as () => void;
  let base = getHeapStatistics().used_heap_size;
  setInterval(() => {
    if (getHeapStatistics().used_heap_size < base + GROWTH_BYTES) return;
    gc();
    base = getHeapStatistics().used_heap_size;
  }, EVERY_MS).unref();
}
