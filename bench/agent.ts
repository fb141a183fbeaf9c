// Pod startup on a real host: a control plane, a loopback registry with the busybox test image,
// a containerd of the bench's own and the agent joined through install.sh. The image is present
// before anything is measured. Prints create → Running latency (pods created one at a time, then
// all at once) next to raw `ctr run -d` of the same image on the same containerd, and the agent's
// memory with 20 pods running.
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { run } from "../scripts/run.ts";
import { lineSplitter } from "../src/k8s/lines.ts";
import { startCluster } from "../test/e2e/cluster.ts";
import { type Host, joinHost } from "../test/e2e/host.ts";
import { type Registry, startRegistry } from "../test/e2e/image.ts";
import { client } from "./http.ts";
import { percentile } from "./stats.ts";

const PODS = 30;
const RSS_PODS = 20;
const RAW_RUNS = 30;
const NS = "default";
/** The agent runs on the machine's Node (Debian 12: Node 20) as install.sh would pick it. */
const NODE = existsSync("/usr/bin/node") ? "/usr/bin/node" : process.execPath;
const LABEL = "kubeflare-bench=agent";
/** The raw runs use a containerd namespace of their own, away from the agent's. */
const RAW_NAMESPACE = "bench-raw";

interface Pod {
  metadata: { name: string };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    containerStatuses?: { started?: boolean; state?: { running?: unknown } }[];
  };
}

const running = (p: Pod) =>
  p.status?.phase === "Running" &&
  !!p.status.containerStatuses?.length &&
  p.status.containerStatuses.every((c) => c.started && c.state?.running);

/**
 * Watches the bench's pods; `when(name)` resolves at the first event showing it Running, and
 * `boundAt(name)` is when an event first showed it bound to the node.
 */
function watchRunning(server: string, token: string) {
  const seen = new Map<string, number>();
  const bound = new Map<string, number>();
  const waiters = new Map<string, (t: number) => void>();
  const url = new URL(server);
  const req = request({
    host: url.hostname,
    port: url.port,
    path: `/api/v1/namespaces/${NS}/pods?watch=1&labelSelector=${encodeURIComponent(LABEL)}`,
    headers: { authorization: `Bearer ${token}` },
    rejectUnauthorized: false,
  });
  const opened = new Promise<void>((resolve, reject) => {
    req.on("response", (res) => {
      if (res.statusCode !== 200) reject(new Error(`watch: HTTP ${res.statusCode}`));
      resolve();
      // Events of one chunk arrived together: they share its arrival time.
      let t = 0;
      const feed = lineSplitter((line) => {
        const ev = JSON.parse(line) as { type: string; object: Pod };
        const name = ev.object.metadata?.name;
        if (name && ev.object.spec?.nodeName && !bound.has(name)) bound.set(name, t);
        if (ev.type === "DELETED" || !name || seen.has(name) || !running(ev.object)) return;
        seen.set(name, t);
        waiters.get(name)?.(t);
      });
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        t = performance.now();
        feed(chunk);
      });
    });
    req.on("error", reject);
  });
  req.end();
  return {
    opened,
    when: (name: string) =>
      new Promise<number>((resolve) => {
        const t = seen.get(name);
        if (t !== undefined) resolve(t);
        else waiters.set(name, resolve);
      }),
    boundAt: (name: string) => bound.get(name) ?? Number.NaN,
    close: () => req.destroy(),
  };
}

function podManifest(name: string, image: string) {
  return {
    metadata: { name, labels: { "kubeflare-bench": "agent" } },
    spec: {
      // busybox httpd as pid 1 ignores SIGTERM: do not wait 30 s at the clean-up.
      terminationGracePeriodSeconds: 1,
      containers: [{ name: "httpd", image, imagePullPolicy: "IfNotPresent" }],
    },
  };
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms),
    ),
  ]);

function memoryOf(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

const stats = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};
const line = (s: ReturnType<typeof stats>) =>
  `n=${s.n}  p50=${s.p50.toFixed(0)} ms  p99=${s.p99.toFixed(0)} ms`;

export async function benchAgent() {
  const cluster = await startCluster();
  let registry: Registry | undefined;
  let host: Host | undefined;
  let phase = "joining the host";
  try {
    registry = await startRegistry();
    const image = await registry.push("v1");
    host = await joinHost({
      server: cluster.server,
      kubeconfig: cluster.kubeconfig,
      nodeName: "bench-agent",
      registries: [registry.host],
      node: NODE,
    });
    const { containerd } = host;
    const http = client(cluster.server, cluster.token);
    const watch = watchRunning(cluster.server, cluster.token);
    await watch.opened;

    // Each pod's create → Running, and how much of it passed before the pod was bound.
    const toBound: number[] = [];
    const create = async (name: string) => {
      const t0 = performance.now();
      const r = await http("POST", `/api/v1/namespaces/${NS}/pods`, podManifest(name, image));
      if (r.status !== 201) throw new Error(`creating pod ${name}: ${r.status} ${r.body}`);
      const t = await withTimeout(watch.when(name), 120_000, `pod ${name} Running`);
      toBound.push(watch.boundAt(name) - t0);
      return t - t0;
    };
    const deleteAll = async () => {
      await http("DELETE", `/api/v1/namespaces/${NS}/pods?labelSelector=${LABEL}`);
      for (let i = 0; ; i++) {
        const r = await http("GET", `/api/v1/namespaces/${NS}/pods?labelSelector=${LABEL}`);
        if (!JSON.parse(r.body).items.length) break;
        if (i > 600) throw new Error("bench pods not gone after 120 s");
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    phase = "warm-up";
    // Warm-up: the agent pulls the image (and remembers its digest), so every measured pod
    // starts with the image present.
    await create("warmup");
    toBound.splice(0);
    await deleteAll();

    phase = "raw ctr run";
    // Raw containerd: `ctr run -d` returns once the task has started; one at a time, then a burst.
    await containerd.ctr(["images", "pull", "--plain-http", image], { namespace: RAW_NAMESPACE });
    const rawCtr = (args: string[]) => containerd.ctr(args, { namespace: RAW_NAMESPACE });
    const rawRun = async (id: string) => {
      const t0 = performance.now();
      await rawCtr(["run", "-d", image, id]);
      return performance.now() - t0;
    };
    const rawClean = async (ids: string[]) => {
      for (const id of ids) await rawCtr(["tasks", "kill", "-s", "SIGKILL", id]);
      for (const id of ids) {
        for (let tries = 0; ; tries++) {
          try {
            await rawCtr(["tasks", "delete", id]);
            break;
          } catch (err) {
            if (tries > 50) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        await rawCtr(["containers", "delete", id]);
      }
    };
    const rawIds = (prefix: string) => Array.from({ length: RAW_RUNS }, (_, i) => `${prefix}-${i}`);
    const raw: number[] = [];
    for (const id of rawIds("raw")) raw.push(await rawRun(id));
    await rawClean(rawIds("raw"));
    const rawBurst = await Promise.all(rawIds("raw-burst").map(rawRun));
    await rawClean(rawIds("raw-burst"));

    phase = "pods one at a time";
    // One at a time: each pod is created once the previous one runs (they stay up meanwhile).
    const sequential: number[] = [];
    for (let i = 0; i < PODS; i++) sequential.push(await create(`seq-${i}`));
    const seqBound = toBound.splice(0);
    await deleteAll();

    phase = "pods in a burst";
    // A burst: all pods created at once, each timed from its own create request.
    const burst = await Promise.all(Array.from({ length: PODS }, (_, i) => create(`burst-${i}`)));
    const burstBound = toBound.splice(0);

    phase = "memory";
    // Memory with 20 pods: the burst's last ten go, then a few probe and status rounds pass.
    for (let i = RSS_PODS; i < PODS; i++)
      await http("DELETE", `/api/v1/namespaces/${NS}/pods/burst-${i}`);
    for (let i = 0; ; i++) {
      const r = await http("GET", `/api/v1/namespaces/${NS}/pods?labelSelector=${LABEL}`);
      if (JSON.parse(r.body).items.length === RSS_PODS) break;
      if (i > 600) throw new Error(`pods not down to ${RSS_PODS} after 120 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 15_000));
    const tasks = (await containerd.ctr(["tasks", "ls"]))
      .split("\n")
      .filter((l) => /RUNNING/.test(l));
    const mem = memoryOf(host.agent.pid);
    // The same 20 pods under a freshly started agent, which adopts them: memory without the
    // history of the runs above.
    phase = "memory after a restart";
    await host.agent.stop();
    const fresh = host.restartAgent();
    for (let i = 0; (fresh.output().match(/: adopted /g) ?? []).length < RSS_PODS; i++) {
      if (i > 600) throw new Error(`the restarted agent did not adopt ${RSS_PODS} pods`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 15_000));
    const memFresh = memoryOf(fresh.pid);
    watch.close();
    await deleteAll();

    const version = await run("containerd", ["--version"], { quiet: true });
    const nodeVersion = await run(NODE, ["--version"], { quiet: true });
    const verdict = (p99: number, base: number) =>
      `p99 ≤ raw + 300 ms (${(base + 300).toFixed(0)} ms): ${p99 <= base + 300 ? "met" : "MISSED"}`;
    const rawS = stats(raw);
    const rawBurstS = stats(rawBurst);
    const seqS = stats(sequential);
    const burstS = stats(burst);
    console.log(
      `\nPod startup (${version.trim()}; agent on Node ${nodeVersion.trim()}), image present`,
    );
    console.log(`  raw ctr run -d, one at a time        ${line(rawS)}`);
    console.log(`  raw ctr run -d, ${RAW_RUNS} at once          ${line(rawBurstS)}`);
    console.log(
      `  create → Running, one at a time      ${line(seqS)}   ${verdict(seqS.p99, rawS.p99)}`,
    );
    console.log(`    of which create → bound            ${line(stats(seqBound))}`);
    console.log(
      `  create → Running, ${PODS} at once        ${line(burstS)}   ${verdict(burstS.p99, rawBurstS.p99)}`,
    );
    console.log(`    of which create → bound            ${line(stats(burstBound))}`);
    console.log(
      `  agent with ${RSS_PODS} pods (${tasks.length} tasks running), after the runs above: RSS ${mem.rss.toFixed(1)} MB, peak (VmHWM) ${mem.hwm.toFixed(1)} MB   (target: RSS ≤ 60 MB): ${mem.rss <= 60 ? "met" : "MISSED"}`,
    );
    console.log(
      `  agent restarted with the same ${RSS_PODS} pods (adopted): RSS ${memFresh.rss.toFixed(1)} MB, peak (VmHWM) ${memFresh.hwm.toFixed(1)} MB   (target: RSS ≤ 60 MB): ${memFresh.rss <= 60 ? "met" : "MISSED"}`,
    );
  } catch (err) {
    const log = `control plane:\n${cluster.output().slice(-3000)}\nagent:\n${host?.agent.output().slice(-3000)}`;
    throw new Error(`agent bench failed during ${phase}\n${log}`, { cause: err });
  } finally {
    await host?.stop();
    await registry?.stop();
    await cluster.destroy();
  }
}
