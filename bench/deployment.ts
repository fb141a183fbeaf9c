// Time from creating a 1,000-replica Deployment to all replicas Available on hollow nodes, with a
// paced stream of unrelated writes measuring mutating API latency meanwhile.

import { startCluster } from "../test/e2e/cluster.ts";
import { HollowNodes } from "../test/hollow/hollow-nodes.ts";
import { client } from "./http.ts";
import { pacedWrites } from "./paced.ts";
import { scratchDir } from "./scratch.ts";
import { fmt } from "./stats.ts";

const REPLICAS = 1000;
const NODES = 20;

export async function benchDeployment() {
  const cluster = await startCluster({ stateIn: scratchDir() });
  const nodes = new HollowNodes({ server: cluster.server, token: cluster.token, renewSeconds: 10 });
  try {
    const http = client(cluster.server, cluster.token);
    await nodes.register(
      Array.from({ length: NODES }, (_, i) => ({ name: `hollow-${i}`, pods: "110" })),
    );
    nodes.start();
    const startPaced = await pacedWrites(http, cluster, "default");
    const start = performance.now();
    const created = await http("POST", "/apis/apps/v1/namespaces/default/deployments", {
      metadata: { name: "big" },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: "big" } },
        template: {
          metadata: { labels: { app: "big" } },
          spec: { containers: [{ name: "app", image: "registry.local/big:1" }] },
        },
      },
    });
    if (created.status !== 201) throw new Error(created.body);
    let available = 0;
    let done = false;
    const watchAvailable = (async () => {
      while (!done) {
        const r = await http("GET", "/apis/apps/v1/namespaces/default/deployments/big");
        available =
          (JSON.parse(r.body) as { status?: { availableReplicas?: number } }).status
            ?.availableReplicas ?? 0;
        if (available >= REPLICAS) {
          done = true;
          return performance.now() - start;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      return Number.NaN;
    })();
    // Mutating latency while the rollout runs, until it is done (or 10 minutes).
    const stopPaced = startPaced();
    const timeout = new Promise<number>((r) => setTimeout(() => r(Number.NaN), 600_000));
    const took = await Promise.race([watchAvailable, timeout]);
    done = true;
    const latency = await stopPaced();
    console.log(`\nDeployment of ${REPLICAS} replicas on ${NODES} hollow nodes`);
    console.log(
      Number.isNaN(took)
        ? `  not Available within 10 minutes (${available} available)`
        : `  all Available after ${(took / 1000).toFixed(1)} s`,
    );
    console.log(`  mutating API meanwhile  ${fmt(latency)}   (target: p99 <= 1000 ms)`);
  } finally {
    await nodes.close();
    await cluster.destroy();
  }
}
