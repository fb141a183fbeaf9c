// Restarting the control plane keeps every object, and a watch resumed from a resourceVersion read
// before the restart gets exactly the events it missed, in order.
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "./cluster.ts";

interface KObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
}

interface WatchEvent {
  type: string;
  object: KObject;
}

const ns = "persist";
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
});

afterAll(async () => {
  await cluster?.destroy();
});

/** A plain HTTPS GET with the bearer token (self-signed certificate). */
function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${cluster.server}${path}`,
      { headers: { authorization: `Bearer ${cluster.token}` }, rejectUnauthorized: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/**
 * Opens a watch and collects events until `count` arrived and then `quietMs` passed without
 * another (or `timeoutMs` elapsed).
 */
function watch(
  path: string,
  count: number,
  quietMs = 3000,
  timeoutMs = 30_000,
): Promise<{ status: number; events: WatchEvent[]; body: string }> {
  return new Promise((resolve, reject) => {
    const events: WatchEvent[] = [];
    let body = "";
    let buffer = "";
    let quiet: NodeJS.Timeout | undefined;
    const req = request(
      `${cluster.server}${path}`,
      {
        headers: { authorization: `Bearer ${cluster.token}`, accept: "application/json" },
        rejectUnauthorized: false,
      },
      (res) => {
        res.setEncoding("utf8");
        const finish = () => {
          clearTimeout(overall);
          clearTimeout(quiet);
          req.destroy();
          resolve({ status: res.statusCode ?? 0, events, body });
        };
        const overall = setTimeout(finish, timeoutMs);
        res.on("data", (chunk: string) => {
          body += chunk;
          buffer += chunk;
          let nl = buffer.indexOf("\n");
          while (nl >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (line) events.push(JSON.parse(line));
            nl = buffer.indexOf("\n");
          }
          if (events.length >= count) {
            clearTimeout(quiet);
            quiet = setTimeout(finish, quietMs);
          }
        });
        res.on("end", finish);
        res.on("error", finish);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const kinds = [
  "namespaces",
  "configmaps",
  "secrets",
  "deployments.apps",
  "services",
  "cronjobs.batch",
];

/** Every object of the test namespace (and the namespace itself), keyed kind/name. */
async function snapshot(): Promise<Map<string, KObject>> {
  const out = new Map<string, KObject>();
  for (const kind of kinds) {
    const args =
      kind === "namespaces"
        ? ["get", kind, ns, "-o", "json"]
        : ["get", kind, "-n", ns, "-o", "json"];
    const parsed = JSON.parse(await cluster.kubectl([...args, "--show-managed-fields"]));
    const items: KObject[] = parsed.kind === "List" ? parsed.items : [parsed];
    for (const o of items) out.set(`${o.kind}/${o.metadata.name}`, o);
  }
  return out;
}

const manifest = `apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: keep, namespace: ${ns}, labels: {app: persist}}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: change, namespace: ${ns}}
data: {v: "before"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gone, namespace: ${ns}}
data: {v: "doomed"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: ${ns}}
data: {password: czNjcmV0}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.25"}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${ns}}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: ${ns}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: job, image: "busybox:1.36"}
`;

const cm = (name: string, data: Record<string, string>) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: ${ns}}\ndata: ${JSON.stringify(data)}\n`;

describe("persistence across a control plane restart", () => {
  let before: Map<string, KObject>;
  let listRv: string;

  it("keeps every object", async () => {
    await cluster.kubectl(["apply", "-f", "-"], { input: manifest });
    // The resourceVersion a watcher had reached before it was cut off.
    const list = await get(`/api/v1/namespaces/${ns}/configmaps`);
    expect(list.status).toBe(200);
    listRv = JSON.parse(list.body).metadata.resourceVersion;
    expect(listRv).toMatch(/^\d+$/);

    // Changes the watcher misses: before the restart...
    await cluster.kubectl(["apply", "-f", "-"], { input: cm("added", { n: "1" }) });
    await cluster.kubectl(["apply", "-f", "-"], { input: cm("change", { v: "after" }) });
    await cluster.kubectl(["delete", "configmap", "gone", "-n", ns]);

    before = await snapshot();
    expect([...before.keys()].sort()).toEqual(
      expect.arrayContaining([
        `Namespace/${ns}`,
        "ConfigMap/keep",
        "ConfigMap/change",
        "ConfigMap/added",
        "Secret/creds",
        "Deployment/web",
        "Service/web",
        "CronJob/nightly",
      ]),
    );
    expect(before.has("ConfigMap/gone")).toBe(false);

    await cluster.restart();

    const after = await snapshot();
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [key, o] of before) {
      const a = after.get(key) as KObject;
      expect(a.metadata.uid, key).toBe(o.metadata.uid);
      expect(a.metadata.creationTimestamp, key).toBe(o.metadata.creationTimestamp);
      expect(a.metadata.labels, key).toEqual(o.metadata.labels);
      expect(a.metadata.annotations, key).toEqual(o.metadata.annotations);
      if (o.kind === "Deployment" || o.kind === "CronJob") {
        // Controllers may write status after a restart; what the user declared is unchanged.
        expect(a.spec, key).toEqual(o.spec);
      } else {
        expect(a, key).toEqual(o);
      }
    }
    expect(
      Buffer.from(
        (after.get("Secret/creds") as unknown as { data: { password: string } }).data.password,
        "base64",
      ).toString(),
    ).toBe("s3cret");
  });

  it("a watch resumed from a resourceVersion read before the restart gets exactly the missed events", async () => {
    expect(listRv).toBeDefined();
    // ...and after it.
    await cluster.kubectl(["apply", "-f", "-"], { input: cm("added", { n: "2" }) });
    await cluster.kubectl(["apply", "-f", "-"], { input: cm("later", { n: "1" }) });

    const w = await watch(
      `/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${listRv}`,
      5,
    );
    expect(w.status).toBe(200);
    const summary = w.events.map((e) => {
      const data = (e.object as { data?: Record<string, string> }).data ?? {};
      return `${e.type} ${e.object.metadata?.name} ${JSON.stringify(data)}`;
    });
    expect(summary).toEqual([
      'ADDED added {"n":"1"}',
      'MODIFIED change {"v":"after"}',
      'DELETED gone {"v":"doomed"}',
      'MODIFIED added {"n":"2"}',
      'ADDED later {"n":"1"}',
    ]);
    const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
    expect(rvs[0]).toBeGreaterThan(Number(listRv));
    for (let i = 1; i < rvs.length; i++) expect(rvs[i]).toBeGreaterThan(rvs[i - 1]);
    // The last event is the object as it is now.
    const later = JSON.parse(
      await cluster.kubectl(["get", "configmap", "later", "-n", ns, "-o", "json"]),
    );
    expect(String(rvs[4])).toBe(later.metadata.resourceVersion);
  });
});
