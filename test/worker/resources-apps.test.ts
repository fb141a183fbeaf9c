import { describe, expect, it } from "vitest";
import { call } from "./helpers.ts";

/** Controllers write these objects too: writes here name no resourceVersion (never stale). */
const putUnpinned = (path: string, body: any) =>
  call("PUT", path, { ...body, metadata: { ...body.metadata, resourceVersion: undefined } });

const NS = "/namespaces/default";
const DEPLOY = `/apis/apps/v1${NS}/deployments`;
const RS = `/apis/apps/v1${NS}/replicasets`;
const STS = `/apis/apps/v1${NS}/statefulsets`;
const DS = `/apis/apps/v1${NS}/daemonsets`;
const JOBS = `/apis/batch/v1${NS}/jobs`;
const CRON = `/apis/batch/v1${NS}/cronjobs`;
const LEASES = `/apis/coordination.k8s.io/v1${NS}/leases`;
const SLICES = `/apis/discovery.k8s.io/v1${NS}/endpointslices`;
const INGRESSES = `/apis/networking.k8s.io/v1${NS}/ingresses`;
const TABLE = { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" };

const template = (labels: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  metadata: { labels },
  spec: { containers: [{ name: "c", image: "nginx:1.25" }], ...extra },
});

const deployment = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name },
  spec: { selector: { matchLabels: { app: name } }, template: template({ app: name }), ...spec },
});

type Obj = any;

const table = async (path: string) => {
  const r = await call("GET", path, undefined, TABLE);
  expect(r.status).toBe(200);
  return r.body as {
    columnDefinitions: { name: string; type: string; priority: number }[];
    rows: { cells: unknown[] }[];
  };
};
const columns = (t: { columnDefinitions: { name: string; priority: number }[] }) =>
  t.columnDefinitions.map((c) => (c.priority ? `${c.name}*` : c.name));

describe("Deployment", () => {
  it("gets Kubernetes' defaults and generation 1", async () => {
    const r = await call("POST", DEPLOY, deployment("web"));
    expect(r.status).toBe(201);
    expect(r.body.metadata.generation).toBe(1);
    expect(r.body.spec).toMatchObject({
      replicas: 1,
      strategy: {
        type: "RollingUpdate",
        rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" },
      },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    });
    expect(r.body.spec.template.spec.restartPolicy).toBe("Always");
    expect(r.body.status).toBeUndefined();
  });

  it("refuses a selector that does not match the template, storing nothing", async () => {
    const body = deployment("mismatch");
    body.spec.template.metadata.labels = { app: "other" };
    const r = await call("POST", DEPLOY, body);
    expect(r.status).toBe(422);
    expect(r.body.reason).toBe("Invalid");
    expect(r.body.message).toBe(
      'Deployment.apps "mismatch" is invalid: spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match template `labels`',
    );
    expect(r.body.details.causes[0]).toMatchObject({
      reason: "FieldValueInvalid",
      field: "spec.template.metadata.labels",
    });
    expect((await call("GET", `${DEPLOY}/mismatch`)).status).toBe(404);
  });

  it("refuses a missing or empty selector, negative replicas and a rollout that cannot move", async () => {
    const noSelector = deployment("nosel");
    delete (noSelector.spec as Obj).selector;
    const a = await call("POST", DEPLOY, noSelector);
    expect(a.status).toBe(422);
    expect(a.body.message).toContain("spec.selector: Required value");
    const empty = await call("POST", DEPLOY, deployment("emptysel", { selector: {} }));
    expect(empty.body.message).toContain(
      "spec.selector: Invalid value: {}: empty selector is invalid for deployment",
    );
    const stuck = await call(
      "POST",
      DEPLOY,
      deployment("stuck", {
        replicas: -1,
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "0%" } },
      }),
    );
    expect(stuck.status).toBe(422);
    expect(stuck.body.message).toBe(
      'Deployment.apps "stuck" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0]',
    );
    const pct = await call(
      "POST",
      DEPLOY,
      deployment("pct", {
        strategy: { rollingUpdate: { maxSurge: "x%", maxUnavailable: "150%" } },
      }),
    );
    expect(pct.body.message).toContain(
      `spec.strategy.rollingUpdate.maxSurge: Invalid value: "x%": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')`,
    );
    expect(pct.body.message).toContain(
      'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "150%": must not be greater than 100%',
    );
  });

  it("keeps the selector immutable", async () => {
    const created = await call("POST", DEPLOY, deployment("immut"));
    const next = structuredClone(created.body);
    next.spec.selector = { matchLabels: { app: "moved" } };
    next.spec.template.metadata.labels = { app: "moved" };
    const r = await putUnpinned(`${DEPLOY}/immut`, next);
    expect(r.status).toBe(422);
    expect(r.body.message).toBe(
      'Deployment.apps "immut" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"moved"}}: field is immutable',
    );
  });

  it("bumps generation on spec changes only, never on status writes", async () => {
    // The Deployment controller writes status meanwhile: writes here name no resourceVersion.
    const unpinned = (o: any) => ({
      ...o,
      metadata: { ...o.metadata, resourceVersion: undefined },
    });
    const created = await call("POST", DEPLOY, deployment("gen"));
    const scaled = await putUnpinned(`${DEPLOY}/gen`, {
      ...unpinned(created.body),
      spec: { ...created.body.spec, replicas: 3 },
    });
    expect(scaled.status).toBe(200);
    expect(scaled.body.metadata.generation).toBe(2);
    const status = { replicas: 3, readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 };
    const st = await putUnpinned(`${DEPLOY}/gen/status`, {
      ...unpinned(scaled.body),
      spec: { ...scaled.body.spec, replicas: 9 },
      status,
    });
    expect(st.status).toBe(200);
    expect(st.body.metadata.generation).toBe(2);
    expect(st.body.spec.replicas).toBe(3);
    expect(st.body.status).toEqual(status);
    // A spec write keeps the status (whatever the controller last wrote), never the one sent.
    const relabel = await putUnpinned(`${DEPLOY}/gen`, {
      ...unpinned(st.body),
      metadata: { ...st.body.metadata, resourceVersion: undefined, labels: { tier: "web" } },
      status: {},
    });
    expect(relabel.body.metadata.generation).toBe(2);
    expect(relabel.body.status).not.toEqual({});
    const badStatus = await putUnpinned(`${DEPLOY}/gen/status`, {
      ...unpinned(relabel.body),
      status: { replicas: 1, readyReplicas: 2 },
    });
    expect(badStatus.status).toBe(422);
    expect(badStatus.body.message).toContain(
      "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas",
    );
  });

  it("prints kubectl's columns", async () => {
    await call("POST", DEPLOY, deployment("tbl"));
    const t = await table(`${DEPLOY}/tbl`);
    expect(columns(t)).toEqual([
      "Name",
      "Ready",
      "Up-to-date",
      "Available",
      "Age",
      "Containers*",
      "Images*",
      "Selector*",
    ]);
    expect(t.rows[0].cells).toEqual([
      "tbl",
      "0/1",
      0,
      0,
      expect.any(String),
      "c",
      "nginx:1.25",
      "app=tbl",
    ]);
  });
});

describe("ReplicaSet, StatefulSet, DaemonSet", () => {
  it("defaults and prints a ReplicaSet", async () => {
    const r = await call("POST", RS, { ...deployment("rs"), kind: "ReplicaSet" });
    expect(r.status).toBe(201);
    expect(r.body.spec.replicas).toBe(1);
    const t = await table(`${RS}/rs`);
    expect(columns(t)).toEqual([
      "Name",
      "Desired",
      "Current",
      "Ready",
      "Age",
      "Containers*",
      "Images*",
      "Selector*",
    ]);
    expect(t.rows[0].cells).toEqual([
      "rs",
      1,
      0,
      0,
      expect.any(String),
      "c",
      "nginx:1.25",
      "app=rs",
    ]);
  });

  it("defaults a StatefulSet and lets an update change only what Kubernetes allows", async () => {
    const r = await call("POST", STS, {
      ...deployment("db"),
      kind: "StatefulSet",
      spec: {
        ...deployment("db").spec,
        serviceName: "db",
        volumeClaimTemplates: [
          {
            metadata: { name: "data" },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
          },
        ],
      },
    });
    expect(r.status).toBe(201);
    expect(r.body.spec).toMatchObject({
      replicas: 1,
      podManagementPolicy: "OrderedReady",
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
      revisionHistoryLimit: 10,
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
    });
    expect(r.body.spec.volumeClaimTemplates[0]).toMatchObject({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      spec: { volumeMode: "Filesystem" },
      status: { phase: "Pending" },
    });
    const scaled = await putUnpinned(`${STS}/db`, {
      ...r.body,
      spec: { ...r.body.spec, replicas: 3, minReadySeconds: 5 },
    });
    expect(scaled.status).toBe(200);
    expect(scaled.body.metadata.generation).toBe(2);
    const renamed = await putUnpinned(`${STS}/db`, {
      ...scaled.body,
      spec: { ...scaled.body.spec, serviceName: "other" },
    });
    expect(renamed.status).toBe(422);
    expect(renamed.body.message).toBe(
      "StatefulSet.apps \"db\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    );
    const t = await table(`${STS}/db`);
    expect(columns(t)).toEqual(["Name", "Ready", "Age", "Containers*", "Images*"]);
    expect(t.rows[0].cells).toEqual(["db", "0/3", expect.any(String), "c", "nginx:1.25"]);
  });

  it("refuses a StatefulSet name that is not a DNS label and a pod that may stop", async () => {
    const body = { ...deployment("db.x"), kind: "StatefulSet" };
    body.spec.template = template({ app: "db.x" }, { restartPolicy: "Never" });
    const r = await call("POST", STS, body);
    expect(r.status).toBe(422);
    expect(r.body.message).toContain('metadata.name: Invalid value: "db.x"');
    expect(r.body.message).toContain(
      'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    );
  });

  it("defaults a DaemonSet and counts template generations", async () => {
    const body = { ...deployment("agent"), kind: "DaemonSet" };
    body.spec.template = template(
      { app: "agent" },
      { nodeSelector: { role: "edge", os: "linux" } },
    );
    const r = await call("POST", DS, body);
    expect(r.status).toBe(201);
    expect(r.body.spec.updateStrategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
    });
    expect(r.body.spec.revisionHistoryLimit).toBe(10);
    expect(r.body.metadata.annotations["deprecated.daemonset.template.generation"]).toBe("1");
    const next = structuredClone(r.body);
    next.spec.template.spec.containers[0].image = "nginx:1.26";
    const updated = await putUnpinned(`${DS}/agent`, next);
    expect(updated.body.metadata.annotations["deprecated.daemonset.template.generation"]).toBe("2");
    expect(updated.body.metadata.generation).toBe(2);
    const both = structuredClone(updated.body);
    both.spec.updateStrategy.rollingUpdate = { maxUnavailable: 1, maxSurge: 1 };
    const bad = await putUnpinned(`${DS}/agent`, both);
    expect(bad.body.message).toContain(
      "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero",
    );
    const t = await table(`${DS}/agent`);
    expect(columns(t)).toEqual([
      "Name",
      "Desired",
      "Current",
      "Ready",
      "Up-to-date",
      "Available",
      "Node Selector",
      "Age",
      "Containers*",
      "Images*",
      "Selector*",
    ]);
    expect(t.rows[0].cells).toEqual([
      "agent",
      0,
      0,
      0,
      0,
      0,
      "os=linux,role=edge",
      expect.any(String),
      "c",
      "nginx:1.26",
      "app=agent",
    ]);
  });
});

describe("Job", () => {
  const job = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name },
    spec: { template: template({ app: name }, { restartPolicy: "Never" }), ...spec },
  });

  it("gets a generated selector, the controller labels and the defaults", async () => {
    const r = await call("POST", JOBS, job("pi"));
    expect(r.status).toBe(201);
    const uid = r.body.metadata.uid;
    expect(r.body.spec.selector).toEqual({
      matchLabels: { "batch.kubernetes.io/controller-uid": uid },
    });
    expect(r.body.spec.template.metadata.labels).toEqual({
      app: "pi",
      "batch.kubernetes.io/controller-uid": uid,
      "batch.kubernetes.io/job-name": "pi",
      "controller-uid": uid,
      "job-name": "pi",
    });
    expect(r.body.metadata.labels).toEqual({ app: "pi" });
    expect(r.body.spec).toMatchObject({
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      completionMode: "NonIndexed",
      suspend: false,
      manualSelector: false,
      podReplacementPolicy: "TerminatingOrFailed",
    });
    expect(r.body.metadata.generation).toBe(1);
    const t = await table(`${JOBS}/pi`);
    expect(columns(t)).toEqual([
      "Name",
      "Status",
      "Completions",
      "Duration",
      "Age",
      "Containers*",
      "Images*",
      "Selector*",
    ]);
    expect(t.rows[0].cells).toEqual([
      "pi",
      "Running",
      "0/1",
      "",
      expect.any(String),
      "c",
      "nginx:1.25",
      `batch.kubernetes.io/controller-uid=${uid}`,
    ]);
  });

  it("wants restartPolicy OnFailure or Never", async () => {
    const body = job("always");
    delete (body.spec.template.spec as Obj).restartPolicy;
    const r = await call("POST", JOBS, body);
    expect(r.status).toBe(422);
    expect(r.body.message).toBe(
      'Job.batch "always" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    );
  });

  it("refuses a hand-written selector unless manualSelector is set", async () => {
    const r = await call(
      "POST",
      JOBS,
      job("manual", { selector: { matchLabels: { app: "manual" } } }),
    );
    expect(r.status).toBe(422);
    expect(r.body.message).toContain("`selector` not auto-generated");
    const ok = await call(
      "POST",
      JOBS,
      job("manual", { manualSelector: true, selector: { matchLabels: { app: "manual" } } }),
    );
    expect(ok.status).toBe(201);
    expect(ok.body.spec.template.metadata.labels).toEqual({ app: "manual" });
  });

  it("keeps the template immutable, except scheduling hints of a suspended Job", async () => {
    const running = await call("POST", JOBS, job("run"));
    const changed = structuredClone(running.body);
    changed.spec.template.spec.containers[0].image = "busybox";
    const r = await putUnpinned(`${JOBS}/run`, changed);
    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(
      /^Job.batch "run" is invalid: spec.template: Invalid value: \{.*\}: field is immutable$/,
    );
    const hinted = structuredClone(running.body);
    hinted.spec.template.spec.nodeSelector = { zone: "a" };
    expect((await putUnpinned(`${JOBS}/run`, hinted)).status).toBe(422);

    const suspended = await call("POST", JOBS, job("later", { suspend: true }));
    const moved = structuredClone(suspended.body);
    moved.spec.template.spec.nodeSelector = { zone: "a" };
    const ok = await putUnpinned(`${JOBS}/later`, moved);
    expect(ok.status).toBe(200);
    expect(ok.body.metadata.generation).toBe(2);
    const resumed = await putUnpinned(`${JOBS}/later`, {
      ...ok.body,
      spec: { ...ok.body.spec, suspend: false },
    });
    expect(resumed.status).toBe(200);
  });
});

describe("CronJob", () => {
  const cron = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name },
    spec: {
      schedule: "*/5 * * * *",
      jobTemplate: { spec: { template: template({ app: name }, { restartPolicy: "OnFailure" }) } },
      ...spec,
    },
  });

  it("gets defaults and prints its schedule", async () => {
    const r = await call("POST", CRON, cron("tick", { timeZone: "Europe/Berlin" }));
    expect(r.status).toBe(201);
    expect(r.body.spec).toMatchObject({
      concurrencyPolicy: "Allow",
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
    });
    expect(r.body.spec.jobTemplate.spec.backoffLimit).toBeUndefined();
    const t = await table(`${CRON}/tick`);
    expect(columns(t)).toEqual([
      "Name",
      "Schedule",
      "Timezone",
      "Suspend",
      "Active",
      "Last Schedule",
      "Age",
      "Containers*",
      "Images*",
      "Selector*",
    ]);
    expect(t.rows[0].cells).toEqual([
      "tick",
      "*/5 * * * *",
      "Europe/Berlin",
      "False",
      0,
      "<none>",
      expect.any(String),
      "c",
      "nginx:1.25",
      "<none>",
    ]);
  });

  it("refuses a bad schedule, a TZ= prefix and an unknown time zone", async () => {
    const bad = await call("POST", CRON, cron("bad", { schedule: "61 * * * *" }));
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe(
      'CronJob.batch "bad" is invalid: spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61',
    );
    expect((await call("GET", `${CRON}/bad`)).status).toBe(404);
    const fields = await call("POST", CRON, cron("fields", { schedule: "* * *" }));
    expect(fields.body.message).toContain("expected exactly 5 fields, found 3: [* * *]");
    const tz = await call("POST", CRON, cron("tz", { schedule: "TZ=UTC 0 * * * *" }));
    expect(tz.body.message).toContain(
      "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
    );
    const zone = await call("POST", CRON, cron("zone", { timeZone: "Mars/Olympus" }));
    expect(zone.body.message).toBe(
      'CronJob.batch "zone" is invalid: spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus',
    );
    const sel = await call(
      "POST",
      CRON,
      cron("sel", {
        jobTemplate: {
          spec: {
            selector: { matchLabels: { a: "b" } },
            template: template({ a: "b" }, { restartPolicy: "Never" }),
          },
        },
      }),
    );
    expect(sel.body.message).toContain("`selector` will be auto-generated");
  });

  it("accepts descriptors and @every, and limits names to 52 characters", async () => {
    expect((await call("POST", CRON, cron("hourly", { schedule: "@hourly" }))).status).toBe(201);
    expect((await call("POST", CRON, cron("every", { schedule: "@every 90s" }))).status).toBe(201);
    const long = "x".repeat(53);
    const r = await call("POST", CRON, cron(long));
    expect(r.body.message).toContain(
      `metadata.name: Invalid value: "${long}": must be no more than 52 characters`,
    );
  });
});

describe("Lease, EndpointSlice, Ingress", () => {
  it("prints a Lease's holder and gives it no generation", async () => {
    const r = await call("POST", LEASES, {
      metadata: { name: "leader" },
      spec: { holderIdentity: "node-a", leaseDurationSeconds: 15 },
    });
    expect(r.status).toBe(201);
    expect(r.body.metadata.generation).toBeUndefined();
    const t = await table(`${LEASES}/leader`);
    expect(columns(t)).toEqual(["Name", "Holder", "Age"]);
    expect(t.rows[0].cells.slice(0, 2)).toEqual(["leader", "node-a"]);
    const bad = await call("POST", LEASES, {
      metadata: { name: "zero" },
      spec: { leaseDurationSeconds: 0 },
    });
    expect(bad.body.message).toContain(
      "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
    );
  });

  it("requires an EndpointSlice's addressType and keeps it", async () => {
    const missing = await call("POST", SLICES, { metadata: { name: "none" }, endpoints: [] });
    expect(missing.status).toBe(422);
    expect(missing.body.message).toBe(
      'EndpointSlice.discovery.k8s.io "none" is invalid: addressType: Required value',
    );
    const r = await call("POST", SLICES, {
      metadata: { name: "web-abc", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.42.0.5"] }, { addresses: ["10.42.1.7"] }],
      ports: [{ port: 8080 }],
    });
    expect(r.status).toBe(201);
    expect(r.body.metadata.generation).toBe(1);
    expect(r.body.ports).toEqual([{ port: 8080, name: "", protocol: "TCP" }]);
    const changed = await putUnpinned(`${SLICES}/web-abc`, {
      ...r.body,
      addressType: "IPv6",
      endpoints: [],
    });
    expect(changed.status).toBe(422);
    expect(changed.body.message).toContain(
      'addressType: Invalid value: "IPv6": field is immutable',
    );
    const moved = await putUnpinned(`${SLICES}/web-abc`, {
      ...r.body,
      endpoints: [{ addresses: ["10.42.0.6"] }],
    });
    expect(moved.body.metadata.generation).toBe(2);
    const loop = await call("POST", SLICES, {
      metadata: { name: "loop" },
      addressType: "IPv4",
      endpoints: [{ addresses: ["127.0.0.1", "300.1.1.1"] }],
    });
    expect(loop.body.message).toContain(
      'endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
    );
    expect(loop.body.message).toContain(
      'endpoints[0].addresses[1]: Invalid value: "300.1.1.1": must be a valid IPv4 address',
    );
    const t = await table(`${SLICES}/web-abc`);
    expect(columns(t)).toEqual(["Name", "AddressType", "Ports", "Endpoints", "Age"]);
    expect(t.rows[0].cells.slice(0, 4)).toEqual(["web-abc", "IPv4", "8080", "10.42.0.6"]);
  });

  it("requires a pathType on every Ingress path and prints hosts and ports", async () => {
    const rule = (pathType?: string) => ({
      host: "shop.example.com",
      http: {
        paths: [
          { path: "/", pathType, backend: { service: { name: "web", port: { number: 80 } } } },
        ],
      },
    });
    const bad = await call("POST", INGRESSES, {
      metadata: { name: "nopt" },
      spec: { rules: [rule()] },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe(
      'Ingress.networking.k8s.io "nopt" is invalid: spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified',
    );
    const r = await call("POST", INGRESSES, {
      metadata: { name: "shop" },
      spec: {
        ingressClassName: "edge",
        rules: [rule("Prefix")],
        tls: [{ hosts: ["shop.example.com"] }],
      },
    });
    expect(r.status).toBe(201);
    const t = await table(`${INGRESSES}/shop`);
    expect(columns(t)).toEqual(["Name", "Class", "Hosts", "Address", "Ports", "Age"]);
    expect(t.rows[0].cells.slice(0, 5)).toEqual([
      "shop",
      "edge",
      "shop.example.com",
      "",
      "80, 443",
    ]);
    const empty = await call("POST", INGRESSES, { metadata: { name: "empty" }, spec: {} });
    expect(empty.body.message).toContain(
      "spec: Invalid value: null: either `defaultBackend` or `rules` must be specified",
    );
  });
});
