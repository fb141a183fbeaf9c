// Image references and registry settings, read from a registries.yaml like k3s':
//   mirrors:
//     docker.io:
//       endpoint: ["http://127.0.0.1:5000"]
//   configs:
//     "registry.local:5000":
//       tls: { insecure_skip_verify: true }
//       auth: { username: u, password: p }
// An endpoint with http:// is pulled over plain HTTP.
import { readFileSync } from "node:fs";
import { parse } from "yaml";

export interface RegistryConfig {
  mirrors: Record<string, { endpoint?: string[] }>;
  configs: Record<
    string,
    {
      tls?: { insecure_skip_verify?: boolean };
      auth?: { username?: string; password?: string };
    }
  >;
}

export function loadRegistries(file?: string): RegistryConfig {
  if (!file) return { mirrors: {}, configs: {} };
  return parseRegistries(readFileSync(file, "utf8"));
}

export function parseRegistries(text: string): RegistryConfig {
  const doc = (parse(text) ?? {}) as Partial<RegistryConfig>;
  return { mirrors: doc.mirrors ?? {}, configs: doc.configs ?? {} };
}

export interface ImageRef {
  /** Registry host, e.g. docker.io or 127.0.0.1:5000. */
  host: string;
  /** Repository path, e.g. library/busybox. */
  repo: string;
  tag?: string;
  digest?: string;
}

/** Parse an image name the way Docker does: `busybox` → docker.io/library/busybox:latest. */
export function parseImage(image: string): ImageRef {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  let host = "docker.io";
  let repo = rest;
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    host = first;
    repo = rest.slice(slash + 1);
  }
  if (host === "docker.io" && !repo.includes("/")) repo = `library/${repo}`;
  if (!tag && !digest) tag = "latest";
  return { host, repo, tag, digest };
}

export function formatImage(r: ImageRef, host = r.host): string {
  return `${host}/${r.repo}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}

/** Kubernetes' default: Always for :latest or no tag, IfNotPresent otherwise. */
export function defaultPullPolicy(image: string): string {
  const r = parseImage(image);
  return !r.digest && r.tag === "latest" ? "Always" : "IfNotPresent";
}

export interface PullSource {
  /** The reference to pull (mirror host substituted). */
  ref: string;
  host: string;
  plainHttp: boolean;
  skipVerify: boolean;
  auth?: { username?: string; password?: string };
}

/** Where to pull `image` from, in order: its mirrors (or the `*` mirrors), then the registry. */
export function pullSources(image: string, cfg: RegistryConfig): PullSource[] {
  const r = parseImage(image);
  const endpoints = cfg.mirrors[r.host]?.endpoint ?? cfg.mirrors["*"]?.endpoint ?? [];
  const out: PullSource[] = [];
  const add = (host: string, plainHttp: boolean) => {
    const c = cfg.configs[host] ?? {};
    out.push({
      ref: formatImage(r, host),
      host,
      plainHttp,
      skipVerify: !!c.tls?.insecure_skip_verify,
      auth: c.auth,
    });
  };
  for (const e of endpoints) {
    const u = new URL(e.includes("://") ? e : `https://${e}`);
    add(u.host, u.protocol === "http:");
  }
  if (!out.some((s) => s.host === r.host)) add(r.host, false);
  return out;
}
