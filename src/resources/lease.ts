// coordination.k8s.io/v1 Lease: ValidateLeaseSpec, printLease. Leases have no generation.
import { type FieldError, forbidden, invalid, isQualifiedName } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";
import { stringColumn } from "./workload.ts";

/** ValidateLeaseSpec. */
function validate(o: KObject): FieldError[] {
  const spec = o.spec ?? {};
  const errs: FieldError[] = [];
  if (typeof spec.leaseDurationSeconds === "number" && spec.leaseDurationSeconds <= 0)
    errs.push(
      invalid("spec.leaseDurationSeconds", spec.leaseDurationSeconds, "must be greater than 0"),
    );
  if (typeof spec.leaseTransitions === "number" && spec.leaseTransitions < 0)
    errs.push(
      invalid("spec.leaseTransitions", spec.leaseTransitions, "must be greater than or equal to 0"),
    );
  if (spec.strategy != null) {
    // ValidateCoordinatedLeaseStrategy: a built-in strategy or a prefixed custom one.
    const s = String(spec.strategy);
    if (s !== "OldestEmulationVersion") {
      if (!s.includes("/")) errs.push(invalid("spec.strategy", s, "must be a qualified name"));
      else for (const msg of isQualifiedName(s)) errs.push(invalid("spec.strategy", s, msg));
    }
  }
  if (spec.preferredHolder && !spec.strategy)
    errs.push(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"));
  return errs;
}

export const leases = defineStrategy(findInfo("coordination.k8s.io", "leases"), {
  generation: false,
  validate,
  columns: [
    nameColumn,
    stringColumn(
      "Holder",
      "holderIdentity contains the identity of the holder of a current lease.",
      (o) => o.spec?.holderIdentity ?? "",
    ),
    ageColumn,
  ],
});
