// NodeRestriction for node credentials: a node writes only its own Node and Lease, cannot change
// its taints or the node-restriction.kubernetes.io/ labels (those are the admin's), and its Node
// carries the pod CIDR allocated at join (the node cannot pick another).
import { ApiError } from "../k8s/errors.ts";
import type { KObject, Strategy } from "../resources/types.ts";
import type { UserInfo } from "./authenticate.ts";

type Node = NonNullable<UserInfo["node"]>;

const RESTRICTED_LABELS = "node-restriction.kubernetes.io/";

const forbidden = (subject: string, message: string) =>
  new ApiError(403, "Forbidden", `${subject} is forbidden: ${message}`);

/** Restricted labels the write adds, changes or removes. */
function restrictedLabelChanges(o: KObject, old: KObject | undefined): string[] {
  const now: Record<string, unknown> = o.metadata?.labels ?? {};
  const before: Record<string, unknown> = old?.metadata?.labels ?? {};
  return [...new Set([...Object.keys(now), ...Object.keys(before)])]
    .filter((k) => k.startsWith(RESTRICTED_LABELS) && now[k] !== before[k])
    .sort();
}

function admitNode(node: Node, o: KObject, old: KObject | undefined): void {
  const name = o.metadata?.name;
  const subject = `nodes "${name}"`;
  if (name !== node.name)
    throw forbidden(subject, `node "${node.name}" is not allowed to modify node "${name}"`);
  const labels = restrictedLabelChanges(o, old);
  if (labels.length)
    throw forbidden(
      subject,
      old
        ? `node "${name}" is not allowed to modify labels: ${labels.join(", ")}`
        : `node "${name}" is not allowed to set the following labels: ${labels.join(", ")}`,
    );
  if (old && JSON.stringify(o.spec?.taints ?? []) !== JSON.stringify(old.spec?.taints ?? []))
    throw forbidden(subject, `node "${name}" is not allowed to modify taints`);
  o.spec = { ...o.spec, podCIDR: node.podCIDR, podCIDRs: [node.podCIDR] };
}

/** Runs on every create and update a node makes, before validation. */
export const nodeAdmission =
  (node: Node) =>
  (s: Strategy, o: KObject, old: KObject | undefined): void => {
    if (s.info.kind === "Node") admitNode(node, o, old);
    else if (s.info.kind === "Lease" && o.metadata?.name !== node.name)
      throw forbidden(
        `leases.coordination.k8s.io "${o.metadata?.name}"`,
        "can only access node lease with the same name as the requesting node",
      );
  };
