// The paced writer of paced.ts, in a process of its own: its sockets, event loop and timers are
// not the benchmark's, so a figure is the API's latency as another user's client sees it, not
// time spent queued behind the benchmark's floods or its hollow kubelets' work. Runs until a
// line arrives on stdin, then prints its summary as one JSON line.
import { client } from "./http.ts";
import { openLoop } from "./stats.ts";

const { PROBE_SERVER, PROBE_TOKEN, PROBE_PATH, PROBE_COUNT, PROBE_RATE } = process.env;
if (!PROBE_SERVER || !PROBE_TOKEN || !PROBE_PATH) throw new Error("paced-probe: env not set");
const http = client(PROBE_SERVER, PROBE_TOKEN, 16);
const probes = Number(PROBE_COUNT);
let done = false;
process.stdin.once("data", () => {
  done = true;
});
const summary = await openLoop(
  Number(PROBE_RATE),
  3600,
  async (i) => {
    const r = await http(
      "PATCH",
      `${PROBE_PATH}/probe-${i % probes}`,
      { data: { tick: String(i) } },
      "application/merge-patch+json",
    );
    if (r.status >= 300) throw new Error(`${r.status} ${r.body.slice(0, 200)}`);
  },
  () => done,
);
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(0);
