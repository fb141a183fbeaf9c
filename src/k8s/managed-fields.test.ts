import { describe, expect, it } from "vitest";
import schemaJson from "../resources/schema.gen.json" with { type: "json" };
import {
  FieldSet,
  type ManagedFieldsEntry,
  pathString,
  Typer,
  toFieldSet,
  updateManagedFields,
} from "./managed-fields.ts";
import { createSchemaLookup, type Prop, type SchemaJson } from "./schema.ts";

const S: Prop = { type: "string" };
const N: Prop = { type: "number" };
const ref = (d: string): Prop => ({ ref: d });
const arr = (items: Prop): Prop => ({ type: "array", items });
const map = (v: Prop): Prop => ({ type: "object", additionalProperties: v });
const core = "io.k8s.api.core.v1.";
const meta = "io.k8s.apimachinery.pkg.apis.meta.v1.";
const DEPLOY = "io.k8s.api.apps.v1.Deployment";

const fixture: SchemaJson = {
  kinds: { "apps/v1/Deployment": DEPLOY },
  definitions: {
    [DEPLOY]: {
      properties: {
        apiVersion: S,
        kind: S,
        metadata: ref(`${meta}ObjectMeta`),
        spec: ref("io.k8s.api.apps.v1.DeploymentSpec"),
        status: ref("io.k8s.api.apps.v1.DeploymentStatus"),
      },
    },
    "io.k8s.api.apps.v1.DeploymentSpec": {
      properties: {
        replicas: N,
        selector: ref(`${meta}LabelSelector`),
        template: ref(`${core}PodTemplateSpec`),
      },
      required: ["selector", "template"],
    },
    "io.k8s.api.apps.v1.DeploymentStatus": { properties: { replicas: N } },
    [`${meta}LabelSelector`]: { properties: { matchLabels: map(S) } },
    [`${core}PodTemplateSpec`]: {
      properties: { metadata: ref(`${meta}ObjectMeta`), spec: ref(`${core}PodSpec`) },
    },
    [`${core}PodSpec`]: {
      properties: { containers: arr(ref(`${core}Container`)) },
      required: ["containers"],
    },
    [`${core}Container`]: {
      properties: {
        name: S,
        image: S,
        args: arr(S),
        ports: arr(ref(`${core}ContainerPort`)),
        env: arr(ref(`${core}EnvVar`)),
      },
      required: ["name"],
    },
    [`${core}ContainerPort`]: { properties: { containerPort: N, protocol: S } },
    [`${core}EnvVar`]: { properties: { name: S, value: S } },
    [`${meta}ObjectMeta`]: {
      properties: {
        name: S,
        namespace: S,
        uid: S,
        resourceVersion: S,
        generation: N,
        creationTimestamp: S,
        labels: map(S),
        annotations: map(S),
        finalizers: arr(S),
        managedFields: arr({ type: "any" }),
      },
    },
  },
};
const lookup = createSchemaLookup(fixture);
const T0 = new Date("2024-05-01T10:00:00.123Z");
const T1 = new Date("2024-05-01T11:00:00Z");

const deployment = (replicas: number, image = "nginx:1") => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: {
    name: "web",
    namespace: "default",
    uid: "u-1",
    resourceVersion: "7",
    generation: 1,
    creationTimestamp: "2024-05-01T10:00:00Z",
    labels: { app: "web" },
  },
  spec: {
    replicas,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "nginx", image, ports: [{ containerPort: 80 }] }] },
    },
  },
  status: {},
});
const withManaged = <T extends { metadata: object }>(
  o: T,
  managedFields: ManagedFieldsEntry[],
) => ({
  ...o,
  metadata: { ...o.metadata, managedFields },
});
const update = (old: unknown, next: unknown, manager: string, now = T1, sub?: string) =>
  updateManagedFields(old, next, manager, "Update", lookup, DEPLOY, now, { subresource: sub });

describe("FieldSet", () => {
  const fieldsV1 = {
    "f:metadata": { "f:labels": { ".": {}, "f:app": {} } },
    "f:spec": {
      "f:replicas": {},
      "f:template": {
        "f:spec": {
          "f:containers": {
            'k:{"name":"nginx"}': {
              ".": {},
              "f:image": {},
              "f:ports": {
                'k:{"containerPort":80,"protocol":"TCP"}': { ".": {}, "f:containerPort": {} },
              },
            },
          },
          "f:finalizers": { 'v:"a"': {}, 'v:"b"': {} },
        },
      },
    },
  };

  it("reads and writes fieldsV1 as Kubernetes does", () => {
    const set = FieldSet.fromFieldsV1(fieldsV1);
    expect(JSON.stringify(set.toFieldsV1())).toBe(JSON.stringify(fieldsV1));
    expect(set.paths().map(pathString)).toContain(
      '.spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"].containerPort',
    );
  });

  it("computes union, difference and intersection by exact path", () => {
    const a = FieldSet.fromFieldsV1({ "f:spec": { "f:replicas": {}, "f:paused": {} } });
    const b = FieldSet.fromFieldsV1({ "f:spec": { "f:replicas": {} }, "f:metadata": {} });
    expect(a.difference(b).toFieldsV1()).toEqual({ "f:spec": { "f:paused": {} } });
    expect(a.intersection(b).toFieldsV1()).toEqual({ "f:spec": { "f:replicas": {} } });
    expect(a.union(b).toFieldsV1()).toEqual({
      "f:metadata": {},
      "f:spec": { "f:paused": {}, "f:replicas": {} },
    });
  });

  it("owns items of associative lists by key and keeps atomic values whole", () => {
    const { set } = toFieldSet(new Typer(lookup), deployment(1), { kind: "struct", def: DEPLOY });
    const fields = set.toFieldsV1() as Record<string, Record<string, unknown>>;
    expect(fields["f:spec"]["f:selector"]).toEqual({});
    expect(fields["f:status"]).toEqual({});
  });
});

describe("updateManagedFields", () => {
  it("gives the creator every field it set, minus server-owned metadata and status", () => {
    const mf = update(undefined, deployment(3), "kubectl-create", T0);
    expect(mf).toEqual([
      {
        manager: "kubectl-create",
        operation: "Update",
        apiVersion: "apps/v1",
        time: "2024-05-01T10:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:metadata": { "f:labels": { ".": {}, "f:app": {} } },
          "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
              "f:metadata": { "f:labels": { ".": {}, "f:app": {} } },
              "f:spec": {
                "f:containers": {
                  'k:{"name":"nginx"}': {
                    ".": {},
                    "f:image": {},
                    "f:name": {},
                    "f:ports": {
                      ".": {},
                      'k:{"containerPort":80,"protocol":"TCP"}': { ".": {}, "f:containerPort": {} },
                    },
                  },
                },
              },
            },
          },
        },
      },
    ]);
    expect(Object.keys(mf[0])).toEqual([
      "manager",
      "operation",
      "apiVersion",
      "time",
      "fieldsType",
      "fieldsV1",
    ]);
  });

  it("moves ownership of a changed field to the writer that changed it", () => {
    const v1 = withManaged(deployment(3), update(undefined, deployment(3), "kubectl-create", T0));
    const mf = update(v1, deployment(5), "kubectl-scale");
    const byName = Object.fromEntries(mf.map((e) => [e.manager, e]));
    expect(byName["kubectl-scale"]).toMatchObject({
      time: "2024-05-01T11:00:00Z",
      fieldsV1: { "f:spec": { "f:replicas": {} } },
    });
    expect(byName["kubectl-create"].time).toBe("2024-05-01T10:00:00Z");
    expect(Object.keys(byName["kubectl-create"].fieldsV1["f:spec"] as object)).toEqual([
      "f:selector",
      "f:template",
    ]);
    expect(mf.map((e) => e.manager)).toEqual(["kubectl-create", "kubectl-scale"]);
  });

  it("leaves managedFields alone when nothing changes", () => {
    const mf = update(undefined, deployment(3), "kubectl-create", T0);
    const v1 = withManaged(deployment(3), mf);
    expect(update(v1, withManaged(deployment(3), mf), "kubectl-edit")).toEqual(mf);
  });

  it("does not start tracking objects that have none, and honours a reset", () => {
    expect(update(deployment(3), deployment(4), "kubectl-edit")).toEqual([]);
    const mf = update(undefined, deployment(3), "kubectl-create", T0);
    const v1 = withManaged(deployment(3), mf);
    expect(update(v1, withManaged(deployment(4), [{} as ManagedFieldsEntry]), "x")).toEqual([]);
  });

  it("keeps status and spec writers apart", () => {
    const mf = update(undefined, deployment(3), "kubectl-create", T0);
    const v1 = withManaged(deployment(3), mf);
    const next = { ...v1, status: { replicas: 3 } };
    const out = update(v1, next, "kube-controller-manager", T1, "status");
    expect(out.find((e) => e.manager === "kube-controller-manager")).toEqual({
      manager: "kube-controller-manager",
      operation: "Update",
      apiVersion: "apps/v1",
      time: "2024-05-01T11:00:00Z",
      fieldsType: "FieldsV1",
      fieldsV1: { "f:status": { "f:replicas": {} } },
      subresource: "status",
    });
  });

  it("folds the oldest of more than ten update managers into ancient-changes", () => {
    let obj: ReturnType<typeof withManaged<ReturnType<typeof deployment>>> = withManaged(
      deployment(0),
      update(undefined, deployment(0), "creator", T0),
    );
    for (let i = 1; i <= 11; i++) {
      const next = structuredClone(obj);
      (next.metadata.labels as Record<string, string>)[`l${i}`] = "x";
      const mf = update(obj, next, `labeler-${i}`, new Date(T0.getTime() + i * 1000));
      obj = withManaged(next, mf);
    }
    const mf = obj.metadata.managedFields;
    expect(mf.map((e) => e.manager)).toEqual([
      "ancient-changes",
      ...Array.from({ length: 9 }, (_, i) => `labeler-${i + 3}`),
    ]);
    // the creator and the two oldest labelers, merged
    expect(mf[0].fieldsV1["f:metadata"]).toEqual({
      "f:labels": { ".": {}, "f:app": {}, "f:l1": {}, "f:l2": {} },
    });
    expect(mf[0].time).toBe("2024-05-01T10:00:02Z");
  });

  it("tracks fields with the generated Kubernetes schema", () => {
    const real = createSchemaLookup(schemaJson as SchemaJson);
    const mf = updateManagedFields(
      undefined,
      deployment(2),
      "kubectl-create",
      "Update",
      real,
      DEPLOY,
      T0,
    );
    const spec = mf[0].fieldsV1["f:spec"] as Record<string, Record<string, unknown>>;
    expect(spec["f:selector"]).toEqual({});
    expect(Object.keys(spec["f:template"]["f:spec"] as object)).toEqual(["f:containers"]);
  });
});
