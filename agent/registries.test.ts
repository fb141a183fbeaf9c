import { describe, expect, it } from "vitest";
import { defaultPullPolicy, parseImage, parseRegistries, pullSources } from "./registries.ts";

describe("image references", () => {
  it("normalizes names the way Docker does", () => {
    expect(parseImage("busybox")).toEqual({
      host: "docker.io",
      repo: "library/busybox",
      tag: "latest",
      digest: undefined,
    });
    expect(parseImage("bitnami/nginx:1.2")).toMatchObject({
      host: "docker.io",
      repo: "bitnami/nginx",
      tag: "1.2",
    });
    expect(parseImage("127.0.0.1:5000/kubeflare/busybox:v1")).toMatchObject({
      host: "127.0.0.1:5000",
      repo: "kubeflare/busybox",
      tag: "v1",
    });
    expect(parseImage("localhost/app")).toMatchObject({
      host: "localhost",
      repo: "app",
      tag: "latest",
    });
    expect(parseImage("ghcr.io/a/b@sha256:abc")).toMatchObject({
      host: "ghcr.io",
      repo: "a/b",
      tag: undefined,
      digest: "sha256:abc",
    });
  });

  it("defaults imagePullPolicy to Always only for :latest or no tag", () => {
    expect(defaultPullPolicy("busybox")).toBe("Always");
    expect(defaultPullPolicy("busybox:latest")).toBe("Always");
    expect(defaultPullPolicy("busybox:1.36")).toBe("IfNotPresent");
    expect(defaultPullPolicy("busybox@sha256:abc")).toBe("IfNotPresent");
  });
});

describe("registries.yaml", () => {
  const cfg = parseRegistries(`
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000", "https://mirror.example.com"]
  "registry.local:5001":
    endpoint: ["http://registry.local:5001"]
configs:
  "mirror.example.com":
    tls: { insecure_skip_verify: true }
    auth: { username: u, password: p }
`);

  it("tries the mirrors in order, then the registry itself", () => {
    expect(pullSources("busybox:1", cfg)).toEqual([
      {
        ref: "127.0.0.1:5000/library/busybox:1",
        host: "127.0.0.1:5000",
        plainHttp: true,
        skipVerify: false,
        auth: undefined,
      },
      {
        ref: "mirror.example.com/library/busybox:1",
        host: "mirror.example.com",
        plainHttp: false,
        skipVerify: true,
        auth: { username: "u", password: "p" },
      },
      {
        ref: "docker.io/library/busybox:1",
        host: "docker.io",
        plainHttp: false,
        skipVerify: false,
        auth: undefined,
      },
    ]);
  });

  it("an http endpoint for the registry's own host makes it a plain-HTTP registry", () => {
    expect(pullSources("registry.local:5001/app:2", cfg)).toEqual([
      {
        ref: "registry.local:5001/app:2",
        host: "registry.local:5001",
        plainHttp: true,
        skipVerify: false,
        auth: undefined,
      },
    ]);
  });

  it("an empty file means no mirrors", () => {
    expect(pullSources("quay.io/x/y:1", parseRegistries(""))).toEqual([
      {
        ref: "quay.io/x/y:1",
        host: "quay.io",
        plainHttp: false,
        skipVerify: false,
        auth: undefined,
      },
    ]);
  });
});
