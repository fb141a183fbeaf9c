// The four patch types Kubernetes accepts, applied to the current object.
import jsonpatch from "fast-json-patch";
import { apply } from "../k8s/apply.ts";
import { ApiError, badRequest } from "../k8s/errors.ts";
import { applyMergePatch } from "../k8s/merge-patch.ts";
import { applyStrategicMergePatch } from "../k8s/strategic-merge.ts";
import { apiVersionOf } from "../resources/rest.ts";
import { schemaLookup } from "../resources/schema-check.ts";
import type { Strategy } from "../resources/types.ts";
import type { KObject } from "../store/objects.ts";
import type { PatchType } from "./body.ts";

export interface ApplyOptions {
  manager: string;
  force: boolean;
  subresource?: string;
  now?: Date;
}

const unprocessable = (message: string) => new ApiError(422, "Invalid", message);

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

export function applyPatch(
  s: Strategy,
  current: KObject | undefined,
  type: PatchType,
  patch: unknown,
  opts: ApplyOptions,
): KObject {
  const defName = schemaLookup.forKind(apiVersionOf(s), s.info.kind);
  switch (type) {
    case "json": {
      if (!Array.isArray(patch)) throw badRequest("json patch must be an array of operations");
      try {
        return jsonpatch.applyPatch(structuredClone(current ?? {}), patch, true, true).newDocument;
      } catch (err) {
        throw unprocessable(
          `the server rejected our request due to an error in our request: ${(err as Error).message.split("\n")[0]}`,
        );
      }
    }
    case "merge":
      if (!isObject(patch)) throw badRequest("merge patch must be a JSON object");
      return applyMergePatch(current ?? {}, patch as never) as KObject;
    case "strategic":
      return applyStrategicMergePatch(current ?? {}, patch, schemaLookup, defName) as KObject;
    case "apply":
      return apply(
        current,
        patch,
        opts.manager,
        opts.force,
        schemaLookup,
        defName,
        opts.now ?? new Date(),
        {
          subresource: opts.subresource,
        },
      ).object as KObject;
  }
}
