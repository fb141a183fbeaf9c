import { describe, expect, it } from "vitest";
import schemaJson from "../resources/schema.gen.json" with { type: "json" };
import { createSchemaLookup, type Prop, type SchemaJson } from "./schema.ts";
import { applyStrategicMergePatch, PatchError } from "./strategic-merge.ts";

const S: Prop = { type: "string" };
const N: Prop = { type: "number" };
const ref = (d: string): Prop => ({ ref: d });
const arr = (items: Prop): Prop => ({ type: "array", items });
const map = (v: Prop): Prop => ({ type: "object", additionalProperties: v });
const core = "io.k8s.api.core.v1.";
const meta = "io.k8s.apimachinery.pkg.apis.meta.v1.";

const fixture: SchemaJson = {
  kinds: { "apps/v1/Deployment": "io.k8s.api.apps.v1.Deployment" },
  definitions: {
    "io.k8s.api.apps.v1.Deployment": {
      properties: {
        apiVersion: S,
        kind: S,
        metadata: ref(`${meta}ObjectMeta`),
        spec: ref("io.k8s.api.apps.v1.DeploymentSpec"),
      },
    },
    "io.k8s.api.apps.v1.DeploymentSpec": {
      properties: { replicas: N, template: ref(`${core}PodTemplateSpec`) },
    },
    [`${core}PodTemplateSpec`]: {
      properties: { metadata: ref(`${meta}ObjectMeta`), spec: ref(`${core}PodSpec`) },
    },
    [`${core}PodSpec`]: {
      properties: {
        containers: arr(ref(`${core}Container`)),
        volumes: arr(ref(`${core}Volume`)),
        nodeSelector: map(S),
      },
    },
    [`${core}Container`]: {
      properties: {
        name: S,
        image: S,
        args: arr(S),
        ports: arr(ref(`${core}ContainerPort`)),
        env: arr(ref(`${core}EnvVar`)),
      },
    },
    [`${core}ContainerPort`]: { properties: { containerPort: N, protocol: S } },
    [`${core}EnvVar`]: { properties: { name: S, value: S } },
    [`${core}Volume`]: {
      properties: { name: S, emptyDir: ref("EmptyDir"), configMap: ref("ConfigMap") },
    },
    [`${meta}ObjectMeta`]: {
      properties: {
        name: S,
        labels: map(S),
        annotations: map(S),
        finalizers: arr(S),
        ownerReferences: arr(ref(`${meta}OwnerReference`)),
      },
    },
    [`${meta}OwnerReference`]: { properties: { uid: S, name: S, kind: S } },
  },
};

const lookup = createSchemaLookup(fixture);
const DEPLOY = "io.k8s.api.apps.v1.Deployment";
const patch = (o: unknown, p: unknown) => applyStrategicMergePatch(o, p, lookup, DEPLOY);

const deployment = (containers: unknown[]) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", labels: { app: "web" } },
  spec: { replicas: 1, template: { spec: { containers } } },
});
const containersOf = (o: Record<string, unknown>) =>
  (o as { spec: { template: { spec: { containers: { name: string }[] } } } }).spec.template.spec
    .containers;

describe("applyStrategicMergePatch", () => {
  it("patches a container's image by name and keeps the other containers", () => {
    const live = deployment([
      { name: "app", image: "app:1", args: ["--x"] },
      { name: "sidecar", image: "proxy:1" },
    ]);
    const out = patch(live, {
      spec: { template: { spec: { containers: [{ name: "app", image: "app:2" }] } } },
    });
    expect(containersOf(out)).toEqual([
      { name: "app", image: "app:2", args: ["--x"] },
      { name: "sidecar", image: "proxy:1" },
    ]);
    expect(live.spec.template.spec.containers[0]).toEqual({
      name: "app",
      image: "app:1",
      args: ["--x"],
    });
  });

  it("puts a container new to the list first, as Kubernetes orders it", () => {
    const out = patch(deployment([{ name: "a" }, { name: "b" }]), {
      spec: { template: { spec: { containers: [{ name: "c", image: "redis" }] } } },
    });
    expect(containersOf(out).map((c) => c.name)).toEqual(["c", "a", "b"]);
  });

  it("orders by $setElementOrder", () => {
    const out = patch(deployment([{ name: "a" }, { name: "b" }]), {
      spec: {
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "a" }, { name: "b" }, { name: "c" }],
            containers: [{ name: "c" }],
          },
        },
      },
    });
    expect(containersOf(out).map((c) => c.name)).toEqual(["a", "b", "c"]);
  });

  it("removes an env entry with $patch: delete", () => {
    const live = deployment([
      {
        name: "app",
        env: [
          { name: "A", value: "1" },
          { name: "B", value: "2" },
        ],
      },
    ]);
    const out = patch(live, {
      spec: {
        template: {
          spec: { containers: [{ name: "app", env: [{ name: "A", $patch: "delete" }] }] },
        },
      },
    });
    expect(containersOf(out)[0]).toEqual({ name: "app", env: [{ name: "B", value: "2" }] });
  });

  it("replaces a whole list with a $patch: replace item", () => {
    const out = patch(deployment([{ name: "a" }, { name: "b" }]), {
      spec: { template: { spec: { containers: [{ $patch: "replace" }, { name: "z" }] } } },
    });
    expect(containersOf(out)).toEqual([{ name: "z" }]);
  });

  it("deletes keys set to null and merges maps", () => {
    const out = patch(deployment([]), {
      metadata: { labels: { app: null, tier: "web" }, annotations: { a: "1" } },
      spec: { replicas: null },
    });
    expect(out.metadata).toEqual({ name: "web", labels: { tier: "web" }, annotations: { a: "1" } });
    expect(out.spec).toEqual({ template: { spec: { containers: [] } } });
  });

  it("replaces or empties a map with $patch directives", () => {
    const live = deployment([]);
    expect(patch(live, { metadata: { labels: { $patch: "replace", x: "y" } } }).metadata).toEqual({
      name: "web",
      labels: { x: "y" },
    });
    expect(patch(live, { metadata: { labels: { $patch: "delete" } } }).metadata).toEqual({
      name: "web",
      labels: {},
    });
  });

  it("merges primitive lists with a merge strategy as sets and deletes from them", () => {
    const live = { metadata: { finalizers: ["a", "b"] } };
    expect(patch(live, { metadata: { finalizers: ["c", "a"] } }).metadata).toEqual({
      finalizers: ["c", "a", "b"],
    });
    expect(
      patch(live, { metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] } }).metadata,
    ).toEqual({ finalizers: ["b"] });
  });

  it("replaces lists without a merge strategy", () => {
    const out = patch(deployment([{ name: "a", args: ["1", "2"] }]), {
      spec: { template: { spec: { containers: [{ name: "a", args: ["3"] }] } } },
    });
    expect(containersOf(out)[0]).toEqual({ name: "a", args: ["3"] });
  });

  it("merges ownerReferences by uid", () => {
    const live = { metadata: { ownerReferences: [{ uid: "1", name: "a" }] } };
    const out = patch(live, { metadata: { ownerReferences: [{ uid: "2", name: "b" }] } });
    expect(out.metadata).toEqual({
      ownerReferences: [
        { uid: "2", name: "b" },
        { uid: "1", name: "a" },
      ],
    });
  });

  it("clears fields missing from $retainKeys", () => {
    const live = { spec: { template: { spec: { volumes: [{ name: "v", emptyDir: {} }] } } } };
    const out = patch(live, {
      spec: {
        template: {
          spec: {
            volumes: [{ name: "v", $retainKeys: ["name", "configMap"], configMap: { name: "c" } }],
          },
        },
      },
    });
    expect(out.spec).toEqual({
      template: { spec: { volumes: [{ name: "v", configMap: { name: "c" } }] } },
    });
  });

  it("uses JSON merge semantics where the schema knows nothing", () => {
    const out = patch(
      { spec: { template: { spec: { extra: { list: [1, 2], keep: true } } } } },
      { spec: { template: { spec: { extra: { list: [3], drop: null } } } } },
    );
    expect(out.spec).toEqual({ template: { spec: { extra: { list: [3], keep: true } } } });
    expect(applyStrategicMergePatch({ a: [1] }, { a: [2], b: 1 }, lookup, undefined)).toEqual({
      a: [2],
      b: 1,
    });
  });

  it("rejects malformed patches with Kubernetes' errors", () => {
    const live = deployment([{ name: "a" }]);
    const err = (p: unknown) => {
      try {
        patch(live, p);
      } catch (e) {
        expect(e).toBeInstanceOf(PatchError);
        return e as PatchError;
      }
      throw new Error("no error");
    };
    const noKey = err({ spec: { template: { spec: { containers: [{ image: "x" }] } } } });
    expect(noKey.message).toBe("map: map[image:x] does not contain declared merge key: name");
    expect(noKey.code).toBe(500);
    const retain = err({ metadata: { $retainKeys: ["name"], labels: {} } });
    expect([retain.code, retain.message]).toEqual([400, "invalid patch format of retainKeys"]);
    expect(err({ metadata: { $deleteFromPrimitiveList: ["a"] } }).message).toBe(
      "invalid patch format of primitive list",
    );
    expect(err({ metadata: { labels: { $patch: "merge" } } }).message).toBe(
      "unknown patch type: merge in map: map[$patch:merge]",
    );
    const lol = applyStrategicMergePatch.bind(null, { metadata: { finalizers: [] } });
    expect(() => lol({ metadata: { finalizers: [["b"]] } }, lookup, DEPLOY)).toThrow(
      expect.objectContaining({ code: 422, reason: "Invalid" }),
    );
    expect(err([]).message).toBe(
      "json: cannot unmarshal array into Go value of type map[string]interface {}",
    );
  });

  it("patches with the generated Kubernetes schema", () => {
    const real = createSchemaLookup(schemaJson as SchemaJson);
    const def = real.forKind("apps/v1", "Deployment");
    expect(def).toBe(DEPLOY);
    const live = deployment([
      {
        name: "app",
        image: "app:1",
        ports: [{ containerPort: 80 }],
        env: [{ name: "A", value: "1" }],
      },
      { name: "sidecar", image: "proxy:1" },
    ]);
    const out = applyStrategicMergePatch(
      live,
      {
        spec: {
          template: {
            spec: {
              containers: [
                {
                  name: "app",
                  image: "app:2",
                  ports: [{ containerPort: 443 }],
                  env: [{ name: "A", $patch: "delete" }],
                },
              ],
            },
          },
        },
      },
      real,
      def,
    );
    expect(containersOf(out)).toEqual([
      {
        name: "app",
        image: "app:2",
        ports: [{ containerPort: 443 }, { containerPort: 80 }],
        env: [],
      },
      { name: "sidecar", image: "proxy:1" },
    ]);
  });
});
