// Pods: pkg/registry/core/pod/strategy.go, SetDefaults_Pod, the ServiceAccount admission
// default, ValidatePodUpdate, and kubectl's printPod.
import { type Quantity, quantityFromJSON } from "../k8s/quantity.ts";
import { type FieldError, forbidden, invalid, required } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { jsonDiff, jsonEqual } from "./diff.ts";
import { findInfo } from "./find.ts";
import {
  defaultPodSpec,
  inclusiveRangeError,
  objects,
  validatePodSpec,
  validateTolerations,
} from "./podspec.ts";
import { ageColumn, column, humanDuration, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);

const nowStamp = () => `${new Date().toISOString().slice(0, 19)}Z`;

/** SetDefaults_Pod (the DefaultTolerationSeconds admission is in admission.ts). */
function defaultPod(o: KObject): void {
  if (!isObject(o.spec)) o.spec = {};
  const spec = o.spec;
  defaultPodSpec(spec);
  const workers = [...objects(spec.initContainers), ...objects(spec.containers)];
  // Limits without requests make the requests (only for Pods, not for templates).
  for (const c of workers) {
    const r = c.resources;
    if (!isObject(r) || !isObject(r.limits)) continue;
    if (!isObject(r.requests)) r.requests = {};
    for (const [k, v] of Object.entries(r.limits)) if (!(k in r.requests)) r.requests[k] = v;
  }
  spec.enableServiceLinks ??= true;
  if (spec.hostNetwork)
    for (const c of workers) for (const p of objects(c.ports)) p.hostPort ||= p.containerPort;
}

const parseOrUndefined = (v: unknown): Quantity | undefined => {
  try {
    return quantityFromJSON(v);
  } catch {
    return undefined;
  }
};

/** qos.ComputePodQOS from container requests and limits of cpu and memory. */
export function podQOSClass(spec: KObject | undefined): string {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let guaranteed = true;
  const sum = (into: Map<string, Quantity>, list: unknown, found?: Set<string>) => {
    for (const [name, raw] of Object.entries(isObject(list) ? list : {})) {
      if (name !== "cpu" && name !== "memory") continue;
      const q = parseOrUndefined(raw);
      if (!q || q.sign() <= 0) continue;
      found?.add(name);
      const had = into.get(name);
      into.set(name, had ? had.add(q) : q);
    }
  };
  for (const c of [...objects(spec?.containers), ...objects(spec?.initContainers)]) {
    sum(requests, c.resources?.requests);
    const found = new Set<string>();
    sum(limits, c.resources?.limits, found);
    if (!found.has("cpu") || !found.has("memory")) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return "BestEffort";
  for (const [name, r] of requests) {
    const l = limits.get(name);
    if (l?.cmp(r) !== 0) guaranteed = false;
  }
  return guaranteed && requests.size === limits.size ? "Guaranteed" : "Burstable";
}

function prepareForCreate(o: KObject): void {
  const spec = o.spec;
  // The ServiceAccount admission plugin names the default account.
  spec.serviceAccountName ||= "default";
  spec.serviceAccount = spec.serviceAccountName;
  o.status = { phase: "Pending", qosClass: podQOSClass(spec) };
  if (objects(spec.schedulingGates).length)
    o.status.conditions = [
      {
        type: "PodScheduled",
        status: "False",
        reason: "SchedulingGated",
        message: "Scheduling is blocked due to non-empty scheduling gates",
        lastProbeTime: null,
        lastTransitionTime: nowStamp(),
      },
    ];
}

function validatePod(o: KObject): FieldError[] {
  const errs = validatePodSpec(o.spec, "spec");
  if (objects(o.spec?.ephemeralContainers).length)
    errs.push(forbidden("spec.ephemeralContainers", "cannot be set on create"));
  if (o.spec?.nodeName && objects(o.spec?.schedulingGates).length)
    errs.push(
      forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"),
    );
  return errs;
}

// ---------------------------------------------------------------------------
// Updates (ValidatePodUpdate)

export const updatablePodSpecFields = [
  "`spec.containers[*].image`",
  "`spec.initContainers[*].image`",
  "`spec.activeDeadlineSeconds`",
  "`spec.tolerations` (only additions to existing tolerations)",
  "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/** ValidateContainerUpdates: same count; images present and without surrounding spaces. */
function containerUpdates(next: unknown, prev: unknown, path: string) {
  const a = objects(next);
  if (a.length !== objects(prev).length)
    return { errs: [forbidden(path, "pod updates may not add or remove containers")], stop: true };
  const errs: FieldError[] = [];
  for (const [i, c] of a.entries()) {
    if (!c.image) errs.push(required(`${path}[${i}].image`));
    else if (String(c.image).trim() !== c.image)
      errs.push(
        invalid(`${path}[${i}].image`, c.image, "must not have leading or trailing whitespace"),
      );
  }
  return { errs, stop: false };
}

/** validateOnlyAddedTolerations: every old toleration stays (its tolerationSeconds may change). */
function onlyAddedTolerations(next: unknown, prev: unknown, path: string): FieldError[] {
  const now = objects(next);
  for (const old of objects(prev)) {
    const kept = now.some((t) => jsonEqual({ ...old, tolerationSeconds: t.tolerationSeconds }, t));
    if (!kept)
      return [
        forbidden(path, "existing toleration can not be modified except its tolerationSeconds"),
      ];
  }
  return validateTolerations(next, path);
}

function onlyDeletedSchedulingGates(next: unknown, prev: unknown, path: string): FieldError[] {
  const old = new Set(objects(prev).map((g) => g.name));
  return objects(next).flatMap((g, i) =>
    old.has(g.name)
      ? []
      : [
          forbidden(
            `${path}[${i}].name`,
            `only deletion is allowed, but found new scheduling gate '${g.name}'`,
          ),
        ],
  );
}

function validatePodUpdate(o: KObject, old: KObject): FieldError[] {
  const spec: KObject = isObject(o.spec) ? o.spec : {};
  const prev: KObject = isObject(old.spec) ? old.spec : {};
  const errs: FieldError[] = [];
  for (const list of ["containers", "initContainers"]) {
    const r = containerUpdates(spec[list], prev[list], `spec.${list}`);
    errs.push(...r.errs);
    if (r.stop) return errs;
  }
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined && ads !== null) {
    if (typeof ads !== "number" || ads < 0 || ads > 2147483647)
      return [
        ...errs,
        invalid("spec.activeDeadlineSeconds", ads, inclusiveRangeError(0, 2147483647)),
      ];
    if (typeof prev.activeDeadlineSeconds === "number" && prev.activeDeadlineSeconds < ads)
      return [
        ...errs,
        invalid("spec.activeDeadlineSeconds", ads, "must be less than or equal to previous value"),
      ];
  } else if (prev.activeDeadlineSeconds !== undefined && prev.activeDeadlineSeconds !== null) {
    errs.push(
      invalid(
        "spec.activeDeadlineSeconds",
        null,
        "must not update from a positive integer to nil value",
      ),
    );
  }
  errs.push(...onlyAddedTolerations(spec.tolerations, prev.tolerations, "spec.tolerations"));
  errs.push(
    ...onlyDeletedSchedulingGates(
      spec.schedulingGates,
      prev.schedulingGates,
      "spec.schedulingGates",
    ),
  );
  if (jsonEqual(spec, prev)) return errs;
  // What may change is set back to the old values; anything still different is forbidden.
  const munged = structuredClone(spec);
  for (const list of ["containers", "initContainers"]) {
    const before = objects(prev[list]);
    objects(munged[list]).forEach((c, i) => {
      c.image = before[i]?.image;
    });
  }
  munged.activeDeadlineSeconds = prev.activeDeadlineSeconds;
  munged.schedulingGates = prev.schedulingGates;
  munged.tolerations = prev.tolerations;
  if (prev.terminationGracePeriodSeconds < 0 && munged.terminationGracePeriodSeconds === 1)
    munged.terminationGracePeriodSeconds = prev.terminationGracePeriodSeconds;
  if (!jsonEqual(munged, prev)) {
    const diff = ["  core.PodSpec{", ...jsonDiff(prev, munged), "  }"].join("\n");
    errs.push(
      forbidden(
        "spec",
        `pod updates may not change fields other than ${updatablePodSpecFields.join(",")}\n${diff}`,
      ),
    );
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Table (printPod)

const podIP = (o: KObject): string => o.status?.podIPs?.[0]?.ip ?? o.status?.podIP ?? "";

const finishedAt = (s: KObject): number => {
  const t = s.lastState?.terminated?.finishedAt;
  return t ? Date.parse(t) : 0;
};

const conditionTrue = (o: KObject, type: string) =>
  objects(o.status?.conditions).some((c) => c.type === type && c.status === "True");

/** READY, STATUS and RESTARTS as kubectl prints them. */
export function podSummary(o: KObject, now: number) {
  const spec: KObject = isObject(o.spec) ? o.spec : {};
  const status: KObject = isObject(o.status) ? o.status : {};
  const inits = objects(spec.initContainers);
  const restartable = new Set(inits.filter((c) => c.restartPolicy === "Always").map((c) => c.name));
  const total = objects(spec.containers).length + restartable.size;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  let sidecarLastRestart = 0;
  let reason: string = status.reason || status.phase || "";
  if (
    objects(status.conditions).some(
      (c) => c.type === "PodScheduled" && c.reason === "SchedulingGated",
    )
  )
    reason = "SchedulingGated";

  let initializing = false;
  for (const [i, c] of objects(status.initContainerStatuses).entries()) {
    restarts += c.restartCount ?? 0;
    lastRestart = Math.max(lastRestart, finishedAt(c));
    const sidecar = restartable.has(c.name);
    if (sidecar) {
      sidecarRestarts += c.restartCount ?? 0;
      sidecarLastRestart = Math.max(sidecarLastRestart, finishedAt(c));
    }
    const term = c.state?.terminated;
    const waiting = c.state?.waiting;
    if (term && term.exitCode === 0) continue;
    if (sidecar && c.started) {
      if (c.ready) ready++;
      continue;
    }
    if (term) {
      if (term.reason) reason = `Init:${term.reason}`;
      else if (term.signal) reason = `Init:Signal:${term.signal}`;
      else reason = `Init:ExitCode:${term.exitCode ?? 0}`;
    } else if (waiting?.reason && waiting.reason !== "PodInitializing") {
      reason = `Init:${waiting.reason}`;
    } else {
      reason = `Init:${i}/${inits.length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(o, "Initialized")) {
    restarts = sidecarRestarts;
    lastRestart = sidecarLastRestart;
    let running = false;
    const statuses = objects(status.containerStatuses);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i];
      restarts += c.restartCount ?? 0;
      lastRestart = Math.max(lastRestart, finishedAt(c));
      const term = c.state?.terminated;
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (term?.reason) reason = term.reason;
      else if (term)
        reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode ?? 0}`;
      else if (c.ready && c.state?.running) {
        running = true;
        ready++;
      }
    }
    if (reason === "Completed" && running)
      reason = conditionTrue(o, "Ready") ? "Running" : "NotReady";
  }

  const terminal = status.phase === "Succeeded" || status.phase === "Failed";
  if (o.metadata?.deletionTimestamp && status.reason === "NodeLost") reason = "Unknown";
  else if (o.metadata?.deletionTimestamp && !terminal) reason = "Terminating";

  const restartText =
    restarts !== 0 && lastRestart > 0
      ? `${restarts} (${humanDuration(now - lastRestart)} ago)`
      : String(restarts);
  return { ready: `${ready}/${total}`, reason, restarts: restartText };
}

function readinessGates(o: KObject): string {
  const gates = objects(o.spec?.readinessGates);
  if (gates.length === 0) return "<none>";
  const conditions = objects(o.status?.conditions);
  const met = gates.filter(
    (g) => conditions.find((c) => c.type === g.conditionType)?.status === "True",
  ).length;
  return `${met}/${gates.length}`;
}

export const pods = defineStrategy(findInfo("", "pods"), {
  defaults: defaultPod,
  prepareForCreate,
  validate: validatePod,
  validateUpdate: validatePodUpdate,
  fields: (o) => ({
    "spec.nodeName": o.spec?.nodeName ?? "",
    "spec.restartPolicy": o.spec?.restartPolicy ?? "",
    "spec.schedulerName": o.spec?.schedulerName ?? "",
    "spec.serviceAccountName": o.spec?.serviceAccountName ?? "",
    "spec.hostNetwork": String(o.spec?.hostNetwork === true),
    "status.phase": o.status?.phase ?? "",
    "status.podIP": podIP(o),
    "status.nominatedNodeName": o.status?.nominatedNodeName ?? "",
  }),
  nodeName: (o) => o.spec?.nodeName || null,
  columns: [
    nameColumn,
    column("Ready", (o, now) => podSummary(o, now).ready, {
      description: "The aggregate readiness state of this pod for accepting traffic.",
    }),
    column("Status", (o, now) => podSummary(o, now).reason, {
      description: "The aggregate status of the containers in this pod.",
    }),
    column("Restarts", (o, now) => podSummary(o, now).restarts, {
      description:
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    }),
    ageColumn,
    wide("IP", (o) => podIP(o) || "<none>"),
    wide("Node", (o) => o.spec?.nodeName || "<none>"),
    wide("Nominated Node", (o) => o.status?.nominatedNodeName || "<none>"),
    wide("Readiness Gates", readinessGates),
  ],
});
