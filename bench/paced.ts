// Mutating API latency as a user sees it while a benchmark loads the control plane: merge
// patches of ConfigMaps at a steady 10 a second, sent whatever the replies do, so a stall shows
// in the figures (a closed loop would simply send nothing while it lasts).
import type { Client } from "./http.ts";
import { openLoop } from "./stats.ts";

const PROBES = 50;
const RATE = 10;
/** An upper bound only: the benchmark stops the writes when its own work is done. */
const MAX_SECONDS = 3600;

/** Create the probe objects; the returned function starts the writes and gives their stop. */
export async function pacedWrites(http: Client, namespace: string) {
  const path = `/api/v1/namespaces/${namespace}/configmaps`;
  // The writes go round a set of objects, so that they never race each other for one (a 409
  // retry would count the bench's own contention, not the API's latency).
  for (let i = 0; i < PROBES; i++) {
    const r = await http("POST", path, { metadata: { name: `probe-${i}` }, data: {} });
    if (r.status >= 300) throw new Error(`probe ${i}: ${r.status} ${r.body.slice(0, 200)}`);
  }
  return () => {
    let done = false;
    const run = openLoop(
      RATE,
      MAX_SECONDS,
      async (i) => {
        const r = await http(
          "PATCH",
          `${path}/probe-${i % PROBES}`,
          { data: { tick: String(i) } },
          "application/merge-patch+json",
        );
        if (r.status >= 300) throw new Error(`${r.status} ${r.body.slice(0, 200)}`);
      },
      () => done,
    );
    /** End the writes; their latencies once the last reply is in. */
    return () => {
      done = true;
      return run;
    };
  };
}
