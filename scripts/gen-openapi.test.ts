import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

type Doc = any;

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const META = "io.k8s.apimachinery.pkg.apis.meta.v1";
let dir: string;

const readJson = (path: string): Doc => JSON.parse(readFileSync(path, "utf8"));
const doc = (path: string): Doc => readJson(join(dir, "v3", `${path}.json`));
const schemas = (path: string): Doc => doc(path).components.schemas;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "gen-openapi-"));
  const script = join(root, "scripts/gen-openapi.ts");
  const args = [script, "--out", dir, "--schema", join(dir, "schema.gen.json")];
  execFileSync(process.execPath, args, { stdio: "pipe" });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("OpenAPI v3 documents", () => {
  it("marks the Deployment schema and its List with their group/version/kind", () => {
    const s = schemas("apis/apps/v1");
    expect(s["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"]).toEqual([
      { group: "apps", version: "v1", kind: "Deployment" },
    ]);
    expect(s["io.k8s.api.apps.v1.DeploymentList"]["x-kubernetes-group-version-kind"]).toEqual([
      { group: "apps", version: "v1", kind: "DeploymentList" },
    ]);
    expect(s["io.k8s.api.apps.v1.Deployment"].description).toMatch(/Deployment/);
  });

  it("publishes strategic-merge metadata and descriptions for kubectl apply and explain", () => {
    const containers = schemas("apis/apps/v1")["io.k8s.api.core.v1.PodSpec"].properties.containers;
    expect(containers["x-kubernetes-patch-merge-key"]).toBe("name");
    expect(containers["x-kubernetes-patch-strategy"]).toBe("merge");
    expect(containers["x-kubernetes-list-type"]).toBe("map");
    expect(containers.items.$ref).toBe("#/components/schemas/io.k8s.api.core.v1.Container");
    expect(containers.description).toMatch(/containers/i);
  });

  it("lists fieldValidation and dryRun on every PATCH of apps/v1 Deployment", () => {
    // kubectl apply/diff take the first PATCH operation carrying the kind's GVK.
    const patches = Object.values(doc("apis/apps/v1").paths)
      .map((item: Doc) => item.patch)
      .filter((op: Doc) => op?.["x-kubernetes-group-version-kind"]?.kind === "Deployment");
    expect(patches.length).toBeGreaterThanOrEqual(2); // the object and its status
    for (const op of patches) {
      const query = op.parameters.filter((p: Doc) => p.in === "query").map((p: Doc) => p.name);
      expect(query).toEqual(expect.arrayContaining(["fieldValidation", "dryRun", "fieldManager"]));
      expect(op["x-kubernetes-action"]).toBe("patch");
      expect(Object.keys(op.requestBody.content)).toContain(
        "application/strategic-merge-patch+json",
      );
    }
  });

  it("serves the scale subresource as autoscaling/v1 Scale", () => {
    const d = doc("apis/apps/v1");
    const scale = d.paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    expect(scale.put["x-kubernetes-group-version-kind"]).toEqual({
      group: "autoscaling",
      version: "v1",
      kind: "Scale",
    });
    expect(d.components.schemas["io.k8s.api.autoscaling.v1.Scale"]).toBeDefined();
  });

  it("has cluster-scoped paths for Nodes and namespaced ones for Pods", () => {
    const paths = doc("api/v1").paths;
    expect(paths["/api/v1/nodes/{name}"].get.operationId).toBe("readCoreV1Node");
    expect(paths["/api/v1/namespaces/{namespace}/pods"].get["x-kubernetes-action"]).toBe("list");
    const list = paths["/api/v1/namespaces/{namespace}/pods"].get.parameters.map(
      (p: Doc) => p.name,
    );
    expect(list).toEqual(expect.arrayContaining(["labelSelector", "watch", "limit", "continue"]));
  });

  it("describes IntOrString as int-or-string", () => {
    const s = schemas("apis/apps/v1");
    const maxSurge = s["io.k8s.api.apps.v1.RollingUpdateDeployment"].properties.maxSurge;
    const target = s[maxSurge.$ref.split("/").at(-1)];
    expect(target.format).toBe("int-or-string");
    expect(target["x-kubernetes-int-or-string"]).toBe(true);
  });

  it("resolves every $ref inside each document", () => {
    const index = readJson(join(dir, "v3", "index.json"));
    for (const path of Object.keys(index.paths)) {
      const d = doc(path);
      const refs = JSON.stringify(d).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g);
      for (const [, name] of refs)
        expect(d.components.schemas[name], `${path}: ${name}`).toBeDefined();
      expect(d.components.schemas[`${META}.Status`]).toBeDefined();
    }
  });

  it("indexes every group/version with the SHA-512 of its document", () => {
    const index = readJson(join(dir, "v3", "index.json"));
    expect(Object.keys(index.paths)).toEqual(
      expect.arrayContaining(["api/v1", "apis/apps/v1", "apis/networking.k8s.io/v1"]),
    );
    for (const [path, entry] of Object.entries<Doc>(index.paths)) {
      const bytes = readFileSync(join(dir, "v3", `${path}.json`));
      const hash = createHash("sha512").update(bytes).digest("hex").toUpperCase();
      expect(entry.serverRelativeURL).toBe(`/openapi/v3/${path}?hash=${hash}`);
    }
  });
});

describe("compact schema", () => {
  const schema = (): Doc => readJson(join(dir, "schema.gen.json"));

  it("maps catalog kinds to their definitions", () => {
    expect(schema().kinds["apps/v1/Deployment"]).toBe("io.k8s.api.apps.v1.Deployment");
    expect(schema().kinds["v1/Pod"]).toBe("io.k8s.api.core.v1.Pod");
  });

  it("types Container fields", () => {
    const container = schema().definitions["io.k8s.api.core.v1.Container"];
    expect(container.properties.image).toEqual({ type: "string" });
    expect(container.properties.ports).toEqual({
      type: "array",
      items: { ref: "io.k8s.api.core.v1.ContainerPort" },
    });
    expect(container.required).toEqual(["name"]);
  });

  it("inlines the named scalar types", () => {
    const defs = schema().definitions;
    expect(defs["io.k8s.api.apps.v1.RollingUpdateDeployment"].properties.maxSurge).toEqual({
      type: "int-or-string",
    });
    expect(defs["io.k8s.api.core.v1.ServicePort"].properties.targetPort).toEqual({
      type: "int-or-string",
    });
    const meta = defs[`${META}.ObjectMeta`].properties;
    expect(meta.creationTimestamp).toEqual({ type: "string" });
    expect(meta.labels).toEqual({ type: "object", additionalProperties: { type: "string" } });
    const limits = defs["io.k8s.api.core.v1.ResourceRequirements"].properties.limits;
    expect(limits.additionalProperties).toEqual({ type: "string" });
  });

  it("is committed up to date", () => {
    const committed = readFileSync(join(root, "src/resources/schema.gen.json"), "utf8");
    expect(committed).toBe(readFileSync(join(dir, "schema.gen.json"), "utf8"));
  });
});
