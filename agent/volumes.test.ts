import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ObjectSource } from "./env.ts";
import { containerMounts, prepareVolumes } from "./volumes.ts";

const dir = mkdtempSync(join(tmpdir(), "kubeflare-volumes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const b64 = (s: string) => Buffer.from(s).toString("base64");
const source: ObjectSource = {
  configMap: async (_ns, name) =>
    name === "cfg" ? { data: { "app.conf": "a=1", other: "x" } } : undefined,
  secret: async (_ns, name) => (name === "sec" ? { data: { token: b64("t0k") } } : undefined),
  serviceAccountToken: async (p, src) =>
    `token of ${p.spec.serviceAccountName ?? "default"} for ${src.audience ?? "the API"}`,
};
const ctx = { podIP: "10.42.0.7", hostIP: "192.0.2.2", nodeCPU: 2, nodeMemory: 1024 };
const pod = (volumes: any[]) => ({
  metadata: { name: "p", namespace: "ns", uid: "u", labels: { app: "web" } },
  spec: { containers: [{ name: "c", resources: { limits: { memory: "32Mi" } } }], volumes },
});

describe("pod volumes", () => {
  it("makes emptyDir writable by any user, owned by the pod's fsGroup when it has one", async () => {
    const umask = process.umask(0o022);
    try {
      const plain = (
        await prepareVolumes(pod([{ name: "e", emptyDir: {} }]), join(dir, "e1"), source, ctx)
      ).get("e") as string;
      expect(statSync(plain).mode & 0o7777).toBe(0o777);
      const p = pod([{ name: "e", emptyDir: {} }]) as any;
      p.spec.securityContext = { fsGroup: 2000 };
      const grouped = (await prepareVolumes(p, join(dir, "e2"), source, ctx)).get("e") as string;
      expect(statSync(grouped).gid).toBe(2000);
      expect(statSync(grouped).mode & 0o7777).toBe(0o2777);
    } finally {
      process.umask(umask);
    }
  });

  it("writes configMap and secret keys as files, with items, paths and modes", async () => {
    const paths = await prepareVolumes(
      pod([
        { name: "all", configMap: { name: "cfg" } },
        {
          name: "some",
          configMap: {
            name: "cfg",
            items: [{ key: "app.conf", path: "conf/app.conf", mode: 0o600 }],
          },
        },
        { name: "creds", secret: { secretName: "sec", defaultMode: 0o400 } },
      ]),
      join(dir, "a"),
      source,
      ctx,
    );
    const all = paths.get("all") as string;
    expect(readFileSync(join(all, "app.conf"), "utf8")).toBe("a=1");
    expect(readFileSync(join(all, "other"), "utf8")).toBe("x");
    const some = paths.get("some") as string;
    expect(readFileSync(join(some, "conf/app.conf"), "utf8")).toBe("a=1");
    expect(statSync(join(some, "conf/app.conf")).mode & 0o777).toBe(0o600);
    const creds = paths.get("creds") as string;
    expect(readFileSync(join(creds, "token"), "utf8")).toBe("t0k");
    expect(statSync(join(creds, "token")).mode & 0o777).toBe(0o400);
  });

  it("writes downwardAPI and projected sources; emptyDir and hostPath are directories", async () => {
    const host = join(dir, "host", "made");
    const paths = await prepareVolumes(
      pod([
        { name: "scratch", emptyDir: {} },
        { name: "host", hostPath: { path: host, type: "DirectoryOrCreate" } },
        {
          name: "info",
          downwardAPI: {
            items: [
              { path: "labels", fieldRef: { fieldPath: "metadata.labels" } },
              {
                path: "mem",
                resourceFieldRef: { containerName: "c", resource: "limits.memory", divisor: "1Mi" },
              },
            ],
          },
        },
        {
          name: "all-in-one",
          projected: {
            sources: [
              { configMap: { name: "cfg", items: [{ key: "other", path: "other" }] } },
              { secret: { name: "sec" } },
              { downwardAPI: { items: [{ path: "ip", fieldRef: { fieldPath: "status.podIP" } }] } },
              { serviceAccountToken: { path: "sa/token", audience: "vault" } },
            ],
          },
        },
      ]),
      join(dir, "b"),
      source,
      ctx,
    );
    expect(statSync(paths.get("scratch") as string).isDirectory()).toBe(true);
    expect(paths.get("host")).toBe(host);
    expect(statSync(host).isDirectory()).toBe(true);
    const info = paths.get("info") as string;
    expect(readFileSync(join(info, "labels"), "utf8")).toBe('app="web"');
    expect(readFileSync(join(info, "mem"), "utf8")).toBe("32");
    const p = paths.get("all-in-one") as string;
    expect(
      ["other", "token", "ip", "sa/token"].map((f) => readFileSync(join(p, f), "utf8")),
    ).toEqual(["x", "t0k", "10.42.0.7", "token of default for vault"]);
  });

  it("a missing ConfigMap fails unless optional; paths may not escape the volume", async () => {
    await expect(
      prepareVolumes(
        pod([{ name: "v", configMap: { name: "nope" } }]),
        join(dir, "c"),
        source,
        ctx,
      ),
    ).rejects.toThrow(/not found/);
    const ok = await prepareVolumes(
      pod([{ name: "v", configMap: { name: "nope", optional: true } }]),
      join(dir, "d"),
      source,
      ctx,
    );
    expect(ok.has("v")).toBe(true);
    await expect(
      prepareVolumes(
        pod([
          { name: "v", configMap: { name: "cfg", items: [{ key: "other", path: "../../evil" }] } },
        ]),
        join(dir, "e"),
        source,
        ctx,
      ),
    ).rejects.toThrow(/escapes/);
    expect(() =>
      containerMounts(
        { volumeMounts: [{ name: "v", mountPath: "/m", subPath: "../x" }] },
        new Map([["v", join(dir, "d")]]),
      ),
    ).toThrow(/escapes/);
  });

  it("rewrites a volume in place: same directory, changed keys swapped in, removed keys gone", async () => {
    let data: Record<string, string> = { a: "1", b: "2" };
    const live: ObjectSource = { ...source, configMap: async () => ({ data }) };
    const p = pod([{ name: "v", configMap: { name: "cfg" } }]);
    const first = (await prepareVolumes(p, join(dir, "f"), live, ctx)).get("v") as string;
    const inode = statSync(first).ino;
    data = { a: "1", c: "3" };
    const second = (await prepareVolumes(p, join(dir, "f"), live, ctx)).get("v") as string;
    expect(second).toBe(first);
    // A bind mount of the directory keeps showing it: it must be the same inode.
    expect(statSync(second).ino).toBe(inode);
    expect(readdirSync(second).sort()).toEqual(["a", "c"]);
    expect(readFileSync(join(second, "c"), "utf8")).toBe("3");
  });

  it("maps volumeMounts (with subPath and readOnly) to bind mounts", () => {
    const vols = new Map([["data", join(dir, "d", "volumes", "v")]]);
    expect(
      containerMounts(
        {
          volumeMounts: [
            { name: "data", mountPath: "/data", readOnly: true },
            { name: "data", mountPath: "/sub", subPath: "s" },
          ],
        },
        vols,
      ),
    ).toEqual([
      { source: join(dir, "d", "volumes", "v"), destination: "/data", readOnly: true },
      { source: join(dir, "d", "volumes", "v", "s"), destination: "/sub", readOnly: false },
    ]);
    expect(() =>
      containerMounts({ volumeMounts: [{ name: "missing", mountPath: "/x" }] }, vols),
    ).toThrow(/not found/);
  });
});
