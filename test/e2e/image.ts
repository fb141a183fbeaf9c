// The test image and the registry it is pushed to, built on this machine from Debian packages:
// an OCI image layout holding Debian's static busybox (busybox-static), pushed with skopeo to
// Debian's docker-registry listening on a free loopback port. Deterministic: the same binary and
// tag give the same digest.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { run } from "../../scripts/run.ts";
import { freePort } from "./cluster.ts";

export const BUSYBOX = "/bin/busybox";
export const REPOSITORY = "kubeflare/busybox";
/** The image's default process: busybox httpd serving /www on this port, logging requests. */
export const HTTP_PORT = 80;

/** Applets linked into /bin (all present in Debian 12's busybox-static). */
// biome-ignore format: a list of names
const APPLETS = [
  "sh", "ash", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "df", "dirname", "echo",
  "env", "false", "find", "free", "grep", "head", "hostname", "httpd", "id", "ifconfig", "ip",
  "kill", "ln", "ls", "mkdir", "mount", "mv", "nc", "nproc", "nslookup", "printf", "ps", "pwd",
  "readlink", "rm", "sed", "seq", "sha256sum", "sleep", "sort", "stat", "tail", "tee", "test",
  "timeout", "touch", "tr", "true", "uname", "uniq", "wc", "wget", "which", "xargs", "yes",
];

/** The page `GET /` answers with in an image of this tag. */
export const indexPage = (tag: string) => `kubeflare busybox ${tag}\n`;

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const MTIME = Date.UTC(2026, 0, 1) / 1000;

interface Entry {
  path: string;
  type: "dir" | "file" | "symlink";
  mode: number;
  data?: Buffer;
  target?: string;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

/** A ustar archive: files owned by root, one fixed mtime. */
function tar(entries: Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    const name = e.type === "dir" ? `${e.path}/` : e.path;
    if (name.length > 100) throw new Error(`tar: path too long: ${name}`);
    const size = e.type === "file" ? (e.data as Buffer).length : 0;
    h.write(name, 0, "utf8");
    h.write(octal(e.mode, 8), 100);
    h.write(octal(0, 8), 108);
    h.write(octal(0, 8), 116);
    h.write(octal(size, 12), 124);
    h.write(octal(MTIME, 12), 136);
    h.write("        ", 148);
    h.write(e.type === "dir" ? "5" : e.type === "symlink" ? "2" : "0", 156);
    if (e.target) h.write(e.target, 157);
    h.write("ustar\0", 257);
    h.write("00", 263);
    h.write("root", 265);
    h.write("root", 297);
    let sum = 0;
    for (const byte of h) sum += byte;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    blocks.push(h);
    if (size) {
      blocks.push(e.data as Buffer);
      const pad = (512 - (size % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function rootfs(tag: string): Entry[] {
  const dir = (path: string, mode = 0o755): Entry => ({ path, type: "dir", mode });
  const file = (path: string, data: string | Buffer, mode = 0o644): Entry => ({
    path,
    type: "file",
    mode,
    data: Buffer.from(data),
  });
  return [
    dir("bin"),
    file("bin/busybox", readFileSync(BUSYBOX), 0o755),
    ...APPLETS.map(
      (a): Entry => ({ path: `bin/${a}`, type: "symlink", mode: 0o777, target: "busybox" }),
    ),
    dir("etc"),
    file("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
    dir("root", 0o700),
    dir("tmp", 0o1777),
    dir("www"),
    file("www/index.html", indexPage(tag)),
  ];
}

const GOARCH: Record<string, string> = { x64: "amd64", arm64: "arm64" };

export interface BuiltImage {
  /** OCI image layout directory (usable as `oci:<dir>:<tag>`). */
  layout: string;
  tag: string;
  /** Digest of the image manifest. */
  digest: string;
}

/** Writes an OCI image layout for `tag` into `layout` (created if missing). */
export function buildImage(layout: string, tag: string): BuiltImage {
  const blobs = join(layout, "blobs", "sha256");
  mkdirSync(blobs, { recursive: true });
  const blob = (data: Buffer | string) => {
    const digest = sha256(data);
    writeFileSync(join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(data) };
  };
  const layerTar = tar(rootfs(tag));
  const layer = blob(gzipSync(layerTar, { level: 9 }));
  const config = blob(
    JSON.stringify({
      created: new Date(MTIME * 1000).toISOString(),
      architecture: GOARCH[process.arch] ?? process.arch,
      os: "linux",
      config: {
        Entrypoint: ["httpd", "-f", "-v", "-h", "/www"],
        Cmd: ["-p", String(HTTP_PORT)],
        Env: [
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          `IMAGE_TAG=${tag}`,
        ],
        WorkingDir: "/www",
        ExposedPorts: { [`${HTTP_PORT}/tcp`]: {} },
        Labels: { "org.opencontainers.image.version": tag },
      },
      rootfs: { type: "layers", diff_ids: [`sha256:${sha256(layerTar)}`] },
      history: [{ created: new Date(MTIME * 1000).toISOString(), created_by: "test/e2e/image.ts" }],
    }),
  );
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
    }),
  );
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const indexPath = join(layout, "index.json");
  let manifests: { annotations?: Record<string, string> }[] = [];
  try {
    manifests = JSON.parse(readFileSync(indexPath, "utf8")).manifests ?? [];
  } catch {}
  manifests = manifests.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] !== tag);
  manifests.push({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    ...manifest,
    annotations: { "org.opencontainers.image.ref.name": tag },
  } as { annotations: Record<string, string> });
  writeFileSync(indexPath, JSON.stringify({ schemaVersion: 2, manifests }));
  return { layout, tag, digest: manifest.digest };
}

export interface Registry {
  /** `127.0.0.1:<port>`: the host part of image references. */
  host: string;
  port: number;
  /** Temp dir holding the config and the storage. */
  dir: string;
  pid: number;
  /** `127.0.0.1:<port>/kubeflare/busybox:<tag>` */
  ref(tag: string): string;
  /** Builds the busybox image for `tag` and pushes it; returns the full reference. */
  push(tag: string): Promise<string>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Starts Debian's docker-registry on a free loopback port with its storage in a temp dir. */
export async function startRegistry(): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), "kubeflare-registry-"));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configPath = join(dir, "config.yml");
  writeFileSync(
    configPath,
    `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, "storage")}
  delete:
    enabled: true
http:
  addr: ${host}
`,
  );
  const child = spawn("docker-registry", ["serve", configPath], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (d) => {
    log += d;
  });
  const pid = child.pid as number;
  const stop = async () => {
    if (alive(child)) {
      child.kill("SIGTERM");
      for (let i = 0; i < 50 && alive(child); i++) await sleep(100);
      if (alive(child)) child.kill("SIGKILL");
      while (alive(child)) await sleep(50);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) break;
    } catch {}
    if (!alive(child) || i > 100) {
      await stop();
      throw new Error(`docker-registry did not start on ${host}:\n${log}`);
    }
    await sleep(100);
  }
  const layout = join(dir, "layout");
  const ref = (tag: string) => `${host}/${REPOSITORY}:${tag}`;
  return {
    host,
    port,
    dir,
    pid,
    ref,
    async push(tag) {
      buildImage(layout, tag);
      await run(
        "skopeo",
        [
          "copy",
          "--quiet",
          "--dest-tls-verify=false",
          `oci:${layout}:${tag}`,
          `docker://${ref(tag)}`,
        ],
        { quiet: true },
      );
      return ref(tag);
    },
    stop,
  };
}
