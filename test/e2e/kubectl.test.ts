// The real kubectl against the real control plane: what a user types and what they see.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Cluster, eventually, type KubectlOptions, startCluster } from "./cluster.ts";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
});

afterAll(async () => {
  await cluster?.destroy();
});

/** Splits kubectl's table output into rows of cells (columns are at least 3 spaces apart). */
function table(out: string): string[][] {
  return out
    .trimEnd()
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => l.trim().split(/ {2,}/));
}

const header = (out: string) => table(out)[0];
const row = (out: string, first: string) => table(out).find((r) => r[0] === first);
const names = (out: string) =>
  out
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();

const namespaceDoc = (ns: string) => `apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
`;

const configMapDoc = (
  ns: string,
  name: string,
  data: Record<string, string>,
  labels: Record<string, string> = {},
) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: ${ns}
  labels: ${JSON.stringify(labels)}
data: ${JSON.stringify(data)}
`;

function appManifest(ns: string, o: { data: Record<string, string>; replicas?: number }): string {
  return [
    namespaceDoc(ns),
    `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: ${ns}
  labels:
    app: web
data: ${JSON.stringify(o.data)}
`,
    `apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: ${ns}
type: Opaque
data:
  password: czNjcmV0
`,
    `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${ns}
  labels:
    app: web
spec:
  replicas: ${o.replicas ?? 2}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 8080
        env:
        - name: MODE
          value: production
      - name: sidecar
        image: busybox:1.36
        command: ["sh", "-c", "sleep infinity"]
`,
    `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ${ns}
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
`,
    `apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: ${ns}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: job
            image: busybox:1.36
            command: ["echo", "hello"]
`,
  ].join("---\n");
}

function kubectlSuite(version: string, full: boolean) {
  const v = version.replace(".", "");
  const opts = (o: KubectlOptions = {}): KubectlOptions => ({ version, ...o });
  const k = (args: string[], o?: KubectlOptions) => cluster.kubectl(args, opts(o));
  const kr = (args: string[], o?: KubectlOptions) => cluster.kubectlResult(args, opts(o));
  const apply = (manifest: string, extra: string[] = []) =>
    k(["apply", "-f", "-", ...extra], { input: manifest });
  const json = async (args: string[]) => JSON.parse(await k([...args, "-o", "json"]));

  const app = `app-${v}`;
  /** Tests only the kubectl 1.32 block runs; the 1.29 block runs the rest. */
  const fullIt = (name: string, fn: () => Promise<void>) => {
    if (full) it(name, fn);
  };

  it("apply -f creates every object of a multi-document manifest", async () => {
    const out = await apply(appManifest(app, { data: { a: "1", b: "2" } }));
    expect(names(out)).toEqual(
      [
        `namespace/${app} created`,
        "configmap/web-config created",
        "secret/web-secret created",
        "deployment.apps/web created",
        "service/web created",
        "cronjob.batch/nightly created",
      ].sort(),
    );
    const secret = await json(["get", "secret", "web-secret", "-n", app]);
    expect(secret.data).toEqual({ password: Buffer.from("s3cret").toString("base64") });
    const deploy = await json(["get", "deployment", "web", "-n", app]);
    expect(deploy.spec.replicas).toBe(2);
    expect(deploy.metadata.generation).toBe(1);
    expect(
      deploy.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"],
    ).toContain('"replicas":2');
    const svc = await json(["get", "service", "web", "-n", app]);
    expect(svc.spec.clusterIP).toMatch(/^10\.43\.\d+\.\d+$/);
    expect(svc.spec.clusterIPs).toEqual([svc.spec.clusterIP]);
  });

  it("the server fills in Kubernetes' defaults", async () => {
    const deploy = await json(["get", "deployment", "web", "-n", app]);
    expect(deploy.spec.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" },
    });
    expect(deploy.spec.revisionHistoryLimit).toBe(10);
    expect(deploy.spec.progressDeadlineSeconds).toBe(600);
    const podSpec = deploy.spec.template.spec;
    expect(podSpec.restartPolicy).toBe("Always");
    expect(podSpec.dnsPolicy).toBe("ClusterFirst");
    expect(podSpec.terminationGracePeriodSeconds).toBe(30);
    expect(podSpec.containers[0].imagePullPolicy).toBe("IfNotPresent");
    expect(podSpec.containers[0].terminationMessagePath).toBe("/dev/termination-log");
    expect(podSpec.containers[0].ports[0].protocol).toBe("TCP");
    const svc = await json(["get", "service", "web", "-n", app]);
    expect(svc.spec.type).toBe("ClusterIP");
    expect(svc.spec.sessionAffinity).toBe("None");
    expect(svc.spec.ports[0]).toEqual({
      name: "http",
      port: 80,
      targetPort: 8080,
      protocol: "TCP",
    });
    const cj = await json(["get", "cronjob", "nightly", "-n", app]);
    expect(cj.spec).toMatchObject({
      schedule: "0 3 * * *",
      concurrencyPolicy: "Allow",
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
    });
  });

  it("apply again merges three ways: a removed field goes, a label set by kubectl label stays", async () => {
    expect(await k(["label", "configmap", "web-config", "-n", app, "team=blue"])).toBe(
      "configmap/web-config labeled\n",
    );
    const out = await apply(appManifest(app, { data: { a: "1", c: "3" } }));
    expect(names(out)).toEqual(
      [
        `namespace/${app} unchanged`,
        "configmap/web-config configured",
        "secret/web-secret unchanged",
        "deployment.apps/web unchanged",
        "service/web unchanged",
        "cronjob.batch/nightly unchanged",
      ].sort(),
    );
    const cm = await json(["get", "configmap", "web-config", "-n", app]);
    expect(cm.data).toEqual({ a: "1", c: "3" });
    expect(cm.metadata.labels).toEqual({ app: "web", team: "blue" });
  });

  it("apply --server-side owns fields per manager; a conflict needs --force-conflicts", async () => {
    const ns = `ssa-${v}`;
    await apply(namespaceDoc(ns));
    const doc = (data: Record<string, string>) => configMapDoc(ns, "ssa", data);
    expect(await apply(doc({ key: "one", other: "x" }), ["--server-side"])).toBe(
      "configmap/ssa serverside-applied\n",
    );
    let cm = await json(["get", "configmap", "ssa", "-n", ns, "--show-managed-fields"]);
    expect(cm.metadata.managedFields).toEqual([
      expect.objectContaining({
        manager: "kubectl",
        operation: "Apply",
        apiVersion: "v1",
        fieldsType: "FieldsV1",
        fieldsV1: expect.objectContaining({ "f:data": { "f:key": {}, "f:other": {} } }),
      }),
    ]);

    const conflict = await kr(["apply", "--server-side", "--field-manager=other", "-f", "-"], {
      input: doc({ key: "two" }),
    });
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/Apply failed with 1 conflict: conflict with "kubectl"/);
    expect(conflict.stderr).toContain(".data.key");
    cm = await json(["get", "configmap", "ssa", "-n", ns]);
    expect(cm.data).toEqual({ key: "one", other: "x" });

    expect(
      await apply(doc({ key: "two" }), [
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
      ]),
    ).toBe("configmap/ssa serverside-applied\n");
    cm = await json(["get", "configmap", "ssa", "-n", ns, "--show-managed-fields"]);
    expect(cm.data).toEqual({ key: "two", other: "x" });
    const byManager = Object.fromEntries(
      cm.metadata.managedFields.map((m: { manager: string; fieldsV1: unknown }) => [
        m.manager,
        m.fieldsV1,
      ]),
    );
    expect(byManager.other).toMatchObject({ "f:data": { "f:key": {} } });
    expect(byManager.kubectl).toMatchObject({ "f:data": { "f:other": {} } });
    expect(byManager.kubectl["f:data"]["f:key"]).toBeUndefined();

    // A field its manager stops applying is removed.
    await apply(doc({ key: "two" }), ["--server-side"]);
    cm = await json(["get", "configmap", "ssa", "-n", ns]);
    expect(cm.data).toEqual({ key: "two" });
  });

  it("get prints Kubernetes' table columns", async () => {
    const deploy = await k(["get", "deployments", "-n", app]);
    expect(header(deploy)).toEqual(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    expect(row(deploy, "web")?.slice(0, 2)).toEqual(["web", "0/2"]);

    const svc = await k(["get", "svc", "-n", app]);
    expect(header(svc)).toEqual(["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    const svcRow = row(svc, "web") ?? [];
    expect(svcRow.slice(0, 5)).toEqual([
      "web",
      "ClusterIP",
      expect.stringMatching(/^10\.43\./),
      "<none>",
      "80/TCP",
    ]);

    const cm = await k(["get", "configmap", "web-config", "-n", app]);
    expect(header(cm)).toEqual(["NAME", "DATA", "AGE"]);
    expect(row(cm, "web-config")?.slice(0, 2)).toEqual(["web-config", "2"]);

    const secret = await k(["get", "secrets", "-n", app]);
    expect(header(secret)).toEqual(["NAME", "TYPE", "DATA", "AGE"]);
    expect(row(secret, "web-secret")?.slice(0, 3)).toEqual(["web-secret", "Opaque", "1"]);

    const cj = await k(["get", "cronjobs", "-n", app]);
    expect(header(cj)).toEqual([
      "NAME",
      "SCHEDULE",
      "TIMEZONE",
      "SUSPEND",
      "ACTIVE",
      "LAST SCHEDULE",
      "AGE",
    ]);
    expect(row(cj, "nightly")?.slice(0, 6)).toEqual([
      "nightly",
      "0 3 * * *",
      "<none>",
      "False",
      "0",
      "<none>",
    ]);

    const ns = await k(["get", "namespace", app]);
    expect(header(ns)).toEqual(["NAME", "STATUS", "AGE"]);
    expect(row(ns, app)?.slice(0, 2)).toEqual([app, "Active"]);

    const wideDeploy = await k(["get", "deployment", "web", "-n", app, "-o", "wide"]);
    expect(header(wideDeploy)).toEqual([
      "NAME",
      "READY",
      "UP-TO-DATE",
      "AVAILABLE",
      "AGE",
      "CONTAINERS",
      "IMAGES",
      "SELECTOR",
    ]);
    expect(row(wideDeploy, "web")?.slice(5)).toEqual([
      "web,sidecar",
      "nginx:1.25,busybox:1.36",
      "app=web",
    ]);
    const wideSvc = await k(["get", "service", "web", "-n", app, "-o", "wide"]);
    expect(header(wideSvc)).toEqual([
      "NAME",
      "TYPE",
      "CLUSTER-IP",
      "EXTERNAL-IP",
      "PORT(S)",
      "AGE",
      "SELECTOR",
    ]);
    expect(row(wideSvc, "web")?.[6]).toBe("app=web");
  });

  it("get -o yaml and -o jsonpath", async () => {
    const y = parse(await k(["get", "deployment", "web", "-n", app, "-o", "yaml"]));
    expect(y).toMatchObject({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: app, uid: expect.any(String) },
      spec: { replicas: 2, selector: { matchLabels: { app: "web" } } },
    });
    expect(
      await k([
        "get",
        "deployment",
        "web",
        "-n",
        app,
        "-o",
        "jsonpath={.spec.template.spec.containers[*].name}",
      ]),
    ).toBe("web sidecar");
    expect(await k(["get", "configmap", "web-config", "-n", app, "-o", "jsonpath={.data.c}"])).toBe(
      "3",
    );
    const list = parse(await k(["get", "configmaps,secrets", "-n", app, "-o", "yaml"]));
    expect(list.kind).toBe("List");
    expect(list.items.map((i: { kind: string }) => i.kind)).toEqual(
      expect.arrayContaining(["ConfigMap", "Secret"]),
    );
  });

  it("get -l with equality and set-based selectors, and -A across namespaces", async () => {
    const ns = `sel-${v}`;
    await apply(
      [
        namespaceDoc(ns),
        configMapDoc(ns, "sel-a", { x: "1" }, { app: "web", tier: "front" }),
        configMapDoc(ns, "sel-b", { x: "1" }, { app: "db", tier: "back" }),
        configMapDoc(ns, "sel-c", { x: "1" }, { app: "web" }),
      ].join("---\n"),
    );
    const sel = async (selector: string) =>
      names(await k(["get", "configmaps", "-n", ns, "-l", selector, "-o", "name"]));
    expect(await sel("app=web")).toEqual(["configmap/sel-a", "configmap/sel-c"]);
    expect(await sel("app in (web)")).toEqual(["configmap/sel-a", "configmap/sel-c"]);
    expect(await sel("app notin (web)")).toEqual(["configmap/sel-b"]);
    expect(await sel("app!=web")).toEqual(["configmap/sel-b"]);
    expect(await sel("tier")).toEqual(["configmap/sel-a", "configmap/sel-b"]);
    expect(await sel("!tier")).toEqual(["configmap/sel-c"]);
    expect(await sel("app=web,tier in (front,back)")).toEqual(["configmap/sel-a"]);
    const table_ = await k(["get", "configmaps", "-n", ns, "-l", "app in (web)"]);
    expect(header(table_)).toEqual(["NAME", "DATA", "AGE"]);
    expect(table(table_).map((r) => r[0])).toEqual(["NAME", "sel-a", "sel-c"]);

    const all = await k(["get", "configmaps", "-A", "-l", "app"]);
    expect(header(all)).toEqual(["NAMESPACE", "NAME", "DATA", "AGE"]);
    const rows = table(all).slice(1);
    expect(rows.map((r) => `${r[0]}/${r[1]}`)).toEqual(
      expect.arrayContaining([`${ns}/sel-a`, `${ns}/sel-b`, `${ns}/sel-c`, `${app}/web-config`]),
    );
    const deploys = await k(["get", "deployments", "--all-namespaces"]);
    expect(header(deploys)[0]).toBe("NAMESPACE");
    expect(row(deploys, app)?.[1]).toBe("web");
  });

  it("get -w sees a later change (plain)", async () => {
    const ns = `watch-${v}`;
    await apply([namespaceDoc(ns), configMapDoc(ns, "watched", { a: "1" })].join("---\n"));
    const w = cluster.kubectlBackground(["get", "configmap", "watched", "-n", ns, "-w"], opts());
    try {
      await w.waitFor(/^watched\s+1\s+\S+$/m);
      await apply(configMapDoc(ns, "watched", { a: "1", b: "2" }));
      await w.waitFor(/^watched\s+2\s+\S+$/m);
      expect(header(w.stdout)).toEqual(["NAME", "DATA", "AGE"]);
    } finally {
      await w.stop();
    }
  });

  fullIt("get -w --output-watch-events prints ADDED, MODIFIED and DELETED", async () => {
    const ns = `watch-${v}`;
    await apply([namespaceDoc(ns), configMapDoc(ns, "events", { a: "1" })].join("---\n"));
    const w = cluster.kubectlBackground(
      ["get", "configmaps", "-n", ns, "-w", "--output-watch-events"],
      opts(),
    );
    try {
      await w.waitFor(/^ADDED\s+events\s+1\s/m);
      expect(header(w.stdout)).toEqual(["EVENT", "NAME", "DATA", "AGE"]);
      await apply(configMapDoc(ns, "events", { a: "1", b: "2" }));
      await w.waitFor(/^MODIFIED\s+events\s+2\s/m);
      await k(["delete", "configmap", "events", "-n", ns]);
      await w.waitFor(/^DELETED\s+events\s+2\s/m);
    } finally {
      await w.stop();
    }
  });

  it("describe shows a deployment the way kubectl describes it", async () => {
    const out = await k(["describe", "deployment", "web", "-n", app]);
    expect(out).toMatch(/^Name:\s+web$/m);
    expect(out).toMatch(new RegExp(`^Namespace:\\s+${app}$`, "m"));
    expect(out).toMatch(/^Labels:\s+app=web$/m);
    expect(out).toMatch(/^Selector:\s+app=web$/m);
    expect(out).toMatch(/^Replicas:\s+2 desired \|/m);
    expect(out).toMatch(/^StrategyType:\s+RollingUpdate$/m);
    expect(out).toMatch(/^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$/m);
    expect(out).toMatch(/^\s+web:\n\s+Image:\s+nginx:1\.25$/m);
    expect(out).toMatch(/^\s+sidecar:\n\s+Image:\s+busybox:1\.36$/m);
    const cm = await k(["describe", "configmap", "web-config", "-n", app]);
    expect(cm).toMatch(/^Name:\s+web-config$/m);
    expect(cm).toMatch(/^Data\n====\n/m);
    // kubectl 1.29 prints the keys in map order, so look for each one on its own.
    expect(cm).toMatch(/^a:\n----\n1$/m);
    expect(cm).toMatch(/^c:\n----\n3$/m);
    const svc = await k(["describe", "service", "web", "-n", app]);
    expect(svc).toMatch(/^Type:\s+ClusterIP$/m);
    expect(svc).toMatch(/^IP:\s+10\.43\./m);
    expect(svc).toMatch(/^Port:\s+http\s+80\/TCP$/m);
    expect(svc).toMatch(/^TargetPort:\s+8080\/TCP$/m);
  });

  fullIt("label and annotate add, overwrite and remove", async () => {
    const ns = `misc-${v}`;
    await apply([namespaceDoc(ns), configMapDoc(ns, "tagged", { a: "1" })].join("---\n"));
    expect(await k(["label", "configmap", "tagged", "-n", ns, "env=prod"])).toBe(
      "configmap/tagged labeled\n",
    );
    const again = await kr(["label", "configmap", "tagged", "-n", ns, "env=dev"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("'env' already has a value (prod), and --overwrite is false");
    await k(["label", "configmap", "tagged", "-n", ns, "env=dev", "--overwrite"]);
    expect(await k(["annotate", "configmap", "tagged", "-n", ns, "note=hello world"])).toBe(
      "configmap/tagged annotated\n",
    );
    let cm = await json(["get", "configmap", "tagged", "-n", ns]);
    expect(cm.metadata.labels).toEqual({ env: "dev" });
    expect(cm.metadata.annotations.note).toBe("hello world");
    await k(["label", "configmap", "tagged", "-n", ns, "env-"]);
    await k(["annotate", "configmap", "tagged", "-n", ns, "note-"]);
    cm = await json(["get", "configmap", "tagged", "-n", ns]);
    expect(cm.metadata.labels ?? {}).toEqual({});
    expect(cm.metadata.annotations?.note).toBeUndefined();
    expect(
      names(await k(["label", "configmaps", "-n", ns, "--all", "swept=yes"])).length,
    ).toBeGreaterThan(0);
    expect(
      names(await k(["get", "configmaps", "-n", ns, "-l", "swept=yes", "-o", "name"])),
    ).toContain("configmap/tagged");
  });

  it("patch --type json and --type merge", async () => {
    expect(
      await k([
        "patch",
        "deployment",
        "web",
        "-n",
        app,
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/metadata/labels/patched","value":"json"}]',
      ]),
    ).toBe("deployment.apps/web patched\n");
    expect(
      await k([
        "patch",
        "deployment",
        "web",
        "-n",
        app,
        "--type",
        "merge",
        "-p",
        '{"metadata":{"annotations":{"merged":"yes"},"labels":{"patched":null}}}',
      ]),
    ).toBe("deployment.apps/web patched\n");
    const d = await json(["get", "deployment", "web", "-n", app]);
    expect(d.spec.replicas).toBe(3);
    expect(d.metadata.labels).toEqual({ app: "web" });
    expect(d.metadata.annotations.merged).toBe("yes");
    const bad = await kr([
      "patch",
      "deployment",
      "web",
      "-n",
      app,
      "--type",
      "json",
      "-p",
      '[{"op":"test","path":"/spec/replicas","value":7}]',
    ]);
    expect(bad.code).toBe(1);
    expect(await json(["get", "deployment", "web", "-n", app])).toMatchObject({
      spec: { replicas: 3 },
    });
  });

  it("patch --type strategic updates one container by name and keeps the other", async () => {
    expect(
      await k([
        "patch",
        "deployment",
        "web",
        "-n",
        app,
        "--type",
        "strategic",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}',
      ]),
    ).toBe("deployment.apps/web patched\n");
    const d = await json(["get", "deployment", "web", "-n", app]);
    const containers = d.spec.template.spec.containers;
    expect(containers.map((c: { name: string; image: string }) => [c.name, c.image])).toEqual([
      ["web", "nginx:1.26"],
      ["sidecar", "busybox:1.36"],
    ]);
    expect(containers[0].env).toEqual([{ name: "MODE", value: "production" }]);
    expect(d.metadata.generation).toBeGreaterThan(1);
    // kubectl patch's default type is strategic too; a merge-keyed list entry is added, not replaced.
    await k([
      "patch",
      "deployment",
      "web",
      "-n",
      app,
      "-p",
      '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"EXTRA","value":"1"}]}]}}}}',
    ]);
    const d2 = await json(["get", "deployment", "web", "-n", app]);
    expect(d2.spec.template.spec.containers).toHaveLength(2);
    expect(d2.spec.template.spec.containers[0].env).toEqual([
      { name: "EXTRA", value: "1" },
      { name: "MODE", value: "production" },
    ]);
    // A patch that changes nothing is no write (a ConfigMap: no controller writes it meanwhile).
    expect(
      await k([
        "patch",
        "configmap",
        "web-config",
        "-n",
        app,
        "-p",
        '{"metadata":{"labels":{"app":"web"}}}',
      ]),
    ).toBe("configmap/web-config patched (no change)\n");
  });

  fullIt("replace swaps the whole object and refuses a stale resourceVersion", async () => {
    const ns = `misc-${v}`;
    await apply([namespaceDoc(ns), configMapDoc(ns, "replaced", { a: "1", b: "2" })].join("---\n"));
    const live = await json(["get", "configmap", "replaced", "-n", ns]);
    const next = { ...live, data: { z: "26" } };
    expect(await k(["replace", "-f", "-"], { input: JSON.stringify(next) })).toBe(
      "configmap/replaced replaced\n",
    );
    const after = await json(["get", "configmap", "replaced", "-n", ns]);
    expect(after.data).toEqual({ z: "26" });
    expect(Number(after.metadata.resourceVersion)).toBeGreaterThan(
      Number(live.metadata.resourceVersion),
    );
    // `live` still names the old resourceVersion.
    const stale = await kr(["replace", "-f", "-"], {
      input: JSON.stringify({ ...live, data: { y: "25" } }),
    });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(
      `Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "replaced": the object has been modified; please apply your changes to the latest version and try again`,
    );
  });

  fullIt("scale sets replicas through the scale subresource", async () => {
    expect(await k(["scale", "deployment", "web", "-n", app, "--replicas=5"])).toBe(
      "deployment.apps/web scaled\n",
    );
    expect(
      await k(["get", "deployment", "web", "-n", app, "-o", "jsonpath={.spec.replicas}"]),
    ).toBe("5");
    const pre = await kr([
      "scale",
      "deployment",
      "web",
      "-n",
      app,
      "--current-replicas=4",
      "--replicas=1",
    ]);
    expect(pre.code).toBe(1);
    expect(
      await k(["get", "deployment", "web", "-n", app, "-o", "jsonpath={.spec.replicas}"]),
    ).toBe("5");
  });

  it("diff exits 0 when the manifest matches and 1 with a diff when it changed", async () => {
    const ns = `diff-${v}`;
    const manifest = (replicas: number, image: string) => `${namespaceDoc(ns)}---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: differ
  namespace: ${ns}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: differ}
  template:
    metadata:
      labels: {app: differ}
    spec:
      containers:
      - name: main
        image: ${image}
`;
    await apply(manifest(2, "nginx:1.25"));
    const same = await kr(["diff", "-f", "-"], { input: manifest(2, "nginx:1.25") });
    expect(same.stderr).toBe("");
    expect(same.stdout).toBe("");
    expect(same.code).toBe(0);
    const changed = await kr(["diff", "-f", "-"], { input: manifest(4, "nginx:1.26") });
    expect(changed.stderr).toBe("");
    expect(changed.code).toBe(1);
    expect(changed.stdout).toMatch(/^-\s+replicas: 2$/m);
    expect(changed.stdout).toMatch(/^\+\s+replicas: 4$/m);
    expect(changed.stdout).toMatch(/^-\s+- image: nginx:1\.25$/m);
    expect(changed.stdout).toMatch(/^\+\s+- image: nginx:1\.26$/m);
    // diff is a dry run: nothing changed.
    const live = await json(["get", "deployment", "differ", "-n", ns]);
    expect(live.spec.replicas).toBe(2);
    expect(live.metadata.generation).toBe(1);
  });

  it("explain deployment.spec.replicas", async () => {
    const out = await k(["explain", "deployment.spec.replicas"]);
    expect(out).toMatch(/^GROUP:\s+apps$/m);
    expect(out).toMatch(/^KIND:\s+Deployment$/m);
    expect(out).toMatch(/^VERSION:\s+v1$/m);
    expect(out).toMatch(/^FIELD: replicas <integer>$/m);
    expect(out).toContain("Number of desired pods.");
  });

  it("api-resources lists the served kinds", async () => {
    const out = await k(["api-resources"]);
    expect(header(out)).toEqual(["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]);
    expect(row(out, "deployments")).toEqual([
      "deployments",
      "deploy",
      "apps/v1",
      "true",
      "Deployment",
    ]);
    expect(row(out, "cronjobs")).toEqual(["cronjobs", "cj", "batch/v1", "true", "CronJob"]);
    expect(row(out, "namespaces")).toEqual(["namespaces", "ns", "v1", "false", "Namespace"]);
    expect(row(out, "configmaps")).toEqual(["configmaps", "cm", "v1", "true", "ConfigMap"]);
    const cluster_ = await k(["api-resources", "--namespaced=false", "-o", "name"]);
    expect(names(cluster_)).toEqual(expect.arrayContaining(["namespaces", "nodes"]));
    expect(names(cluster_)).not.toContain("pods");
  });

  it("delete by name and by -l", async () => {
    const ns = `del-${v}`;
    await apply(
      [
        namespaceDoc(ns),
        configMapDoc(ns, "del-a", { a: "1" }),
        configMapDoc(ns, "del-b", { a: "1" }, { group: "doomed" }),
        configMapDoc(ns, "del-c", { a: "1" }, { group: "doomed" }),
        configMapDoc(ns, "del-d", { a: "1" }, { group: "kept" }),
      ].join("---\n"),
    );
    expect(await k(["delete", "configmap", "del-a", "-n", ns])).toBe('configmap "del-a" deleted\n');
    expect(names(await k(["delete", "configmaps", "-n", ns, "-l", "group=doomed"]))).toEqual([
      'configmap "del-b" deleted',
      'configmap "del-c" deleted',
    ]);
    const left = names(await k(["get", "configmaps", "-n", ns, "-l", "group", "-o", "name"]));
    expect(left).toEqual(["configmap/del-d"]);
    const gone = await kr(["get", "configmap", "del-a", "-n", ns]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('Error from server (NotFound): configmaps "del-a" not found\n');
    const nope = await kr(["delete", "configmap", "del-a", "-n", ns]);
    expect(nope.code).toBe(1);
    expect(nope.stderr).toBe('Error from server (NotFound): configmaps "del-a" not found\n');
  });

  it("get of a missing object prints Error from server (NotFound)", async () => {
    const nope = await kr(["get", "pod", "nope"]);
    expect(nope.code).toBe(1);
    expect(nope.stdout).toBe("");
    expect(nope.stderr).toBe('Error from server (NotFound): pods "nope" not found\n');
  });

  const errNs = `err-${v}`;
  const deploymentWith = (extra: string, labels = "a") => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: ${errNs}
spec:
  selector:
    matchLabels: {app: a}
  template:
    metadata:
      labels: {app: ${labels}}
    spec:
      containers:
      - name: main
        image: nginx
${extra}`;

  it("an unknown field fails under the default strict validation", async () => {
    await apply(namespaceDoc(errNs));
    const unknownTop = await kr(["apply", "-f", "-"], {
      input: `apiVersion: v1
kind: ConfigMap
metadata:
  name: typo
  namespace: ${errNs}
datta:
  a: "1"
`,
    });
    expect(unknownTop.code).toBe(1);
    expect(unknownTop.stderr).toMatch(/^Error from server \(BadRequest\)/m);
    expect(unknownTop.stderr).toContain('unknown field "datta"');
    const unknownNested = await kr(["apply", "-f", "-"], {
      input: deploymentWith("        imagePullPolicyy: Always\n"),
    });
    expect(unknownNested.code).toBe(1);
    expect(unknownNested.stderr).toContain(
      'unknown field "spec.template.spec.containers[0].imagePullPolicyy"',
    );
    expect((await kr(["get", "configmap", "typo", "-n", errNs])).code).toBe(1);
    expect((await kr(["get", "deployment", "bad", "-n", errNs])).code).toBe(1);
  });

  it("--validate=false (fieldValidation=Ignore) drops an unknown field", async () => {
    await apply(namespaceDoc(errNs));
    expect(
      await k(["apply", "--validate=false", "-f", "-"], {
        input: deploymentWith("        imagePullPolicyy: Always\n"),
      }),
    ).toBe("deployment.apps/bad created\n");
    const created = await json(["get", "deployment", "bad", "-n", errNs]);
    expect(created.spec.template.spec.containers[0].imagePullPolicyy).toBeUndefined();
    await k(["delete", "deployment", "bad", "-n", errNs]);
  });

  it("a Deployment whose selector does not match its template labels is refused", async () => {
    await apply(namespaceDoc(errNs));
    await kr(["delete", "deployment", "bad", "-n", errNs, "--ignore-not-found"]);
    const mismatch = await kr(["apply", "-f", "-"], { input: deploymentWith("", "b") });
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain('The Deployment "bad" is invalid');
    expect(mismatch.stderr).toContain("spec.template.metadata.labels: Invalid value");
    expect(mismatch.stderr).toMatch(/`?selector`? does not match template `?labels`?/);
    expect((await kr(["get", "deployment", "bad", "-n", errNs])).code).toBe(1);
  });

  if (!full) return;

  it("delete --cascade: background and foreground remove the dependent, orphan keeps it", async () => {
    const ns = `gc-${v}`;
    await apply(namespaceDoc(ns));
    const pair = async (owner: string) => {
      await apply(configMapDoc(ns, owner, { role: "owner" }));
      const uid = await k(["get", "configmap", owner, "-n", ns, "-o", "jsonpath={.metadata.uid}"]);
      await k(["create", "-f", "-"], {
        input: `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${owner}-dependent
  namespace: ${ns}
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: ${owner}
    uid: ${uid}
    blockOwnerDeletion: true
data:
  role: dependent
`,
      });
    };
    const exists = async (name: string) =>
      (await kr(["get", "configmap", name, "-n", ns, "-o", "name"])).code === 0;
    await pair("bg");
    await pair("fg");
    await pair("orphan");

    expect(
      await k(["delete", "configmap", "bg", "-n", ns, "--cascade=background", "--timeout=60s"]),
    ).toBe('configmap "bg" deleted\n');
    expect(await exists("bg")).toBe(false);
    await eventually(async () => !(await exists("bg-dependent")));

    // Foreground: the owner goes only once its dependents are gone; kubectl waits for it.
    expect(
      await k(["delete", "configmap", "fg", "-n", ns, "--cascade=foreground", "--timeout=60s"]),
    ).toBe('configmap "fg" deleted\n');
    expect(await exists("fg")).toBe(false);
    expect(await exists("fg-dependent")).toBe(false);

    expect(
      await k(["delete", "configmap", "orphan", "-n", ns, "--cascade=orphan", "--timeout=60s"]),
    ).toBe('configmap "orphan" deleted\n');
    await eventually(async () => !(await exists("orphan")));
    const dependent = await eventually(async () => {
      const d = await json(["get", "configmap", "orphan-dependent", "-n", ns]);
      return (d.metadata.ownerReferences ?? []).length === 0 && d;
    });
    expect(dependent.data).toEqual({ role: "dependent" });
    // It stays.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await exists("orphan-dependent")).toBe(true);
  });

  it("wait --for=delete returns once the object is gone", async () => {
    const ns = `misc-${v}`;
    await apply([namespaceDoc(ns), configMapDoc(ns, "awaited", { a: "1" })].join("---\n"));
    const waiting = cluster.kubectlBackground(
      ["wait", "--for=delete", "configmap/awaited", "-n", ns, "--timeout=60s"],
      opts(),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(waiting.stdout).toBe("");
    await k(["delete", "configmap", "awaited", "-n", ns, "--wait=false"]);
    const done = await waiting.exited;
    expect(done.stderr).toBe("");
    expect(done.code).toBe(0);
    expect(done.stdout).toBe("configmap/awaited condition met\n");
  });

  it("a Secret's stringData is stored as base64 data", async () => {
    const ns = `misc-${v}`;
    await apply(namespaceDoc(ns));
    await k(["create", "-f", "-"], {
      input: `apiVersion: v1
kind: Secret
metadata:
  name: strings
  namespace: ${ns}
stringData:
  password: s3cret
`,
    });
    const secret = await json(["get", "secret", "strings", "-n", ns]);
    expect(secret.type).toBe("Opaque");
    expect(secret.data).toEqual({ password: Buffer.from("s3cret").toString("base64") });
    expect(secret.stringData).toBeUndefined();
  });

  it("create <kind> subcommands (protobuf request bodies) make the objects", async () => {
    const ns = `made-${v}`;
    expect(await k(["create", "namespace", ns])).toBe(`namespace/${ns} created\n`);
    await k(["create", "configmap", "cfg", "-n", ns, "--from-literal=greeting=hi"]);
    await k(["create", "secret", "generic", "pw", "-n", ns, "--from-literal=password=s3cret"]);
    await k([
      "create",
      "deployment",
      "web",
      "-n",
      ns,
      "--image=registry.local/web:1",
      "--replicas=2",
      "--port=8080",
    ]);
    await k(["create", "service", "clusterip", "web", "-n", ns, "--tcp=80:8080"]);
    await k([
      "create",
      "job",
      "once",
      "-n",
      ns,
      "--image=registry.local/job:1",
      "--",
      "echo",
      "hi",
    ]);
    await k([
      "create",
      "cronjob",
      "tick",
      "-n",
      ns,
      "--image=registry.local/job:1",
      "--schedule=*/5 * * * *",
    ]);
    await k(["create", "serviceaccount", "bot", "-n", ns]);
    expect((await json(["get", "configmap", "cfg", "-n", ns])).data).toEqual({ greeting: "hi" });
    expect((await json(["get", "secret", "pw", "-n", ns])).data).toEqual({
      password: Buffer.from("s3cret").toString("base64"),
    });
    const deploy = await json(["get", "deployment", "web", "-n", ns]);
    expect(deploy.spec.replicas).toBe(2);
    expect(deploy.spec.template.spec.containers[0]).toMatchObject({
      name: "web",
      image: "registry.local/web:1",
      ports: [{ containerPort: 8080, protocol: "TCP" }],
    });
    const svc = await json(["get", "service", "web", "-n", ns]);
    expect(svc.spec.ports[0]).toMatchObject({ port: 80, targetPort: 8080 });
    expect(svc.spec.clusterIP).toMatch(/^10\.43\./);
    expect(
      (await json(["get", "job", "once", "-n", ns])).spec.template.spec.containers[0].command,
    ).toEqual(["echo", "hi"]);
    expect((await json(["get", "cronjob", "tick", "-n", ns])).spec.schedule).toBe("*/5 * * * *");
    expect((await json(["get", "serviceaccount", "bot", "-n", ns])).metadata.name).toBe("bot");
  });

  it("create -f refuses an existing object with AlreadyExists", async () => {
    const ns = `misc-${v}`;
    await apply(namespaceDoc(ns));
    const doc = configMapDoc(ns, "twice", { a: "1" });
    expect(await k(["create", "-f", "-"], { input: doc })).toBe("configmap/twice created\n");
    const again = await kr(["create", "-f", "-"], { input: doc });
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      'Error from server (AlreadyExists): error when creating "STDIN": configmaps "twice" already exists\n',
    );
  });
}

describe("kubectl 1.32", () => {
  kubectlSuite("1.32", true);
});

describe("kubectl 1.29", () => {
  kubectlSuite("1.29", false);
});
