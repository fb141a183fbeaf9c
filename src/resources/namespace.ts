// Namespaces: pkg/registry/core/namespace/strategy.go, SetDefaults_Namespace, ValidateNamespace
// and kubectl's printNamespace.
import { type FieldError, invalid, isQualifiedName } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, column, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";

const standardFinalizers = new Set(["kubernetes", "orphan", "foregroundDeletion"]);

/** validateFinalizerName: a qualified name, and a bare name only if it is a standard one. */
function finalizerErrors(name: string, path: string): FieldError[] {
  const errs = isQualifiedName(name).map((m) => invalid(path, name, m));
  if (!name.includes("/") && !standardFinalizers.has(name))
    errs.push(
      invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"),
    );
  return errs;
}

const finalizersOf = (o: KObject): string[] =>
  Array.isArray(o.spec?.finalizers) ? o.spec.finalizers : [];

export const namespaces = defineStrategy(findInfo("", "namespaces"), {
  generation: false,
  nameRule: "label",
  defaults(o) {
    // Every namespace carries its own name as a label.
    if (o.metadata?.name)
      o.metadata.labels = { ...o.metadata.labels, "kubernetes.io/metadata.name": o.metadata.name };
  },
  prepareForCreate(o) {
    o.status = { phase: "Active" };
    // The namespace controller's finalizer; it may be removed over the life of the namespace.
    const finalizers = finalizersOf(o);
    if (!finalizers.includes("kubernetes"))
      o.spec = { ...o.spec, finalizers: [...finalizers, "kubernetes"] };
  },
  prepareForUpdate(o, old) {
    // spec.finalizers changes only through finalization: kept on a plain update, except once the
    // namespace is being deleted (the namespace controller clears them then).
    if (old.metadata?.deletionTimestamp) return;
    if (old.spec === undefined) delete o.spec;
    else o.spec = { ...o.spec, finalizers: old.spec.finalizers };
    if (o.spec && o.spec.finalizers === undefined) delete o.spec.finalizers;
  },
  validate: (o) => finalizersOf(o).flatMap((f) => finalizerErrors(String(f), "spec.finalizers")),
  fields: (o) => ({ "status.phase": o.status?.phase ?? "", name: o.metadata?.name ?? "" }),
  columns: [
    nameColumn,
    column("Status", (o) => o.status?.phase ?? "", {
      description: "The status of the namespace",
    }),
    ageColumn,
  ],
});
