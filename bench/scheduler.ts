// Scheduler throughput: 1,000 hollow nodes and 10,000 pending pods against the local Worker →
// pods bound per second (target: >= 1,000/s). The nodes register cordoned so every pod is
// pending (and already judged unschedulable once) before the clock starts; uncordoning them
// starts it, and it stops when the hollow kubelets have seen the last pod bound to them. They
// run their pods meanwhile, as kubemark's do. A paced stream of unrelated writes measures the
// mutating API latency a user sees throughout (target: p99 <= 1 s).

import { startCluster } from "../test/e2e/cluster.ts";
import { HollowNodes } from "../test/hollow/hollow-nodes.ts";
import { type Client, client } from "./http.ts";
import { pacedWrites } from "./paced.ts";
import { scratchDir } from "./scratch.ts";
import { closedLoop, fmt } from "./stats.ts";

// Smaller runs for a quick look: BENCH_NODES=100 BENCH_PODS=1000 node bench/scheduler.ts;
// BENCH_RUN_PODS=0 leaves bound pods as they are (the scheduler without the kubelets' writes).
const NODES = Number(process.env.BENCH_NODES ?? 1000);
const PODS = Number(process.env.BENCH_PODS ?? 10_000);
const NS = "bench-scheduler";
const merge = "application/merge-patch+json";

const pod = (i: number) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: `p-${i}`, labels: { app: "bench", shard: String(i % 10) } },
  spec: {
    containers: [
      {
        name: "app",
        image: "registry.local/bench:1",
        resources: { requests: { cpu: "100m", memory: "64Mi" } },
      },
    ],
  },
});

/** Where a long run is, on stderr (the figures go to stdout). */
const progress = (what: string) =>
  process.stderr.write(`  [scheduler bench ${new Date().toISOString().slice(11, 19)}] ${what}\n`);

async function ok(call: ReturnType<Client>, what: string) {
  const r = await call;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${r.body.slice(0, 200)}`);
}

export async function benchScheduler() {
  const cluster = await startCluster({ args: ["--bench"], stateIn: scratchDir() });
  const hollow = new HollowNodes({
    server: cluster.server,
    token: cluster.token,
    runPods: process.env.BENCH_RUN_PODS !== "0",
  });
  try {
    const http = client(cluster.server, cluster.token);
    await ok(http("POST", "/api/v1/namespaces", { metadata: { name: NS } }), "namespace");
    const names = Array.from({ length: NODES }, (_, i) => `hollow-${String(i).padStart(4, "0")}`);
    const t = performance.now();
    await hollow.register(
      names.map((name) => ({ name, cpu: "32", memory: "128Gi", pods: "110", unschedulable: true })),
    );
    const registered = (performance.now() - t) / 1000;
    hollow.start();
    const stopPaced = (await pacedWrites(http, cluster, NS))();

    progress(`creating ${PODS} pods`);
    const create = await closedLoop(PODS, 32, (i) =>
      ok(http("POST", `/api/v1/namespaces/${NS}/pods`, pod(i)), "create"),
    );

    progress("uncordoning the nodes: binding starts");
    const t0 = performance.now();
    const uncordon = closedLoop(NODES, 64, (i) =>
      ok(
        http("PATCH", `/api/v1/nodes/${names[i]}`, { spec: { unschedulable: false } }, merge),
        "uncordon",
      ),
    );
    await hollow.waitForBound(PODS);
    const seconds = (performance.now() - t0) / 1000;
    const uncordoned = await uncordon;
    const latency = await stopPaced();

    console.log(`\nScheduler: ${NODES} hollow nodes, ${PODS} pending pods`);
    console.log(`  register nodes    ${registered.toFixed(1)} s (node + lease each)`);
    console.log(`  create pods       ${fmt(create)}`);
    console.log(`  uncordon nodes    ${fmt(uncordoned)}`);
    console.log(
      `  pods bound        ${(PODS / seconds).toFixed(0)}/s (${PODS} in ${seconds.toFixed(1)} s from the first uncordon)   (target: >= 1000/s)`,
    );
    console.log(
      `  mutating API throughout (10 writes/s)  ${fmt(latency)}   (target: p99 <= 1000 ms)`,
    );
  } catch (err) {
    // What the control plane said last, to tell a crash of the bench from one of the server.
    process.stderr.write(`${cluster.output().split("\n").slice(-40).join("\n")}\n`);
    throw err;
  } finally {
    await hollow.close();
    await cluster.destroy();
  }
}

if (process.argv[1]?.endsWith("bench/scheduler.ts")) {
  await benchScheduler();
  process.exit(0);
}
