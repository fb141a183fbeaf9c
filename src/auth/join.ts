// Enrolment: a valid join token buys a node credential and a pod CIDR. Re-joining under the same
// name rotates the credential (the old one stops working) and keeps the CIDR.
import type { Env } from "../env.ts";
import { invalid } from "../k8s/errors.ts";
import {
  aggregateMessage,
  invalid as invalidField,
  isDNS1123Subdomain,
  statusCauses,
} from "../k8s/validation.ts";
import { freePodCidr } from "../resources/allocate.ts";
import type { DB } from "../store/db.ts";
import { StoreError } from "../store/errors.ts";
import { enrol, enrolmentOf, rotateCredential } from "../store/nodes.ts";
import { forgetNode } from "./authenticate.ts";
import { checkJoinToken } from "./bootstrap-token.ts";
import { hashCredential, newCredential } from "./credentials.ts";

export interface Joined {
  nodeName: string;
  credential: string;
  podCIDR: string;
}

function checkNodeName(name: string): void {
  const errs = isDNS1123Subdomain(name).map((m) => invalidField("metadata.name", name, m));
  if (errs.length)
    throw invalid("Node", "", name, aggregateMessage("Node", name, errs), statusCauses(errs));
}

export async function join(
  db: DB,
  env: Env,
  req: { token: string; nodeName: string },
  now = new Date(),
): Promise<Joined> {
  const tokenId = await checkJoinToken(db, req.token, now);
  checkNodeName(req.nodeName);
  const credential = newCredential();
  const c = {
    nodeName: req.nodeName,
    hash: await hashCredential(credential),
    tokenId,
    joinedAt: now.toISOString(),
  };
  // Another join may enrol the name or take the CIDR between the read and the write: the keys of
  // node_credentials and allocations make the loser fail whole, and it tries again.
  for (let attempt = 0; ; attempt++) {
    const known = await enrolmentOf(db, c.nodeName);
    try {
      if (known) {
        if (!(await rotateCredential(db, c))) continue;
        forgetNode(c.nodeName);
        return { nodeName: c.nodeName, credential, podCIDR: known.podCidr };
      }
      const podCidr = await freePodCidr(db, env);
      await enrol(db, { ...c, podCidr });
      return { nodeName: c.nodeName, credential, podCIDR: podCidr };
    } catch (err) {
      if (err instanceof StoreError && attempt < 16) continue;
      throw err;
    }
  }
}
