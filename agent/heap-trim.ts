// V8 leaves the garbage of a busy stretch (a burst of pod starts, a relist) in the old generation
// until its next major collection, which a mostly idle daemon may not reach for a long while:
// after 60-odd pod starts the agent held ~6 MB of dead objects and its RSS sat 8–13 MB above a
// freshly started agent running the same pods. A full collection whenever the heap has grown by
// a few MB since the last one gives that memory back, for a few ms on a heap this small.
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const CHECK_MS = 3_000;
const GROWTH_BYTES = 2 * 1024 * 1024;
const QUIET_BYTES = 256 * 1024;

export function trimHeapWhenGrown(): void {
  setFlagsFromString("--expose-gc");
  // A context made after the flag is set has `gc`; the main one was made before.
  const gc = runInNewContext("gc") as (options?: object) => void;
  const used = () => getHeapStatistics().used_heap_size;
  let base = used();
  let last = base;
  let busy = false;
  setInterval(() => {
    const now = used();
    if (now >= base + GROWTH_BYTES) {
      gc();
      busy = true;
    } else if (busy && now - last < QUIET_BYTES) {
      // The stretch is over: one compacting collection gives back the pages it left
      // half-empty, which a collection during it could not (seen: 18–31 MB committed for
      // 7–14 MB live, 15 s after a burst).
      gc({ type: "major", execution: "sync", flavor: "last-resort" });
      busy = false;
    } else {
      last = now;
      return;
    }
    base = last = used();
  }, CHECK_MS).unref();
}
