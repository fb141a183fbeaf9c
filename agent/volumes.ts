// Pod volumes as directories under the pod's sandbox dir (emptyDir; configMap, secret,
// downwardAPI and projected, with ServiceAccount tokens, written as files), or host paths (hostPath), bind-mounted into the
// containers by ctr.
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, normalize } from "node:path";
import {
  ConfigError,
  fieldValue,
  type ObjectSource,
  objectData,
  type PodContext,
  resourceValue,
} from "./env.ts";

export interface Mount {
  source: string;
  destination: string;
  readOnly: boolean;
}

/**
 * Makes `dir` hold exactly `files`, in place: the directory is bind-mounted into running
 * containers, so it is never replaced; changed files are swapped in by rename, stale ones removed.
 */
function writeFiles(dir: string, files: Map<string, { data: string; mode: number }>) {
  mkdirSync(dir, { recursive: true });
  const wanted = new Set<string>();
  for (const [rel, f] of files) {
    const path = normalize(join(dir, rel));
    if (!path.startsWith(`${dir}/`)) throw new ConfigError(`volume path ${rel} escapes its volume`);
    wanted.add(path);
    mkdirSync(dirname(path), { recursive: true });
    let same = false;
    try {
      same = readFileSync(path, "utf8") === f.data && (statSync(path).mode & 0o777) === f.mode;
    } catch {}
    if (same) continue;
    const tmp = join(dirname(path), `.${basename(path)}.tmp`);
    writeFileSync(tmp, f.data, { mode: f.mode });
    chmodSync(tmp, f.mode);
    renameSync(tmp, path);
  }
  const prune = (d: string): boolean => {
    let empty = true;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, e.name);
      if (e.isDirectory() && prune(path)) rmSync(path, { recursive: true });
      else if (e.isDirectory() || wanted.has(path)) empty = false;
      else rmSync(path, { force: true });
    }
    return empty;
  };
  prune(dir);
}

type Files = Map<string, { data: string; mode: number }>;

/** Files of one configMap/secret source (all keys, or the listed items). */
async function objectFiles(
  kind: "configMap" | "secret",
  src: any,
  namespace: string,
  source: ObjectSource,
  defaultMode: number,
  out: Files,
) {
  const name = src.name ?? src.secretName;
  const obj = await source[kind](namespace, name);
  if (!obj) {
    if (src.optional) return;
    throw new ConfigError(`${kind} "${name}" not found`);
  }
  const data = objectData(kind, obj);
  if (src.items?.length) {
    for (const it of src.items) {
      if (!data.has(it.key)) {
        if (src.optional) continue;
        throw new ConfigError(`${kind} "${name}": key ${it.key} not found`);
      }
      out.set(it.path, { data: data.get(it.key) as string, mode: it.mode ?? defaultMode });
    }
  } else for (const [k, v] of data) out.set(k, { data: v, mode: defaultMode });
}

function downwardFiles(pod: any, items: any[], ctx: PodContext, defaultMode: number, out: Files) {
  for (const it of items ?? []) {
    let data = "";
    if (it.fieldRef) data = fieldValue(pod, it.fieldRef.fieldPath, ctx);
    else if (it.resourceFieldRef) {
      const c = (pod.spec.containers ?? []).find(
        (x: any) => x.name === it.resourceFieldRef.containerName,
      );
      data = resourceValue(c, it.resourceFieldRef, ctx);
    }
    out.set(it.path, { data, mode: it.mode ?? defaultMode });
  }
}

/** Prepares every volume of the pod; returns volume name → host path. */
export async function prepareVolumes(
  pod: any,
  dir: string,
  source: ObjectSource,
  ctx: PodContext,
): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  const ns = pod.metadata.namespace;
  for (const v of pod.spec.volumes ?? []) {
    const path = join(dir, "volumes", v.name);
    if (v.hostPath) {
      const type = v.hostPath.type ?? "";
      if (type === "DirectoryOrCreate") mkdirSync(v.hostPath.path, { recursive: true });
      else if (type === "FileOrCreate" && !existsSync(v.hostPath.path)) {
        mkdirSync(dirname(v.hostPath.path), { recursive: true });
        writeFileSync(v.hostPath.path, "");
      } else if (type && type !== "DirectoryOrCreate" && !existsSync(v.hostPath.path))
        throw new ConfigError(`hostPath ${v.hostPath.path} does not exist`);
      paths.set(v.name, v.hostPath.path);
      continue;
    }
    const files: Files = new Map();
    if (v.emptyDir) {
      mkdirSync(path, { recursive: true });
      // World-writable whatever the agent's umask, as the kubelet makes it; with fsGroup, owned
      // by that group and setgid, so what containers write there stays in it.
      const fsGroup = pod.spec?.securityContext?.fsGroup;
      if (typeof fsGroup === "number") {
        chownSync(path, statSync(path).uid, fsGroup);
        chmodSync(path, 0o2777);
      } else chmodSync(path, 0o777);
      paths.set(v.name, path);
      continue;
    }
    if (v.configMap)
      await objectFiles(
        "configMap",
        v.configMap,
        ns,
        source,
        v.configMap.defaultMode ?? 0o644,
        files,
      );
    else if (v.secret)
      await objectFiles("secret", v.secret, ns, source, v.secret.defaultMode ?? 0o644, files);
    else if (v.downwardAPI)
      downwardFiles(pod, v.downwardAPI.items, ctx, v.downwardAPI.defaultMode ?? 0o644, files);
    else if (v.projected) {
      const mode = v.projected.defaultMode ?? 0o644;
      for (const s of v.projected.sources ?? []) {
        if (s.configMap) await objectFiles("configMap", s.configMap, ns, source, mode, files);
        else if (s.secret) await objectFiles("secret", s.secret, ns, source, mode, files);
        else if (s.downwardAPI) downwardFiles(pod, s.downwardAPI.items, ctx, mode, files);
        else if (s.serviceAccountToken)
          files.set(s.serviceAccountToken.path, {
            data: await source.serviceAccountToken(pod, s.serviceAccountToken),
            mode,
          });
      }
    } else {
      // Unsupported volume types (persistentVolumeClaim, …) are empty directories.
      mkdirSync(path, { recursive: true });
      paths.set(v.name, path);
      continue;
    }
    writeFiles(path, files);
    paths.set(v.name, path);
  }
  return paths;
}

/** The container's volumeMounts as host → container bind mounts. */
export function containerMounts(container: any, volumes: Map<string, string>): Mount[] {
  const out: Mount[] = [];
  for (const m of container.volumeMounts ?? []) {
    const base = volumes.get(m.name);
    if (!base) throw new ConfigError(`volume "${m.name}" not found`);
    let source = base;
    if (m.subPath) {
      source = normalize(join(base, m.subPath));
      if (source !== base && !source.startsWith(`${base}/`))
        throw new ConfigError(`subPath ${m.subPath} escapes its volume`);
      if (!existsSync(source)) mkdirSync(source, { recursive: true });
    }
    out.push({ source, destination: m.mountPath, readOnly: !!m.readOnly });
  }
  return out;
}
