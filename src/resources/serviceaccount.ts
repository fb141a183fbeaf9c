// ServiceAccounts: nothing beyond generic behaviour but kubectl's columns (printServiceAccount).
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, column, nameColumn } from "./table.ts";

export const serviceAccounts = defineStrategy(findInfo("", "serviceaccounts"), {
  columns: [
    nameColumn,
    column("Secrets", (o) => (Array.isArray(o.secrets) ? o.secrets.length : 0), {
      description:
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    }),
    ageColumn,
  ],
});
