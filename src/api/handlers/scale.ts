// The scale subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets and StatefulSets.
import { badRequest } from "../../k8s/errors.ts";
import * as rest from "../../resources/rest.ts";
import { mapString } from "../../resources/table.ts";
import type { KObject, Strategy } from "../../resources/types.ts";
import { readObject, readPatch } from "../body.ts";
import { type C, dryRun, storeCtx } from "../context.ts";
import { json } from "../output.ts";
import { applyPatch } from "../patch.ts";
import type { ResourcePath } from "../paths.ts";

function toScale(o: KObject) {
  const m = o.metadata;
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: {
      replicas: o.status?.replicas ?? 0,
      selector: mapString(o.spec?.selector?.matchLabels).replace("<none>", ""),
    },
  };
}

export async function scale(c: C, s: Strategy, p: ResourcePath) {
  const ctx = storeCtx(c);
  const ns = p.namespace ?? "";
  const name = p.name as string;
  if (c.req.method === "GET") return json(toScale((await rest.get(ctx, s, ns, name)).object));
  let next: (current: KObject) => KObject;
  if (c.req.method === "PUT") {
    const body = await readObject(c.req.raw);
    next = () => body;
  } else if (c.req.method === "PATCH") {
    const { type, body } = await readPatch(c.req.raw);
    next = (current) => applyPatch(s, toScale(current), type, body, { manager: "", force: false });
  } else {
    throw badRequest("unsupported method on scale");
  }
  const { object } = await rest.update(
    ctx,
    s,
    ns,
    name,
    (current) => {
      const sc = next(current);
      const replicas = sc.spec?.replicas;
      if (!Number.isInteger(replicas) || replicas < 0)
        throw badRequest(
          `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`,
        );
      if (sc.metadata?.resourceVersion)
        current.metadata.resourceVersion = sc.metadata.resourceVersion;
      current.spec = { ...current.spec, replicas };
      return current;
    },
    { dryRun: dryRun(c) },
  );
  return json(toScale(object));
}
