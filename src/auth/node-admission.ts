// NodeRestriction for node credentials: a node writes only its own Node and Lease, and its Node
// carries the pod CIDR allocated at join (the node cannot pick another).
import { ApiError } from "../k8s/errors.ts";
import type { KObject, Strategy } from "../resources/types.ts";
import type { UserInfo } from "./authenticate.ts";

type Node = NonNullable<UserInfo["node"]>;

const forbidden = (subject: string, message: string) =>
  new ApiError(403, "Forbidden", `${subject} is forbidden: ${message}`);

/** Runs on every create and update a node makes, before validation. */
export const nodeAdmission =
  (node: Node) =>
  (s: Strategy, o: KObject): void => {
    const name = o.metadata?.name;
    if (s.info.kind === "Node") {
      if (name !== node.name)
        throw forbidden(
          `nodes "${name}"`,
          `node "${node.name}" is not allowed to modify node "${name}"`,
        );
      o.spec = { ...o.spec, podCIDR: node.podCIDR, podCIDRs: [node.podCIDR] };
    } else if (s.info.kind === "Lease" && name !== node.name) {
      throw forbidden(
        `leases.coordination.k8s.io "${name}"`,
        "can only access node lease with the same name as the requesting node",
      );
    }
  };
