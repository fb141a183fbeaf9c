// Nodes: pkg/registry/core/node/strategy.go, SetDefaults_NodeStatus, ValidateNode /
// ValidateNodeUpdate and kubectl's printNode. A Node is created with its status (the kubelet
// registers with capacity and addresses), so create keeps it; a spec write keeps the old one.
import {
  type FieldError,
  forbidden,
  invalid,
  isQualifiedName,
  isValidLabelValue,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { validateCIDR } from "./netaddr.ts";
import { canonicalResourceList, objects, validateTaintEffect } from "./podspec.ts";
import { ageColumn, column, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);

function defaultNode(o: KObject): void {
  if (!isObject(o.spec)) o.spec = {};
  const spec = o.spec;
  // v1 carries podCIDR and podCIDRs; the first of the list is the single value.
  if (spec.podCIDR && !spec.podCIDRs?.length) spec.podCIDRs = [spec.podCIDR];
  if (Array.isArray(spec.podCIDRs) && spec.podCIDRs.length) spec.podCIDR = spec.podCIDRs[0];
  if (!isObject(o.status)) return;
  canonicalResourceList(o.status.capacity);
  canonicalResourceList(o.status.allocatable);
  if (o.status.allocatable === undefined && isObject(o.status.capacity))
    o.status.allocatable = { ...o.status.capacity };
}

/** validateNodeTaints. */
function validateTaints(taints: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  for (const [i, t] of objects(taints).entries()) {
    const at = `${path}[${i}]`;
    for (const m of isQualifiedName(String(t.key ?? "")))
      errs.push(invalid(`${at}.key`, t.key ?? "", m));
    const msgs = isValidLabelValue(String(t.value ?? ""));
    if (msgs.length) errs.push(invalid(`${at}.value`, t.value, msgs.join(";")));
    errs.push(...validateTaintEffect(t.effect, false, `${at}.effect`));
    const key = `${t.effect}\u0000${t.key}`;
    if (seen.has(key))
      errs.push({
        type: "FieldValueDuplicate",
        field: at,
        value: t,
        detail: "taints must be unique by key and effect pair",
      });
    seen.add(key);
  }
  return errs;
}

function validateNode(o: KObject): FieldError[] {
  const spec: KObject = isObject(o.spec) ? o.spec : {};
  const errs = validateTaints(spec.taints, "spec.taints");
  const cidrs: unknown[] = Array.isArray(spec.podCIDRs) ? spec.podCIDRs : [];
  cidrs.forEach((c, i) => {
    errs.push(...validateCIDR(`spec.podCIDRs[${i}]`, c));
  });
  if (cidrs.length > 1) {
    const v6 = cidrs.filter((c) => String(c).includes(":")).length;
    if (cidrs.length > 2 || v6 !== 1)
      errs.push(
        invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family"),
      );
  }
  return errs;
}

const cidrMessage = 'node updates may not change podCIDR except from "" to valid';

function validateNodeUpdate(o: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const before: unknown[] = Array.isArray(old.spec?.podCIDRs) ? old.spec.podCIDRs : [];
  const after: unknown[] = Array.isArray(o.spec?.podCIDRs) ? o.spec.podCIDRs : [];
  if (before.length) {
    if (before.length !== after.length) errs.push(forbidden("spec.podCIDRs", cidrMessage));
    else
      before.forEach((c, i) => {
        if (c !== after[i]) errs.push(forbidden("spec.podCIDRs", cidrMessage));
      });
  }
  if (old.spec?.providerID && old.spec.providerID !== o.spec?.providerID)
    errs.push(
      forbidden(
        "spec.providerID",
        'node updates may not change providerID except from "" to valid',
      ),
    );
  return errs;
}

/** printNode's STATUS: Ready / NotReady / Unknown, then SchedulingDisabled when cordoned. */
export function nodeStatus(o: KObject): string {
  const ready = objects(o.status?.conditions).find((c) => c.type === "Ready");
  const status = [ready ? (ready.status === "True" ? "Ready" : "NotReady") : "Unknown"];
  if (o.spec?.unschedulable) status.push("SchedulingDisabled");
  return status.join(",");
}

/** findNodeRoles: node-role.kubernetes.io/<role> labels and the older kubernetes.io/role. */
export function nodeRoles(o: KObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) {
    if (k.startsWith("node-role.kubernetes.io/")) {
      const role = k.slice("node-role.kubernetes.io/".length);
      if (role) roles.add(role);
    } else if (k === "kubernetes.io/role" && v) roles.add(String(v));
  }
  return roles.size ? [...roles].sort().join(",") : "<none>";
}

const address = (o: KObject, type: string) =>
  objects(o.status?.addresses).find((a) => a.type === type)?.address ?? "<none>";

const info = (o: KObject, f: string) => o.status?.nodeInfo?.[f] || "<unknown>";

export const nodes = defineStrategy(findInfo("", "nodes"), {
  generation: false,
  // Status is kept on create (see above) and restored on spec writes in prepareForUpdate.
  statusSubresource: false,
  defaults: defaultNode,
  prepareForUpdate(o, old) {
    if (old.status === undefined) delete o.status;
    else o.status = old.status;
  },
  validate: validateNode,
  validateUpdate: validateNodeUpdate,
  fields: (o) => ({ "spec.unschedulable": String(o.spec?.unschedulable === true) }),
  columns: [
    nameColumn,
    column("Status", nodeStatus, { description: "The status of the node" }),
    column("Roles", nodeRoles, { description: "The roles of the node" }),
    ageColumn,
    column("Version", (o) => o.status?.nodeInfo?.kubeletVersion ?? "", {
      description: "Kubelet Version reported by the node.",
    }),
    wide("Internal-IP", (o) => address(o, "InternalIP")),
    wide("External-IP", (o) => address(o, "ExternalIP")),
    wide("OS-Image", (o) => info(o, "osImage")),
    wide("Kernel-Version", (o) => info(o, "kernelVersion")),
    wide("Container-Runtime", (o) => info(o, "containerRuntimeVersion")),
  ],
});
