// `npm run bench`: API latency and throughput against the local Worker, next to the raw D1
// insert rate through the same workerd (the floor). Prints figures; targets are in the README.
import { startCluster } from "../test/e2e/cluster.ts";
import { type Client, client } from "./http.ts";
import { scratchDir } from "./scratch.ts";
import { closedLoop, fmt, openLoop } from "./stats.ts";

const NS = "bench";
const CONCURRENCY = 10;

const pod = (name: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels: { app: "bench", shard: String(name.length % 4) } },
  spec: {
    containers: [
      {
        name: "app",
        image: "registry.local/bench:1",
        ports: [{ containerPort: 8080 }],
        env: [{ name: "MODE", value: "bench" }],
        resources: { requests: { cpu: "10m", memory: "16Mi" } },
      },
    ],
  },
});

async function ok(call: ReturnType<Client>, what: string) {
  const r = await call;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${r.body.slice(0, 200)}`);
  return r;
}

export async function benchApi() {
  const cluster = await startCluster({ args: ["--bench"], stateIn: scratchDir() });
  try {
    const http = client(cluster.server, cluster.token);
    await ok(http("POST", "/api/v1/namespaces", { metadata: { name: NS } }), "namespace");
    const podsPath = `/api/v1/namespaces/${NS}/pods`;
    const N = 1000;
    await closedLoop(50, CONCURRENCY, (i) =>
      ok(http("POST", podsPath, pod(`warm-${i}`)), "warmup").then(() => {}),
    );

    const create = await closedLoop(N, CONCURRENCY, (i) =>
      ok(http("POST", podsPath, pod(`p-${i}`)), "create").then(() => {}),
    );
    const get = await closedLoop(N, CONCURRENCY, (i) =>
      ok(http("GET", `${podsPath}/p-${i}`), "get").then(() => {}),
    );
    const list = await closedLoop(50, CONCURRENCY, () =>
      ok(http("GET", `${podsPath}?limit=100`), "list").then(() => {}),
    );
    const patch = await closedLoop(N, CONCURRENCY, (i) =>
      ok(
        http(
          "PATCH",
          `${podsPath}/p-${i}`,
          { metadata: { labels: { patched: "yes" } } },
          "application/merge-patch+json",
        ),
        "patch",
      ).then(() => {}),
    );
    const paced = await openLoop(100, 10, (i) =>
      ok(
        http(
          "PATCH",
          `${podsPath}/p-${i % N}`,
          { metadata: { annotations: { tick: String(i) } } },
          "application/merge-patch+json",
        ),
        "paced patch",
      ).then(() => {}),
    );
    const floorReply = await ok(
      http("POST", `/debug/bench/d1?n=2000&concurrency=${CONCURRENCY}&bytes=1000`),
      "d1 floor",
    );
    const floor = JSON.parse(floorReply.body) as { perSecond: number };

    console.log(
      `\nAPI against the local Worker (workerd through Miniflare, HTTPS), concurrency ${CONCURRENCY}`,
    );
    console.log(`  create pod        ${fmt(create)}`);
    console.log(`  get pod           ${fmt(get)}`);
    console.log(`  list 100 pods     ${fmt(list)}`);
    console.log(`  patch pod         ${fmt(patch)}`);
    console.log(`  patch @100 req/s  ${fmt(paced)}   (target: p99 <= 50 ms)`);
    console.log(
      `  raw D1 insert     ${floor.perSecond.toFixed(0)}/s through the same workerd (the floor)`,
    );
    console.log(
      `  creates / floor   ${((create.perSecond / floor.perSecond) * 100).toFixed(0)} %   (target: >= 50 %)`,
    );

    // Fill up to 10,000 pods, then time listing them all.
    const have = N + 50;
    await closedLoop(10_000 - have, 20, (i) =>
      ok(http("POST", podsPath, pod(`fill-${i}`)), "fill").then(() => {}),
    );
    const times: number[] = [];
    let count = 0;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const r = await ok(http("GET", podsPath), "list all");
      times.push(performance.now() - t);
      count = (JSON.parse(r.body) as { items: unknown[] }).items.length;
    }
    times.sort((a, b) => a - b);
    console.log(
      `  list ${count} pods  median ${times[1].toFixed(0)} ms, best ${times[0].toFixed(0)} ms   (target: < 1000 ms)`,
    );
  } finally {
    await cluster.destroy();
  }
}
