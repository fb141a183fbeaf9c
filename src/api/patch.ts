// The four patch types Kubernetes accepts, applied to the current object.
import jsonpatch from "fast-json-patch";
import { ApiError, badRequest } from "../k8s/errors.ts";
import { applyMergePatch } from "../k8s/merge-patch.ts";
import type { PatchType } from "./body.ts";
import type { Strategy } from "../resources/types.ts";
import type { KObject } from "../store/objects.ts";

export interface ApplyOptions {
  manager: string;
  force: boolean;
}

const unprocessable = (message: string) => new ApiError(422, "Invalid", message);

export function applyPatch(
  s: Strategy,
  current: KObject | undefined,
  type: PatchType,
  patch: unknown,
  _apply: ApplyOptions,
): KObject {
  switch (type) {
    case "json": {
      if (!Array.isArray(patch)) throw badRequest("json patch must be an array of operations");
      if (!current) throw unprocessable("json patch needs an existing object");
      try {
        return jsonpatch.applyPatch(structuredClone(current), patch, true, true).newDocument;
      } catch (err) {
        throw unprocessable(
          `the server rejected our request due to an error in our request: ${(err as Error).message.split("\n")[0]}`,
        );
      }
    }
    case "merge":
    case "strategic":
    case "apply": {
      if (patch === null || typeof patch !== "object" || Array.isArray(patch))
        throw badRequest(`${type} patch must be a JSON object`);
      return applyMergePatch(current ?? {}, patch) as KObject;
    }
  }
  void s;
}
