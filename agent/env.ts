// A container's environment as the kubelet builds it: envFrom (ConfigMaps, Secrets, with
// prefix), then env (value with $(VAR) expansion, configMapKeyRef, secretKeyRef, fieldRef,
// resourceFieldRef). A missing non-optional reference is a CreateContainerConfigError.
import { parseQuantity } from "../src/k8s/quantity.ts";
import type { TokenSource } from "./service-account-tokens.ts";

/** Reads ConfigMaps and Secrets of the pod's namespace (undefined when not found), and tokens. */
export interface ObjectSource {
  configMap(namespace: string, name: string): Promise<any | undefined>;
  secret(namespace: string, name: string): Promise<any | undefined>;
  /** A token of the pod's ServiceAccount for a projected serviceAccountToken source. */
  serviceAccountToken(pod: any, src: TokenSource): Promise<string>;
}

export interface PodContext {
  podIP?: string;
  hostIP?: string;
  /** Node allocatable, for resourceFieldRef of a container without limits. */
  nodeCPU: number;
  nodeMemory: number;
}

export class ConfigError extends Error {}

/** Expands $(VAR) from `vars`; $$ escapes; unknown references stay as written. */
export function expand(s: string, vars: Map<string, string>): string {
  return s.replace(/\$\$|\$\(([^)]*)\)/g, (m, name: string | undefined) => {
    if (m === "$$") return "$";
    return name !== undefined && vars.has(name) ? (vars.get(name) as string) : m;
  });
}

/** The value a fieldRef names, or throws ConfigError for an unsupported path. */
export function fieldValue(pod: any, path: string, ctx: PodContext): string {
  const md = pod.metadata ?? {};
  const sub = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (sub) return md[sub[1]]?.[sub[2]] ?? "";
  switch (path) {
    case "metadata.name":
      return md.name ?? "";
    case "metadata.namespace":
      return md.namespace ?? "";
    case "metadata.uid":
      return md.uid ?? "";
    case "metadata.labels":
    case "metadata.annotations":
      return Object.entries(md[path.slice(9)] ?? {})
        .map(([k, v]) => `${k}="${v}"`)
        .sort()
        .join("\n");
    case "spec.nodeName":
      return pod.spec?.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "";
    case "status.hostIP":
    case "status.hostIPs":
      return ctx.hostIP ?? "";
    case "status.podIP":
    case "status.podIPs":
      return ctx.podIP ?? "";
  }
  throw new ConfigError(`unsupported fieldRef ${path}`);
}

/** resourceFieldRef: limits/requests of cpu, memory, ephemeral-storage, scaled by the divisor. */
export function resourceValue(container: any, ref: any, ctx: PodContext): string {
  const [kind, name] = String(ref.resource).split(".");
  const res = container?.resources ?? {};
  let raw: string | undefined = res[kind]?.[name];
  if (raw === undefined && kind === "requests") raw = res.limits?.[name];
  const divisor = parseQuantity(String(ref.divisor ?? "1")).toNumber() || 1;
  let value: number;
  if (name === "cpu") value = raw !== undefined ? parseQuantity(raw).toNumber() : ctx.nodeCPU;
  else if (name === "memory" || name === "ephemeral-storage")
    value = raw !== undefined ? parseQuantity(raw).toNumber() : ctx.nodeMemory;
  else throw new ConfigError(`unsupported resourceFieldRef ${ref.resource}`);
  if (raw === undefined && kind === "requests") value = 0;
  return String(Math.ceil(value / divisor - 1e-9));
}

const decode = (b64: string) => Buffer.from(b64, "base64").toString("utf8");

/** Key → value of a ConfigMap (data and binaryData) or a Secret (data, base64). */
export function objectData(kind: "configMap" | "secret", obj: any): Map<string, string> {
  const m = new Map<string, string>();
  if (kind === "configMap") {
    for (const [k, v] of Object.entries(obj.data ?? {})) m.set(k, String(v));
    for (const [k, v] of Object.entries(obj.binaryData ?? {})) m.set(k, decode(String(v)));
  } else {
    for (const [k, v] of Object.entries(obj.data ?? {})) m.set(k, decode(String(v)));
    for (const [k, v] of Object.entries(obj.stringData ?? {})) m.set(k, String(v));
  }
  return m;
}

/** NAME=value strings for the container, in Kubernetes' order and precedence. */
export async function resolveEnv(
  pod: any,
  container: any,
  source: ObjectSource,
  ctx: PodContext,
): Promise<string[]> {
  const ns = pod.metadata.namespace;
  const vars = new Map<string, string>();
  const load = async (kind: "configMap" | "secret", name: string, optional: boolean) => {
    const obj = await source[kind](ns, name);
    if (!obj) {
      if (optional) return undefined;
      throw new ConfigError(`${kind} "${name}" not found`);
    }
    return objectData(kind, obj);
  };
  for (const from of container.envFrom ?? []) {
    const kind = from.configMapRef ? "configMap" : "secret";
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const data = await load(kind, ref.name, !!ref.optional);
    for (const [k, v] of data ?? []) vars.set(`${from.prefix ?? ""}${k}`, v);
  }
  for (const e of container.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      vars.set(e.name, expand(e.value ?? "", vars));
      continue;
    }
    if (vf.fieldRef) vars.set(e.name, fieldValue(pod, vf.fieldRef.fieldPath, ctx));
    else if (vf.resourceFieldRef) {
      const target = vf.resourceFieldRef.containerName
        ? [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].find(
            (c: any) => c.name === vf.resourceFieldRef.containerName,
          )
        : container;
      vars.set(e.name, resourceValue(target, vf.resourceFieldRef, ctx));
    } else {
      const kind = vf.configMapKeyRef ? "configMap" : "secret";
      const ref = vf.configMapKeyRef ?? vf.secretKeyRef;
      if (!ref) continue;
      const data = await load(kind, ref.name, !!ref.optional);
      if (!data) continue;
      if (!data.has(ref.key)) {
        if (ref.optional) continue;
        throw new ConfigError(
          `couldn't find key ${ref.key} in ${kind === "configMap" ? "ConfigMap" : "Secret"} ${ns}/${ref.name}`,
        );
      }
      vars.set(e.name, data.get(ref.key) as string);
    }
  }
  return [...vars].map(([k, v]) => `${k}=${v}`);
}
