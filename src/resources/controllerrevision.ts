// apps/v1 ControllerRevision: ValidateControllerRevision(Update), controllerrevision/strategy.go
// and printControllerRevision. DaemonSets and StatefulSets keep their template history in them.

import { controllerRef } from "../k8s/owner-refs.ts";
import { type FieldError, required } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";
import { immutable, integerColumn, nonNegative, stringColumn } from "./workload.ts";

function validate(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  if (o.data == null) errs.push(required("data"));
  errs.push(...nonNegative(o.revision ?? 0, "revision"));
  return errs;
}

/** `<kind>.<group>/<name>` of the controller, as kubectl prints it. */
function controllerName(o: KObject): string {
  const ref = controllerRef(o);
  if (!ref) return "<none>";
  const group = ref.apiVersion.includes("/") ? ref.apiVersion.split("/")[0] : "";
  return `${ref.kind.toLowerCase()}${group ? `.${group}` : ""}/${ref.name}`;
}

export const controllerRevisions = defineStrategy(findInfo("apps", "controllerrevisions"), {
  generation: false,
  validate,
  validateUpdate: (o, old) => immutable(o.data, old.data, "data"),
  columns: [
    nameColumn,
    stringColumn("Controller", "Controller of the object", controllerName),
    integerColumn("Revision", "Revision of the ControllerRevision", (o) => o.revision ?? 0),
    ageColumn,
  ],
});
