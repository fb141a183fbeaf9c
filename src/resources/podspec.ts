// PodSpec behaviour shared by Pods and every kind holding a pod template (Deployments, Jobs…):
// v1 defaulting as pkg/apis/core/v1/defaults.go and validation as pkg/apis/core/validation
// (ValidatePodSpec, ValidatePodTemplateSpec), with Kubernetes' messages. Pod-only behaviour
// (admission defaults, status, update rules) lives in pod.ts.
import { type Quantity, QuantityError, quantityFromJSON } from "../k8s/quantity.ts";
import {
  duplicate,
  type FieldError,
  forbidden,
  invalid,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  maxLenError,
  notSupported,
  regexError,
  required,
  validateAnnotations,
  validateLabels,
} from "../k8s/validation.ts";
import type { KObject } from "./types.ts";

/** Elements of a list field that are objects (anything else is the decoder's business). */
export const objects = (v: unknown): KObject[] =>
  Array.isArray(v) ? v.filter((x) => x && typeof x === "object" && !Array.isArray(x)) : [];

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);

// ---------------------------------------------------------------------------
// Defaults

/** Every v1 VolumeSource member: a volume with none of them becomes an emptyDir. */
const volumeSources = [
  "hostPath",
  "emptyDir",
  "gcePersistentDisk",
  "awsElasticBlockStore",
  "gitRepo",
  "secret",
  "nfs",
  "iscsi",
  "glusterfs",
  "persistentVolumeClaim",
  "rbd",
  "flexVolume",
  "cinder",
  "cephfs",
  "flocker",
  "downwardAPI",
  "fc",
  "azureFile",
  "configMap",
  "vsphereVolume",
  "quobyte",
  "azureDisk",
  "photonPersistentDisk",
  "projected",
  "portworxVolume",
  "scaleIO",
  "storageos",
  "csi",
  "ephemeral",
  "image",
];

/**
 * The tag parsers.ParseImageName finds: "latest" for an untagged name, "" for a digest-only
 * reference, undefined when the reference does not parse (upper case in the path, spaces…).
 */
export function imageTag(image: unknown): string | undefined {
  if (typeof image !== "string" || !image || /\s/.test(image)) return undefined;
  const at = image.indexOf("@");
  const name = at >= 0 ? image.slice(0, at) : image;
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  const tag = colon > slash ? name.slice(colon + 1) : "";
  const repo = colon > slash ? name.slice(0, colon) : name;
  const first = repo.indexOf("/");
  const domain = first >= 0 && /[.:]|^localhost$/.test(repo.slice(0, first)) ? first + 1 : 0;
  if (!repo || /[A-Z]/.test(repo.slice(domain))) return undefined;
  if (tag) return tag;
  return at >= 0 ? "" : "latest";
}

/** SetDefaults_Container: Always for `:latest` (or no tag), IfNotPresent otherwise. */
export const defaultPullPolicy = (image: unknown): string =>
  imageTag(image) === "latest" ? "Always" : "IfNotPresent";

/** Quantities are stored in their serialized form ("1000m" is kept as "1"). */
export function canonicalResourceList(list: unknown): void {
  if (!isObject(list)) return;
  for (const [k, v] of Object.entries(list)) {
    try {
      list[k] = quantityFromJSON(v).toString();
    } catch {
      // Left as given: validation reports it.
    }
  }
}

function defaultProbe(p: unknown): void {
  if (!isObject(p)) return;
  p.timeoutSeconds ||= 1;
  p.periodSeconds ||= 10;
  p.successThreshold ||= 1;
  p.failureThreshold ||= 3;
  defaultHandler(p);
}

function defaultHandler(h: unknown): void {
  if (!isObject(h) || !isObject(h.httpGet)) return;
  h.httpGet.path ||= "/";
  h.httpGet.scheme ||= "HTTP";
}

function defaultFieldRef(ref: unknown): void {
  if (isObject(ref)) ref.apiVersion ||= "v1";
}

function defaultContainer(c: KObject): void {
  c.imagePullPolicy ||= defaultPullPolicy(c.image);
  c.terminationMessagePath ||= "/dev/termination-log";
  c.terminationMessagePolicy ||= "File";
  for (const p of objects(c.ports)) p.protocol ||= "TCP";
  for (const e of objects(c.env)) defaultFieldRef(e.valueFrom?.fieldRef);
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  defaultHandler(c.lifecycle?.postStart);
  defaultHandler(c.lifecycle?.preStop);
  // ResourceRequirements is a struct, not a pointer: it always serializes, at least as {}.
  if (!isObject(c.resources)) c.resources = {};
  canonicalResourceList(c.resources?.limits);
  canonicalResourceList(c.resources?.requests);
}

const MODE_0644 = 420;

function defaultVolume(v: KObject): void {
  if (!volumeSources.some((k) => v[k] !== undefined && v[k] !== null)) v.emptyDir = {};
  for (const k of ["secret", "configMap", "downwardAPI", "projected"])
    if (isObject(v[k])) v[k].defaultMode ??= MODE_0644;
  if (isObject(v.hostPath)) v.hostPath.type ??= "";
  for (const item of objects(v.downwardAPI?.items)) defaultFieldRef(item.fieldRef);
  for (const source of objects(v.projected?.sources)) {
    for (const item of objects(source.downwardAPI?.items)) defaultFieldRef(item.fieldRef);
    if (isObject(source.serviceAccountToken)) source.serviceAccountToken.expirationSeconds ??= 3600;
  }
}

/** All containers of a spec: init, regular and ephemeral. */
export const allContainers = (spec: KObject | undefined): KObject[] => [
  ...objects(spec?.initContainers),
  ...objects(spec?.containers),
  ...objects(spec?.ephemeralContainers),
];

/** v1 defaulting of a PodSpec (SetDefaults_PodSpec and the defaulters of what it holds). */
export function defaultPodSpec(spec: KObject): void {
  spec.dnsPolicy ||= "ClusterFirst";
  spec.restartPolicy ||= "Always";
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ||= "default-scheduler";
  // v1 still carries the deprecated `serviceAccount`, converted to and from serviceAccountName.
  if (!spec.serviceAccountName && spec.serviceAccount)
    spec.serviceAccountName = spec.serviceAccount;
  if (spec.serviceAccountName) spec.serviceAccount = spec.serviceAccountName;
  for (const c of allContainers(spec)) defaultContainer(c);
  for (const v of objects(spec.volumes)) defaultVolume(v);
}

/** Defaults a pod template (PodTemplateSpec): its spec, created when absent. */
export function defaultPodTemplate(template: KObject): void {
  if (!isObject(template.spec)) template.spec = {};
  defaultPodSpec(template.spec);
}

// ---------------------------------------------------------------------------
// Small validators (util/validation)

export const inclusiveRangeError = (lo: number, hi: number) =>
  `must be between ${lo} and ${hi}, inclusive`;

const isInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n);

/** IsValidPortNum. */
export const portNumErrors = (n: unknown): string[] =>
  isInt(n) && n >= 1 && n <= 65535 ? [] : [inclusiveRangeError(1, 65535)];

/** IsValidPortName (IANA_SVC_NAME). */
export function portNameErrors(name: string): string[] {
  const errs: string[] = [];
  if (name.length > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(name))
    errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!/[a-z]/.test(name)) errs.push("must contain at least one letter (a-z)");
  if (name.includes("--")) errs.push("must not contain consecutive hyphens");
  if (name.startsWith("-") || name.endsWith("-")) errs.push("must not begin or end with a hyphen");
  return errs;
}

/** ValidatePortNumOrName for an IntOrString port. */
export function validatePortNumOrName(port: unknown, path: string): FieldError[] {
  if (typeof port === "string") return portNameErrors(port).map((m) => invalid(path, port, m));
  return portNumErrors(port).map((m) => invalid(path, port, m));
}

export const dnsLabelErrors = (path: string, v: unknown): FieldError[] =>
  typeof v === "string" ? isDNS1123Label(v).map((m) => invalid(path, v, m)) : [];

export const dnsSubdomainErrors = (path: string, v: unknown): FieldError[] =>
  typeof v === "string" ? isDNS1123Subdomain(v).map((m) => invalid(path, v, m)) : [];

const configKeyRe = /^[-._a-zA-Z0-9]+$/;

/** IsConfigMapKey: a file name, also used for Secret keys and key selectors. */
export function configKeyErrors(key: string): string[] {
  const errs: string[] = [];
  if (key.length > 253) errs.push(maxLenError(253));
  if (!configKeyRe.test(key))
    errs.push(
      regexError(
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
        "[-._a-zA-Z0-9]+",
        "key.name",
        "KEY_NAME",
        "key-name",
      ),
    );
  if (key === ".") errs.push("must not be '.'");
  else if (key === "..") errs.push("must not be '..'");
  else if (key.startsWith("..")) errs.push("must not start with '..'");
  return errs;
}

/** Positive integers up to MaxInt32, as activeDeadlineSeconds wants them. */
const MAX_INT32 = 2147483647;

// ---------------------------------------------------------------------------
// Resources

const standardContainerResources = new Set(["cpu", "memory", "ephemeral-storage"]);
const standardResources = new Set([
  "cpu",
  "memory",
  "ephemeral-storage",
  "storage",
  "pods",
  "services",
  "replicationcontrollers",
  "resourcequotas",
  "secrets",
  "configmaps",
  "persistentvolumeclaims",
  "services.nodeports",
  "services.loadbalancers",
]);

const isHugePages = (name: string) => name.startsWith("hugepages-");
const isNative = (name: string) => !name.includes("/") || name.includes("kubernetes.io/");
/** helper.IsOvercommitAllowed: requests may be below limits. */
const overcommitAllowed = (name: string) => isNative(name) && !isHugePages(name);

function resourceNameErrors(name: string, path: string): FieldError[] {
  const msgs = isQualifiedName(name);
  if (msgs.length) return msgs.map((m) => invalid(path, name, m));
  const errs: FieldError[] = [];
  if (!name.includes("/")) {
    if (!standardResources.has(name) && !isHugePages(name))
      errs.push(invalid(path, name, "must be a standard resource type or fully qualified"));
    if (!standardContainerResources.has(name) && !isHugePages(name))
      errs.push(invalid(path, name, "must be a standard resource for containers"));
  } else if (!isNative(name) && name.startsWith("requests.")) {
    errs.push(invalid(path, name, "doesn't follow extended resource name standard"));
  }
  return errs;
}

/** Parses each quantity of a resource list; unparsable ones are reported and left out. */
export function parseResourceList(
  list: unknown,
  path: string,
  errs: FieldError[],
): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  if (!isObject(list)) return out;
  for (const [name, raw] of Object.entries(list)) {
    try {
      out.set(name, quantityFromJSON(raw));
    } catch (err) {
      if (!(err instanceof QuantityError)) throw err;
      errs.push(invalid(`${path}[${name}]`, raw, err.message));
    }
  }
  return out;
}

function quantityValueErrors(name: string, q: Quantity, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (q.sign() < 0) errs.push(invalid(path, q.toString(), "must be greater than or equal to 0"));
  if (!isNative(name) && q.milliValue() % 1000n !== 0n)
    errs.push(invalid(path, q.toString(), "must be an integer"));
  return errs;
}

/** ValidateContainerResourceRequirements: names, non-negative values, requests ≤ limits. */
export function validateResources(res: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const r = isObject(res) ? res : {};
  const limPath = `${path}.limits`;
  const reqPath = `${path}.requests`;
  const limits = parseResourceList(r.limits, limPath, errs);
  const requests = parseResourceList(r.requests, reqPath, errs);
  for (const [name, q] of limits) {
    const at = `${limPath}[${name}]`;
    errs.push(...resourceNameErrors(name, at), ...quantityValueErrors(name, q, at));
  }
  for (const [name, q] of requests) {
    const at = `${reqPath}[${name}]`;
    errs.push(...resourceNameErrors(name, at), ...quantityValueErrors(name, q, at));
    const limit = limits.get(name);
    if (limit) {
      if (q.cmp(limit) !== 0 && !overcommitAllowed(name))
        errs.push(
          invalid(reqPath, q.toString(), `must be equal to ${name} limit of ${limit.toString()}`),
        );
      else if (q.cmp(limit) > 0)
        errs.push(
          invalid(
            reqPath,
            q.toString(),
            `must be less than or equal to ${name} limit of ${limit.toString()}`,
          ),
        );
    } else if (!overcommitAllowed(name)) {
      errs.push(required(limPath, "Limit must be set for non overcommitable resources"));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Containers

const pullPolicies = ["Always", "IfNotPresent", "Never"];
const protocols = ["SCTP", "TCP", "UDP"];
const terminationMessagePolicies = ["File", "FallbackToLogsOnError"];
const envFieldPaths = [
  "metadata.name",
  "metadata.namespace",
  "metadata.uid",
  "spec.nodeName",
  "spec.serviceAccountName",
  "status.hostIP",
  "status.hostIPs",
  "status.podIP",
  "status.podIPs",
];
const subscripted = /^(metadata\.(?:labels|annotations))\['(.*)'\]$/;

/** ValidateObjectFieldSelector for env (no bare labels/annotations without a key). */
function validateFieldRef(ref: KObject, path: string, allowed: readonly string[]): FieldError[] {
  if (!ref.apiVersion) return [required(`${path}.apiVersion`)];
  if (!ref.fieldPath) return [required(`${path}.fieldPath`)];
  const fieldPath = String(ref.fieldPath);
  const m = subscripted.exec(fieldPath);
  if (m) {
    const key = m[1] === "metadata.annotations" ? m[2].toLowerCase() : m[2];
    return isQualifiedName(key).map((msg) => invalid(path, key, msg));
  }
  if (!allowed.includes(fieldPath))
    return [notSupported(`${path}.fieldPath`, fieldPath, [...allowed].sort())];
  return [];
}

function validateKeySelector(sel: KObject, path: string): FieldError[] {
  const errs = dnsSubdomainErrors(`${path}.name`, sel.name ?? "");
  if (!sel.key) errs.push(required(`${path}.key`));
  else
    for (const m of configKeyErrors(String(sel.key))) errs.push(invalid(`${path}.key`, sel.key, m));
  return errs;
}

function validateEnv(env: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [i, e] of objects(env).entries()) {
    const at = `${path}[${i}]`;
    if (!e.name) errs.push(required(`${at}.name`));
    else if (/[^\x20-\x7e]|=/.test(String(e.name)))
      errs.push(
        invalid(
          `${at}.name`,
          e.name,
          "a valid environment variable name must consist only of printable ASCII characters other than '='",
        ),
      );
    if (!isObject(e.valueFrom)) continue;
    const from = e.valueFrom;
    const fromPath = `${at}.valueFrom`;
    let sources = 0;
    if (isObject(from.fieldRef)) {
      sources++;
      errs.push(...validateFieldRef(from.fieldRef, `${fromPath}.fieldRef`, envFieldPaths));
    }
    if (isObject(from.resourceFieldRef)) {
      sources++;
      if (!from.resourceFieldRef.resource)
        errs.push(required(`${fromPath}.resourceFieldRef.resource`));
    }
    if (isObject(from.configMapKeyRef)) {
      sources++;
      errs.push(...validateKeySelector(from.configMapKeyRef, `${fromPath}.configMapKeyRef`));
    }
    if (isObject(from.secretKeyRef)) {
      sources++;
      errs.push(...validateKeySelector(from.secretKeyRef, `${fromPath}.secretKeyRef`));
    }
    if (sources === 0)
      errs.push(
        invalid(
          fromPath,
          "",
          "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ),
      );
    else if (e.value)
      errs.push(invalid(fromPath, "", "may not be specified when `value` is not empty"));
    else if (sources > 1)
      errs.push(invalid(fromPath, "", "may not have more than one field specified at a time"));
  }
  return errs;
}

function validateContainerPorts(ports: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  for (const [i, p] of objects(ports).entries()) {
    const at = `${path}[${i}]`;
    if (p.name) {
      const msgs = portNameErrors(String(p.name));
      if (msgs.length) for (const m of msgs) errs.push(invalid(`${at}.name`, p.name, m));
      else if (names.has(p.name)) errs.push(duplicate(`${at}.name`, p.name));
      else names.add(p.name);
    }
    if (!p.containerPort) errs.push(required(`${at}.containerPort`));
    else
      for (const m of portNumErrors(p.containerPort))
        errs.push(invalid(`${at}.containerPort`, p.containerPort, m));
    if (p.hostPort)
      for (const m of portNumErrors(p.hostPort))
        errs.push(invalid(`${at}.hostPort`, p.hostPort, m));
    if (!p.protocol) errs.push(required(`${at}.protocol`));
    else if (!protocols.includes(p.protocol))
      errs.push(notSupported(`${at}.protocol`, p.protocol, protocols));
  }
  return errs;
}

const handlerKinds = ["exec", "httpGet", "tcpSocket", "grpc", "sleep"];

function validateHandler(h: KObject, path: string): FieldError[] {
  const present = handlerKinds.filter((k) => h[k] !== undefined && h[k] !== null);
  if (present.length === 0) return [required(path, "must specify a handler type")];
  const errs = present
    .slice(1)
    .map((k) => forbidden(`${path}.${k}`, "may not specify more than 1 handler type"));
  if (isObject(h.exec) && !h.exec.command?.length) errs.push(required(`${path}.exec.command`));
  if (isObject(h.httpGet))
    errs.push(...validatePortNumOrName(h.httpGet.port, `${path}.httpGet.port`));
  if (isObject(h.tcpSocket))
    errs.push(...validatePortNumOrName(h.tcpSocket.port, `${path}.tcpSocket.port`));
  if (isObject(h.grpc))
    for (const m of portNumErrors(h.grpc.port))
      errs.push(invalid(`${path}.grpc.port`, h.grpc.port, m));
  return errs;
}

function validateProbe(p: unknown, path: string, mustSucceedOnce: boolean): FieldError[] {
  if (!isObject(p)) return [];
  const errs = validateHandler(p, path);
  for (const f of [
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
  ])
    if (typeof p[f] === "number" && p[f] < 0)
      errs.push(invalid(`${path}.${f}`, p[f], "must be greater than or equal to 0"));
  if (mustSucceedOnce && p.successThreshold !== undefined && p.successThreshold !== 1)
    errs.push(invalid(`${path}.successThreshold`, p.successThreshold, "must be 1"));
  return errs;
}

function validateVolumeMounts(mounts: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  for (const [i, m] of objects(mounts).entries()) {
    const at = `${path}[${i}]`;
    if (!m.name) errs.push(required(`${at}.name`));
    if (!m.mountPath) errs.push(required(`${at}.mountPath`));
    else if (seen.has(m.mountPath))
      errs.push(invalid(`${at}.mountPath`, m.mountPath, "must be unique"));
    else seen.add(m.mountPath);
  }
  return errs;
}

/** validateContainerCommon: what every container kind shares. */
function validateContainer(c: KObject, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!c.name) errs.push(required(`${path}.name`));
  else errs.push(...dnsLabelErrors(`${path}.name`, c.name));
  if (!c.image) errs.push(required(`${path}.image`));
  if (!c.terminationMessagePolicy) errs.push(required(`${path}.terminationMessagePolicy`));
  else if (!terminationMessagePolicies.includes(c.terminationMessagePolicy))
    errs.push(
      notSupported(
        `${path}.terminationMessagePolicy`,
        c.terminationMessagePolicy,
        terminationMessagePolicies,
      ),
    );
  errs.push(...validateContainerPorts(c.ports, `${path}.ports`));
  errs.push(...validateEnv(c.env, `${path}.env`));
  errs.push(...validateVolumeMounts(c.volumeMounts, `${path}.volumeMounts`));
  if (!c.imagePullPolicy) errs.push(required(`${path}.imagePullPolicy`));
  else if (!pullPolicies.includes(c.imagePullPolicy))
    errs.push(notSupported(`${path}.imagePullPolicy`, c.imagePullPolicy, pullPolicies));
  errs.push(...validateResources(c.resources, `${path}.resources`));
  return errs;
}

function validateContainers(spec: KObject, path: string, names: Set<string>): FieldError[] {
  const list = objects(spec.containers);
  if (list.length === 0) return [required(`${path}.containers`)];
  const errs: FieldError[] = [];
  for (const [i, c] of list.entries()) {
    const at = `${path}.containers[${i}]`;
    errs.push(...validateContainer(c, at));
    if (names.has(c.name)) errs.push(duplicate(`${at}.name`, c.name));
    else names.add(c.name);
    errs.push(...validateProbe(c.livenessProbe, `${at}.livenessProbe`, true));
    errs.push(...validateProbe(c.readinessProbe, `${at}.readinessProbe`, false));
    errs.push(...validateProbe(c.startupProbe, `${at}.startupProbe`, true));
    for (const hook of ["postStart", "preStop"])
      if (isObject(c.lifecycle?.[hook]))
        errs.push(...validateHandler(c.lifecycle[hook], `${at}.lifecycle.${hook}`));
    if (c.restartPolicy !== undefined && c.restartPolicy !== null)
      errs.push(forbidden(`${at}.restartPolicy`, "may not be set for non-init containers"));
  }
  return errs;
}

const initOnlyWithoutRestart = "may not be set for init containers without restartPolicy=Always";

function validateInitContainers(spec: KObject, path: string, names: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  for (const [i, c] of objects(spec.initContainers).entries()) {
    const at = `${path}.initContainers[${i}]`;
    errs.push(...validateContainer(c, at));
    const sidecar = c.restartPolicy === "Always";
    if (c.restartPolicy !== undefined && c.restartPolicy !== null && !sidecar)
      errs.push(notSupported(`${at}.restartPolicy`, c.restartPolicy, ["Always"]));
    if (names.has(c.name)) errs.push(duplicate(`${at}.name`, c.name));
    else if (c.name) names.add(c.name);
    if (sidecar) {
      errs.push(...validateProbe(c.livenessProbe, `${at}.livenessProbe`, true));
      errs.push(...validateProbe(c.readinessProbe, `${at}.readinessProbe`, false));
      errs.push(...validateProbe(c.startupProbe, `${at}.startupProbe`, true));
    } else {
      for (const f of ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"])
        if (c[f] !== undefined && c[f] !== null)
          errs.push(forbidden(`${at}.${f}`, initOnlyWithoutRestart));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Volumes

const MAX_MODE = 0o777;

function validateVolumeSource(v: KObject, path: string): FieldError[] {
  const present = volumeSources.filter((k) => v[k] !== undefined && v[k] !== null);
  if (present.length === 0) return [required(path, "must specify a volume type")];
  const errs = present
    .slice(1)
    .map((k) => forbidden(`${path}.${k}`, "may not specify more than 1 volume type"));
  const src = v[present[0]];
  const at = `${path}.${present[0]}`;
  if (!isObject(src)) return errs;
  const need = (f: string) => {
    if (!src[f]) errs.push(required(`${at}.${f}`));
  };
  if (present[0] === "configMap") need("name");
  if (present[0] === "secret") need("secretName");
  if (present[0] === "hostPath") need("path");
  if (present[0] === "persistentVolumeClaim") need("claimName");
  if (present[0] === "nfs") {
    need("server");
    need("path");
  }
  if (
    src.defaultMode !== undefined &&
    !(isInt(src.defaultMode) && src.defaultMode >= 0 && src.defaultMode <= MAX_MODE)
  )
    errs.push(
      invalid(
        `${at}.defaultMode`,
        src.defaultMode,
        "must be a number between 0 and 0777 (octal), both inclusive",
      ),
    );
  for (const [i, item] of objects(src.items).entries()) {
    if (present[0] === "downwardAPI") continue;
    if (!item.key) errs.push(required(`${at}.items[${i}].key`));
    if (!item.path) errs.push(required(`${at}.items[${i}].path`));
  }
  if (
    present[0] === "emptyDir" &&
    src.medium &&
    !["Memory", "HugePages"].includes(src.medium) &&
    !String(src.medium).startsWith("HugePages-")
  )
    errs.push(notSupported(`${at}.medium`, src.medium, ["", "Memory", "HugePages"]));
  return errs;
}

/** ValidateVolumes: names are DNS labels, unique; one source each. */
function validateVolumes(volumes: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  for (const [i, v] of objects(volumes).entries()) {
    const at = `${path}[${i}]`;
    const own = validateVolumeSource(v, at);
    if (!v.name) own.push(required(`${at}.name`));
    else own.push(...dnsLabelErrors(`${at}.name`, v.name));
    if (names.has(v.name)) own.push(duplicate(`${at}.name`, v.name));
    if (own.length === 0) names.add(v.name);
    errs.push(...own);
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Scheduling

const taintEffects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/** validateTaintEffect (empty allowed for tolerations, not for taints). */
export function validateTaintEffect(
  effect: unknown,
  allowEmpty: boolean,
  path: string,
): FieldError[] {
  if (!effect) return allowEmpty ? [] : [required(path)];
  return taintEffects.includes(String(effect)) ? [] : [notSupported(path, effect, taintEffects)];
}

/** ValidateTolerations. */
export function validateTolerations(tolerations: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [i, t] of objects(tolerations).entries()) {
    const at = `${path}[${i}]`;
    if (t.key)
      for (const m of isQualifiedName(String(t.key))) errs.push(invalid(`${at}.key`, t.key, m));
    if (!t.key && t.operator !== "Exists")
      errs.push(
        invalid(
          `${at}.operator`,
          t.operator ?? "",
          'operator must be Exists when `key` is empty, which means "match all values and all keys"',
        ),
      );
    if (
      t.tolerationSeconds !== undefined &&
      t.tolerationSeconds !== null &&
      t.effect !== "NoExecute"
    )
      errs.push(
        invalid(
          `${at}.effect`,
          t.effect ?? "",
          "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ),
      );
    if (!t.operator || t.operator === "Equal") {
      const msgs = isValidLabelValue(String(t.value ?? ""));
      if (msgs.length) errs.push(invalid(`${at}.operator`, t.value, msgs.join(";")));
    } else if (t.operator === "Exists") {
      if (t.value)
        errs.push(invalid(`${at}.operator`, t, "value must be empty when `operator` is 'Exists'"));
    } else errs.push(notSupported(`${at}.operator`, t.operator, ["Equal", "Exists"]));
    errs.push(...validateTaintEffect(t.effect, true, `${at}.effect`));
  }
  return errs;
}

const restartPolicies = ["Always", "OnFailure", "Never"];
const dnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];

// ---------------------------------------------------------------------------
// PodSpec and templates

/** ValidatePodSpec: `path` is where the spec sits ("spec", "spec.template.spec"…). */
export function validatePodSpec(spec: KObject | undefined, path = "spec"): FieldError[] {
  const s = isObject(spec) ? spec : {};
  const errs = validateVolumes(s.volumes, `${path}.volumes`);
  // Container names are unique across regular and init containers.
  const names = new Set<string>();
  errs.push(...validateContainers(s, path, names));
  errs.push(...validateInitContainers(s, path, names));
  if (!s.restartPolicy) errs.push(required(`${path}.restartPolicy`));
  else if (!restartPolicies.includes(s.restartPolicy))
    errs.push(notSupported(`${path}.restartPolicy`, s.restartPolicy, restartPolicies));
  if (!s.dnsPolicy) errs.push(required(`${path}.dnsPolicy`));
  else if (!dnsPolicies.includes(s.dnsPolicy))
    errs.push(notSupported(`${path}.dnsPolicy`, s.dnsPolicy, dnsPolicies));
  errs.push(...validateLabels(s.nodeSelector, `${path}.nodeSelector`));
  if (s.dnsPolicy === "None") {
    if (!isObject(s.dnsConfig))
      errs.push(required(`${path}.dnsConfig`, "must provide `dnsConfig` when `dnsPolicy` is None"));
    else if (!s.dnsConfig.nameservers?.length)
      errs.push(
        required(
          `${path}.dnsConfig.nameservers`,
          "must provide at least one DNS nameserver when `dnsPolicy` is None",
        ),
      );
  }
  for (const [i, g] of objects(s.readinessGates).entries())
    for (const m of isQualifiedName(String(g.conditionType ?? "")))
      errs.push(invalid(`${path}.readinessGates[${i}].conditionType`, g.conditionType ?? "", m));
  if (s.serviceAccountName)
    errs.push(...dnsSubdomainErrors(`${path}.serviceAccountName`, s.serviceAccountName));
  if (s.nodeName) errs.push(...dnsSubdomainErrors(`${path}.nodeName`, s.nodeName));
  if (s.activeDeadlineSeconds !== undefined && s.activeDeadlineSeconds !== null) {
    const v = s.activeDeadlineSeconds;
    if (!isInt(v) || v < 1 || v > MAX_INT32)
      errs.push(invalid(`${path}.activeDeadlineSeconds`, v, inclusiveRangeError(1, MAX_INT32)));
  }
  if (s.hostname) errs.push(...dnsLabelErrors(`${path}.hostname`, s.hostname));
  if (s.subdomain) errs.push(...dnsLabelErrors(`${path}.subdomain`, s.subdomain));
  errs.push(...validateTolerations(s.tolerations, `${path}.tolerations`));
  if (s.priorityClassName)
    errs.push(...dnsSubdomainErrors(`${path}.priorityClassName`, s.priorityClassName));
  if (s.schedulerName) errs.push(...dnsSubdomainErrors(`${path}.schedulerName`, s.schedulerName));
  return errs;
}

/**
 * ValidatePodTemplateSpec: `path` is where the template sits ("spec.template"). Its labels and
 * annotations are reported at `<path>.labels` / `<path>.annotations`, as Kubernetes does.
 */
export function validatePodTemplate(template: KObject | undefined, path: string): FieldError[] {
  const t = isObject(template) ? template : {};
  const meta = isObject(t.metadata) ? t.metadata : {};
  const errs = [
    ...validateLabels(meta.labels, `${path}.labels`),
    ...validateAnnotations(meta.annotations, `${path}.annotations`),
    ...validatePodSpec(t.spec, `${path}.spec`),
  ];
  if (objects(t.spec?.ephemeralContainers).length)
    errs.push(
      forbidden(
        `${path}.spec.ephemeralContainers`,
        "ephemeral containers not allowed in pod template",
      ),
    );
  return errs;
}
