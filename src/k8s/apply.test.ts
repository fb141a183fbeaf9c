import { describe, expect, it } from "vitest";
import schemaJson from "../resources/schema.gen.json" with { type: "json" };
import { ApplyConflictError, apply, LAST_APPLIED } from "./apply.ts";
import { type ManagedFieldsEntry, updateManagedFields } from "./managed-fields.ts";
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
    "io.k8s.api.apps.v1.DeploymentStatus": { properties: { replicas: N } },
    "io.k8s.api.apps.v1.DeploymentSpec": {
      properties: {
        replicas: N,
        selector: ref(`${meta}LabelSelector`),
        template: ref(`${core}PodTemplateSpec`),
      },
      required: ["selector", "template"],
    },
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
        labels: map(S),
        annotations: map(S),
        finalizers: arr(S),
        managedFields: arr({ type: "any" }),
      },
    },
  },
};
const lookup = createSchemaLookup(fixture);
const T0 = new Date("2024-05-01T10:00:00Z");
const T1 = new Date("2024-05-01T11:00:00Z");

interface Opts {
  replicas?: number;
  image?: string;
  labels?: Record<string, string>;
  env?: { name: string; value: string }[];
  annotations?: Record<string, string>;
}
/** A Deployment as a user writes it. */
const config = ({ replicas, image = "nginx:1", labels, env, annotations }: Opts = {}) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
  spec: {
    ...(replicas === undefined ? {} : { replicas }),
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "nginx", image, ...(env ? { env } : {}) }] },
    },
  },
});
type Obj = ReturnType<typeof apply>["object"];
const spec = (o: Obj) =>
  o.spec as {
    replicas?: number;
    template: { spec: { containers: { name: string; image?: string; env?: unknown[] }[] } };
  };
const labelsOf = (o: Obj) => (o.metadata as { labels?: Record<string, string> }).labels;
const entry = (o: Obj, manager: string) =>
  ((o.metadata as { managedFields: ManagedFieldsEntry[] }).managedFields ?? []).find(
    (e) => e.manager === manager,
  );
const ssa = (live: Obj | undefined, applied: unknown, manager: string, force = false, now = T1) =>
  apply(live, applied, manager, force, lookup, DEPLOY, now).object;
/** Stores an object the way the server does after apply: identity fields set. */
const stored = (o: Obj): Obj => ({
  ...o,
  metadata: { ...(o.metadata as object), uid: "u-1", resourceVersion: "2" },
});
const conflictOf = (fn: () => unknown): ApplyConflictError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApplyConflictError) return e;
    throw e;
  }
  throw new Error("expected a conflict");
};

describe("apply", () => {
  it("creates an object owned by the applier", () => {
    const { object, managedFields } = apply(
      undefined,
      config({ replicas: 2, labels: { tier: "web" } }),
      "deployer",
      false,
      lookup,
      DEPLOY,
      T0,
    );
    expect(spec(object).replicas).toBe(2);
    expect(managedFields).toEqual([
      {
        manager: "deployer",
        operation: "Apply",
        apiVersion: "apps/v1",
        time: "2024-05-01T10:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:metadata": { "f:labels": { "f:tier": {} } },
          "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
              "f:metadata": { "f:labels": { "f:app": {} } },
              "f:spec": {
                "f:containers": { 'k:{"name":"nginx"}': { ".": {}, "f:image": {}, "f:name": {} } },
              },
            },
          },
        },
      },
    ]);
    expect((object.metadata as { managedFields: unknown }).managedFields).toEqual(managedFields);
  });

  it("leaves object and timestamps alone when re-applying the same configuration", () => {
    const v1 = stored(ssa(undefined, config({ replicas: 2 }), "deployer", false, T0));
    const v2 = ssa(v1, config({ replicas: 2 }), "deployer", false, T1);
    expect(v2).toEqual(v1);
  });

  it("refuses to change a field another applier owns", () => {
    const v1 = stored(ssa(undefined, config({ replicas: 2 }), "alice", false, T0));
    const err = conflictOf(() => ssa(v1, config({ replicas: 3 }), "bob"));
    expect(err.code).toBe(409);
    expect(err.reason).toBe("Conflict");
    expect(err.message).toBe('Apply failed with 1 conflict: conflict with "alice": .spec.replicas');
    expect(err.conflicts).toEqual([{ manager: "alice", field: ".spec.replicas" }]);
    expect(err.toStatus().details?.causes).toEqual([
      { reason: "FieldManagerConflict", message: 'conflict with "alice"', field: ".spec.replicas" },
    ]);
  });

  it("lists every conflict, grouped by manager", () => {
    const v1 = stored(ssa(undefined, config({ replicas: 2 }), "alice", false, T0));
    const err = conflictOf(() => ssa(v1, config({ replicas: 3, image: "nginx:2" }), "bob"));
    expect(err.message).toBe(
      'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n' +
        '- .spec.template.spec.containers[name="nginx"].image',
    );
  });

  it("shares fields applied with the same value", () => {
    const v1 = stored(ssa(undefined, config({ replicas: 2 }), "alice", false, T0));
    const v2 = stored(ssa(v1, config({ replicas: 2 }), "bob"));
    expect(entry(v2, "alice")?.fieldsV1).toEqual(entry(v2, "bob")?.fieldsV1);
  });

  it("takes ownership with force", () => {
    const v1 = stored(
      ssa(undefined, config({ replicas: 2, image: "nginx:1" }), "alice", false, T0),
    );
    const v2 = stored(ssa(v1, config({ replicas: 5 }), "bob", true));
    expect(spec(v2).replicas).toBe(5);
    const alice = entry(v2, "alice")?.fieldsV1 as { "f:spec": Record<string, unknown> };
    expect(Object.keys(alice["f:spec"])).toEqual(["f:selector", "f:template"]);
    // alice can no longer set replicas without a conflict with bob
    expect(conflictOf(() => ssa(v2, config({ replicas: 2 }), "alice")).conflicts).toEqual([
      { manager: "bob", field: ".spec.replicas" },
    ]);
  });

  it("removes fields the applier no longer applies", () => {
    const env = [
      { name: "A", value: "1" },
      { name: "B", value: "2" },
    ];
    const v1 = stored(
      ssa(undefined, config({ replicas: 2, labels: { a: "1", b: "2" }, env }), "alice", false, T0),
    );
    const v2 = ssa(v1, config({ labels: { a: "1" }, env: env.slice(1) }), "alice");
    expect(spec(v2).replicas).toBeUndefined();
    expect(labelsOf(v2)).toEqual({ a: "1" });
    expect(spec(v2).template.spec.containers[0].env).toEqual([{ name: "B", value: "2" }]);
  });

  it("keeps a dropped field that another manager also owns", () => {
    const v1 = stored(ssa(undefined, config({ replicas: 2 }), "alice", false, T0));
    const v2 = stored(ssa(v1, config({ replicas: 2 }), "bob"));
    const v3 = ssa(v2, config({}), "alice");
    expect(spec(v3).replicas).toBe(2);
    expect(Object.keys(entry(v3, "alice")?.fieldsV1["f:spec"] as object)).not.toContain(
      "f:replicas",
    );
  });

  it("conflicts with a writer that changed the field through an ordinary update", () => {
    const v1 = stored(ssa(undefined, config({ replicas: 2 }), "alice", false, T0));
    const scaled = structuredClone(v1);
    (scaled.spec as { replicas: number }).replicas = 4;
    (scaled.metadata as { managedFields: unknown }).managedFields = updateManagedFields(
      v1,
      scaled,
      "kube-controller-manager",
      "Update",
      lookup,
      DEPLOY,
      T1,
    );
    const err = conflictOf(() => ssa(scaled, config({ replicas: 2 }), "alice"));
    expect(err.message).toBe(
      'Apply failed with 1 conflict: conflict with "kube-controller-manager" using apps/v1: .spec.replicas',
    );
  });

  describe("after kubectl client-side apply", () => {
    // kubectl apply (client-side) creates with its manager and the last-applied annotation.
    const csa = (replicas: number) => {
      const cfg = config({ replicas });
      const obj = structuredClone(cfg) as Obj;
      (obj.metadata as Record<string, unknown>).annotations = {
        [LAST_APPLIED]: `${JSON.stringify(cfg)}\n`,
      };
      const mf = updateManagedFields(
        undefined,
        obj,
        "kubectl-client-side-apply",
        "Update",
        lookup,
        DEPLOY,
        T0,
      );
      return stored({ ...obj, metadata: { ...(obj.metadata as object), managedFields: mf } });
    };

    it("conflicts with kubectl-client-side-apply for a manager other than kubectl", () => {
      const err = conflictOf(() => ssa(csa(3), config({ replicas: 5 }), "helm"));
      expect(err.message).toBe(
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas',
      );
    });

    it("lets kubectl apply --server-side take over fields still as last applied", () => {
      const out = ssa(csa(3), config({ replicas: 5 }), "kubectl");
      expect(spec(out).replicas).toBe(5);
      expect(entry(out, "kubectl")?.fieldsV1["f:spec"]).toHaveProperty("f:replicas");
      expect(entry(out, "kubectl-client-side-apply")?.fieldsV1["f:spec"]).not.toHaveProperty(
        "f:replicas",
      );
      const annotation = (out.metadata as { annotations: Record<string, string> }).annotations[
        LAST_APPLIED
      ];
      expect(JSON.parse(annotation)).toEqual(config({ replicas: 5 }));
      expect(annotation.endsWith("}\n")).toBe(true);
    });

    it("still conflicts on fields changed since the last client-side apply", () => {
      const live = csa(3);
      (live.spec as { replicas: number }).replicas = 4; // e.g. kubectl scale, not recorded in the annotation
      const err = conflictOf(() => ssa(live, config({ replicas: 5 }), "kubectl"));
      expect(err.conflicts).toEqual([
        { manager: "kubectl-client-side-apply", field: ".spec.replicas" },
      ]);
    });
  });

  it("allows exactly the conflicts the last-applied annotation vouches for", () => {
    // The case of apimachinery's TestApplyUsingLastAppliedAnnotation.
    const dep = (labels: object | undefined, replicas: number, sel: string, images: string[]) => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "my-deployment", ...(labels ? { labels } : {}) },
      spec: {
        replicas,
        selector: { matchLabels: { app: sel } },
        template: {
          metadata: { labels: { app: sel } },
          spec: { containers: images.map((image, i) => ({ name: i ? "my-c2" : "my-c", image })) },
        },
      },
    });
    const lastApplied = dep(undefined, 3, "my-app", ["my-image-v1", "my-image2"]);
    const original = dep({ app: "my-app" }, 100, "my-app", ["my-image-v2"]) as Obj;
    (original.metadata as Record<string, unknown>).annotations = {
      [LAST_APPLIED]: JSON.stringify(lastApplied),
    };
    const mf = updateManagedFields(
      undefined,
      original,
      "test_client_side_apply",
      "Update",
      lookup,
      DEPLOY,
      T0,
    );
    const live = { ...original, metadata: { ...(original.metadata as object), managedFields: mf } };
    const applied = dep({ app: "my-new-label" }, 333, "my-new-label", ["my-image-new"]);
    const err = conflictOf(() => ssa(live, applied, "kubectl"));
    expect(err.conflicts.map((c) => c.field)).toEqual([
      ".metadata.labels.app",
      ".spec.replicas",
      '.spec.template.spec.containers[name="my-c"].image',
    ]);
    const out = ssa(live, applied, "kubectl", true);
    expect(out).toMatchObject(applied);
  });

  it("makes a before-first-apply manager own fields of an untracked object", () => {
    const live = stored(config({ replicas: 2 }) as Obj);
    const err = conflictOf(() => ssa(live, config({ replicas: 3 }), "alice"));
    expect(err.message).toBe(
      'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas',
    );
  });

  it("applies through the status subresource without touching spec ownership", () => {
    const v1 = stored(ssa(undefined, config({ replicas: 2 }), "alice", false, T0));
    const status = { ...config({ replicas: 9 }), status: { replicas: 2 } };
    const { object, managedFields } = apply(v1, status, "controller", false, lookup, DEPLOY, T1, {
      subresource: "status",
    });
    expect(object.status).toEqual({ replicas: 2 });
    expect(managedFields.find((e) => e.manager === "controller")).toEqual({
      manager: "controller",
      operation: "Apply",
      apiVersion: "apps/v1",
      time: "2024-05-01T11:00:00Z",
      fieldsType: "FieldsV1",
      fieldsV1: { "f:status": { "f:replicas": {} } },
      subresource: "status",
    });
  });

  it("rejects configurations Kubernetes rejects", () => {
    const withMf = { ...config(), metadata: { name: "web", managedFields: [] } };
    expect(() => ssa(undefined, withMf, "a")).toThrow("metadata.managedFields must be nil");
    const dup = config();
    dup.spec.template.spec.containers.push({ name: "nginx", image: "x" });
    expect(() => ssa(undefined, dup, "a")).toThrow(
      'failed to create typed patch object (/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="nginx"]',
    );
    const live = stored(ssa(undefined, config(), "a", false, T0));
    expect(() => ssa(live, { ...config(), kind: "StatefulSet" }, "a")).toThrow(
      "invalid object type: apps/v1, Kind=StatefulSet",
    );
  });

  it("keys container ports by containerPort and protocol with the generated schema", () => {
    const real = createSchemaLookup(schemaJson as SchemaJson);
    const cfg = config({ replicas: 1 });
    (cfg.spec.template.spec.containers[0] as Record<string, unknown>).ports = [
      { containerPort: 80 },
    ];
    const { managedFields } = apply(undefined, cfg, "kubectl", false, real, DEPLOY, T0);
    const c = (
      managedFields[0].fieldsV1 as {
        "f:spec": { "f:template": { "f:spec": { "f:containers": Record<string, object> } } };
      }
    )["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}'];
    expect(c).toEqual({
      ".": {},
      "f:image": {},
      "f:name": {},
      "f:ports": { 'k:{"containerPort":80,"protocol":"TCP"}': { ".": {}, "f:containerPort": {} } },
    });
  });
});
