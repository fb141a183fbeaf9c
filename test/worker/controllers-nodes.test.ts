// Node lifecycle and eviction: a node whose Lease lapses turns Ready=Unknown and tainted, its
// pods are evicted after their tolerationSeconds and replaced elsewhere, a renewed Lease lifts it
// all; a deleted node takes its pods along; pods/eviction honours PodDisruptionBudgets.
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, eventually } from "./helpers.ts";
import { heartbeat, registerNode, syncPods } from "./hollow.ts";

vi.setConfig({ testTimeout: 40_000, hookTimeout: 30_000 });

const NS = "default";
const podsPath = (name = "") => `/api/v1/namespaces/${NS}/pods${name ? `/${name}` : ""}`;
const rsPath = (name = "") => `/apis/apps/v1/namespaces/${NS}/replicasets${name ? `/${name}` : ""}`;
const pdbPath = (name = "") =>
  `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets${name ? `/${name}` : ""}`;

// Hollow kubelets: renew Leases and run their pods while listed here (grace period: 3 s).
const alive = new Set<string>();
const registered = new Set<string>();
let loop: Promise<void> | undefined;
/** While set, kubelets keep their Leases but leave pods as they are. */
let frozen = false;

async function startNodes(...names: string[]) {
  for (const n of names) {
    await registerNode(n);
    registered.add(n);
    alive.add(n);
  }
  loop ??= (async () => {
    while (alive.size) {
      await Promise.all(
        [...alive].map(async (n) => {
          await heartbeat(n);
          if (!frozen) await syncPods(n);
        }),
      );
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
}

afterEach(async () => {
  frozen = false;
  alive.clear();
  await loop;
  loop = undefined;
  for (const rs of (await call("GET", rsPath())).body.items ?? [])
    await call("DELETE", rsPath(rs.metadata.name));
  for (const pdb of (await call("GET", pdbPath())).body.items ?? [])
    await call("DELETE", pdbPath(pdb.metadata.name));
  await call("DELETE", podsPath(), { gracePeriodSeconds: 0 });
  for (const n of registered) await call("DELETE", `/api/v1/nodes/${n}`);
  registered.clear();
  await eventually(async () => (await call("GET", podsPath())).body.items.length === 0);
});

const getNode = async (name: string) => (await call("GET", `/api/v1/nodes/${name}`)).body;
const ready = (node: any) => (node.status?.conditions ?? []).find((c: any) => c.type === "Ready");
const taintKeys = (node: any) =>
  (node.spec?.taints ?? []).map((t: any) => `${t.key}:${t.effect}`).sort();
const live = async (): Promise<any[]> =>
  ((await call("GET", podsPath())).body.items ?? []).filter(
    (p: any) => !p.metadata.deletionTimestamp,
  );
const isReady = (p: any) =>
  p.status?.phase === "Running" &&
  (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");

function replicaSet(name: string, replicas: number) {
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
      },
    },
  };
}

async function runningReplicas(name: string, n: number) {
  expect((await call("POST", rsPath(), replicaSet(name, n))).status).toBe(201);
  return eventually(async () => {
    const pods = await live();
    return pods.length === n && pods.every(isReady) && pods;
  }, 20_000);
}

describe("node lifecycle", () => {
  it("replaces a dead node's pods on the other nodes, and lifts the taints when it returns", async () => {
    await startNodes("n1-a", "n1-b", "n1-c");
    const before = await runningReplicas("web", 6);
    const victim = before[0].spec.nodeName as string;
    const doomed = before
      .filter((p: any) => p.spec.nodeName === victim)
      .map((p: any) => p.metadata.name);

    alive.delete(victim);
    const unknown = await eventually(async () => {
      const node = await getNode(victim);
      return ready(node)?.status === "Unknown" && node;
    });
    expect(ready(unknown)).toMatchObject({
      reason: "NodeStatusUnknown",
      message: "Kubelet stopped posting node status.",
    });
    expect(taintKeys(unknown)).toEqual([
      "node.kubernetes.io/unreachable:NoExecute",
      "node.kubernetes.io/unreachable:NoSchedule",
    ]);

    // Evicted after the default toleration (2 s here), replaced on the live nodes.
    const after = await eventually(async () => {
      const pods = await live();
      const ok =
        pods.length === 6 &&
        pods.every((p) => p.spec.nodeName && p.spec.nodeName !== victim && isReady(p));
      return ok && pods;
    }, 20_000);
    expect(after.map((p: any) => p.metadata.name)).not.toContain(doomed[0]);
    const gone = (await call("GET", podsPath(doomed[0]))).body;
    expect(gone.metadata.deletionTimestamp).toBeTruthy();
    expect(gone.status.conditions).toContainEqual(
      expect.objectContaining({ type: "DisruptionTarget", reason: "DeletionByTaintManager" }),
    );

    // The kubelet comes back: Ready again, untainted, and it confirms the evictions.
    alive.add(victim);
    await startNodes();
    await eventually(async () => {
      const node = await getNode(victim);
      return ready(node)?.status === "True" && taintKeys(node).length === 0;
    });
    await eventually(async () => (await call("GET", podsPath(doomed[0]))).status === 404);
  });

  it("keeps a node Ready on Lease renewals alone, and notices at once when they stop and resume", async () => {
    // Routine renewals wake nobody; the node's controller re-reads the Lease on its own alarm.
    await registerNode("n1-lease");
    registered.add("n1-lease");
    const renew = () =>
      call(
        "PATCH",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1-lease",
        { spec: { renewTime: new Date().toISOString().replace("Z", "000Z") } },
        { "content-type": "application/merge-patch+json" },
      );
    const until = Date.now() + 9_000; // three grace periods
    while (Date.now() < until) {
      await renew();
      expect(ready(await getNode("n1-lease"))?.status).toBe("True");
      await new Promise((r) => setTimeout(r, 500));
    }
    await eventually(async () => ready(await getNode("n1-lease"))?.status === "Unknown", 6_000);
    // A renewal after the silence (the Lease alone, no node status) brings it back.
    await renew();
    await eventually(async () => ready(await getNode("n1-lease"))?.status === "True", 1_500);
  });

  it("evicts pods after their own tolerationSeconds for the unreachable taint", async () => {
    await startNodes("n2-a");
    const pod = (name: string, tolerations?: unknown[]) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name },
      spec: { containers: [{ name: "c", image: "nginx:1.27" }], tolerations },
    });
    await call("POST", podsPath(), pod("plain"));
    await call(
      "POST",
      podsPath(),
      pod("stubborn", [
        { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
      ]),
    );
    await call(
      "POST",
      podsPath(),
      pod("patient", [
        {
          key: "node.kubernetes.io/unreachable",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 3600,
        },
      ]),
    );
    await eventually(async () => (await live()).filter(isReady).length === 3);

    alive.delete("n2-a");
    const plain = await eventually(async () => {
      const p = (await call("GET", podsPath("plain"))).body;
      return p.metadata.deletionTimestamp && p;
    }, 20_000);
    expect(plain.spec.nodeName).toBe("n2-a");
    // It went after the seconds its admitted toleration names (DEFAULT_TOLERATION_SECONDS).
    expect(plain.spec.tolerations).toContainEqual(
      expect.objectContaining({ key: "node.kubernetes.io/unreachable", tolerationSeconds: 2 }),
    );
    // A pod's own, longer tolerationSeconds holds it on the node.
    expect(
      (await call("GET", podsPath("patient"))).body.metadata.deletionTimestamp,
    ).toBeUndefined();
    const stubborn = (await call("GET", podsPath("stubborn"))).body;
    expect(stubborn.metadata.deletionTimestamp).toBeUndefined();
    // Its Ready condition no longer vouches for it.
    expect(stubborn.status.conditions).toContainEqual(
      expect.objectContaining({ type: "Ready", status: "False" }),
    );
  });

  it("deletes the pods of a deleted node", async () => {
    await startNodes("n3-a");
    await runningReplicas("lonely", 2);
    alive.delete("n3-a");
    await call("DELETE", "/api/v1/nodes/n3-a");
    registered.delete("n3-a");
    await eventually(async () => {
      const pods = await live();
      // Replacements wait, unschedulable: there is no node left.
      return pods.length === 2 && pods.every((p) => !p.spec.nodeName) && pods;
    });
  });
});

describe("pods/eviction", () => {
  const evict = (name: string, body: Record<string, unknown> = {}) =>
    call("POST", `${podsPath(name)}/eviction`, {
      apiVersion: "policy/v1",
      kind: "Eviction",
      metadata: { name, namespace: NS },
      ...body,
    });

  it("honours a PodDisruptionBudget", async () => {
    await startNodes("n4-a", "n4-b");
    const pods = await runningReplicas("guarded", 3);
    const pdb = await call("POST", pdbPath(), {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "guard" },
      spec: { minAvailable: 2, selector: { matchLabels: { app: "guarded" } } },
    });
    expect(pdb.status).toBe(201);

    // Kubelets hold still: the evicted pod stays Terminating and its replacement does not run.
    frozen = true;
    const first = await evict(pods[0].metadata.name);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: "Status", status: "Success" });
    const status = (await call("GET", pdbPath("guard"))).body.status;
    expect(status).toMatchObject({
      desiredHealthy: 2,
      expectedPods: 3,
      disruptionsAllowed: 0,
      observedGeneration: 1,
    });
    // As the eviction left it (the pod counted, its disruption noted), or as the disruption
    // controller has recomputed it since: before the pod's deletion landed (noted, so not
    // counted) or after (terminating: neither counted nor noted).
    const noted = Object.keys(status.disruptedPods ?? {});
    if (status.currentHealthy === 3) expect(noted).toEqual([pods[0].metadata.name]);
    else {
      expect(status.currentHealthy).toBe(2);
      expect([[], [pods[0].metadata.name]]).toContainEqual(noted);
    }

    const second = await evict(pods[1].metadata.name);
    expect(second.status).toBe(429);
    expect(second.body).toMatchObject({
      reason: "TooManyRequests",
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      details: {
        causes: [
          {
            reason: "DisruptionBudget",
            message: "The disruption budget guard needs 2 healthy pods and has 2 currently",
          },
        ],
      },
    });
    expect(
      (await call("GET", podsPath(pods[1].metadata.name))).body.metadata.deletionTimestamp,
    ).toBeUndefined();

    // Once the replacement runs, the budget has room again.
    frozen = false;
    await eventually(async () => (await live()).filter(isReady).length === 3, 20_000);
    const third = await evict(pods[1].metadata.name);
    expect(third.status).toBe(201);
    const table = await call("GET", pdbPath(), undefined, {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
    });
    expect(table.body.columnDefinitions.map((c: any) => c.name)).toEqual([
      "Name",
      "Min Available",
      "Max Unavailable",
      "Allowed Disruptions",
      "Age",
    ]);
    expect(table.body.rows[0].cells.slice(0, 4)).toEqual(["guard", "2", "N/A", 0]);
  });

  it("evicts without a budget, and pending pods regardless of one", async () => {
    const pending = await call("POST", podsPath(), {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "waiting", labels: { app: "guarded" } },
      spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
    });
    expect(pending.status).toBe(201);
    await call("POST", pdbPath(), {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "strict" },
      spec: { maxUnavailable: 0, selector: { matchLabels: { app: "guarded" } } },
    });
    expect((await evict("waiting")).status).toBe(201);
    expect((await call("GET", podsPath("waiting"))).status).toBe(404);
    expect((await evict("waiting")).status).toBe(404);
    const mismatch = await call("POST", `${podsPath("x")}/eviction`, {
      apiVersion: "policy/v1",
      kind: "Eviction",
      metadata: { name: "y" },
    });
    expect(mismatch.status).toBe(400);
  });
});
