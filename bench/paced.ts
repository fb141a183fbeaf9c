// Mutating API latency as a user sees it while a benchmark loads the control plane: merge
// patches of ConfigMaps at a steady 10 a second, sent whatever the replies do, so a stall shows
// in the figures (a closed loop would simply send nothing while it lasts). They are sent from a
// process of their own (paced-probe.ts), as another user's client would be.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Client } from "./http.ts";
import type { Summary } from "./stats.ts";

const PROBES = 50;
const RATE = 10;

/** Create the probe objects; the returned function starts the writes and gives their stop. */
export async function pacedWrites(
  http: Client,
  cluster: { server: string; token: string },
  namespace: string,
) {
  const path = `/api/v1/namespaces/${namespace}/configmaps`;
  // The writes go round a set of objects, so that they never race each other for one (a 409
  // retry would count the bench's own contention, not the API's latency).
  for (let i = 0; i < PROBES; i++) {
    const r = await http("POST", path, { metadata: { name: `probe-${i}` }, data: {} });
    if (r.status >= 300) throw new Error(`probe ${i}: ${r.status} ${r.body.slice(0, 200)}`);
  }
  return () => {
    const child = spawn(
      process.execPath,
      [join(dirname(fileURLToPath(import.meta.url)), "paced-probe.ts")],
      {
        env: {
          ...process.env,
          PROBE_SERVER: cluster.server,
          PROBE_TOKEN: cluster.token,
          PROBE_PATH: path,
          PROBE_COUNT: String(PROBES),
          PROBE_RATE: String(RATE),
        },
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    const exited = new Promise<number | null>((r) => child.on("exit", r));
    /** End the writes; their latencies once the last reply is in. */
    return async (): Promise<Summary & { failed: number }> => {
      child.stdin.end("stop\n");
      const code = await exited;
      if (code !== 0) throw new Error(`paced probe exited with ${code}`);
      return JSON.parse(out);
    };
  };
}
