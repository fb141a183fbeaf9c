import { describe, expect, it } from "vitest";
import { ConfigError, expand, type ObjectSource, resolveEnv } from "./env.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const source: ObjectSource = {
  configMap: async (ns, name) =>
    ns === "team" && name === "cfg" ? { data: { MODE: "fast", "log.level": "debug" } } : undefined,
  secret: async (ns, name) =>
    ns === "team" && name === "sec"
      ? { data: { PASSWORD: b64("s3cret"), TOKEN: b64("t") } }
      : undefined,
  serviceAccountToken: async () => "unused",
};
const ctx = { podIP: "10.42.1.7", hostIP: "192.0.2.2", nodeCPU: 4, nodeMemory: 8 * 1024 ** 3 };
const pod = (container: any) => ({
  metadata: {
    name: "p",
    namespace: "team",
    uid: "u-1",
    labels: { app: "web" },
    annotations: { a: "1" },
  },
  spec: { nodeName: "host-1", serviceAccountName: "default", containers: [container] },
});

describe("container environment", () => {
  it("applies envFrom first, then env, with $(VAR) expansion of earlier variables", async () => {
    const c = {
      name: "c",
      envFrom: [{ configMapRef: { name: "cfg" } }, { prefix: "S_", secretRef: { name: "sec" } }],
      env: [
        { name: "MODE", value: "slow" },
        { name: "URL", value: "http://$(POD_IP):80/$(MODE)/$(UNKNOWN)/$$(MODE)" },
        { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "LATE", value: "$(POD_IP)" },
      ],
    };
    expect(await resolveEnv(pod(c), c, source, ctx)).toEqual([
      "MODE=slow",
      "log.level=debug",
      "S_PASSWORD=s3cret",
      "S_TOKEN=t",
      "URL=http://$(POD_IP):80/slow/$(UNKNOWN)/$(MODE)",
      "POD_IP=10.42.1.7",
      "LATE=10.42.1.7",
    ]);
  });

  it("resolves configMapKeyRef, secretKeyRef, fieldRef and resourceFieldRef", async () => {
    const c = {
      name: "c",
      resources: { limits: { memory: "64Mi", cpu: "1500m" } },
      env: [
        { name: "A", valueFrom: { configMapKeyRef: { name: "cfg", key: "MODE" } } },
        { name: "B", valueFrom: { secretKeyRef: { name: "sec", key: "PASSWORD" } } },
        { name: "C", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: "D", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
        {
          name: "E",
          valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } },
        },
        { name: "F", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
        { name: "G", valueFrom: { resourceFieldRef: { resource: "limits.cpu", divisor: "1m" } } },
        { name: "H", valueFrom: { resourceFieldRef: { resource: "requests.memory" } } },
        { name: "I", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
      ],
    };
    expect(await resolveEnv(pod(c), c, source, ctx)).toEqual([
      "A=fast",
      "B=s3cret",
      "C=web",
      "D=host-1",
      "E=64",
      "F=2",
      "G=1500",
      "H=67108864",
      "I=192.0.2.2",
    ]);
  });

  it("without limits, resourceFieldRef reports the node's allocatable", async () => {
    const c = {
      name: "c",
      env: [{ name: "CPU", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } }],
    };
    expect(await resolveEnv(pod(c), c, source, ctx)).toEqual(["CPU=4"]);
  });

  it("a missing reference is a config error unless optional", async () => {
    const missing = {
      name: "c",
      env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "nope", key: "k" } } }],
    };
    await expect(resolveEnv(pod(missing), missing, source, ctx)).rejects.toThrow(ConfigError);
    const badKey = {
      name: "c",
      env: [{ name: "X", valueFrom: { secretKeyRef: { name: "sec", key: "nope" } } }],
    };
    await expect(resolveEnv(pod(badKey), badKey, source, ctx)).rejects.toThrow(
      /couldn't find key nope in Secret team\/sec/,
    );
    const optional = {
      name: "c",
      envFrom: [{ configMapRef: { name: "nope", optional: true } }],
      env: [
        { name: "X", valueFrom: { configMapKeyRef: { name: "cfg", key: "nope", optional: true } } },
      ],
    };
    expect(await resolveEnv(pod(optional), optional, source, ctx)).toEqual([]);
  });

  it("expand leaves unknown references and unescapes $$", () => {
    const vars = new Map([["A", "1"]]);
    expect(expand("$(A)-$(B)-$$(A)-$$", vars)).toBe("1-$(B)-$(A)-$");
  });
});
