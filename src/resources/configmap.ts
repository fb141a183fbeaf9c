import { invalid } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { ageColumn, column, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";

const keyRe = /^[-._a-zA-Z0-9]+$/;

/** Data keys must be valid file names (validation.IsConfigMapKey). */
export function validateDataKeys(o: KObject, fields: string[]) {
  const errs = [];
  for (const f of fields) {
    for (const k of Object.keys(o[f] ?? {})) {
      if (!keyRe.test(k) || k.length > 253)
        errs.push(
          invalid(
            `${f}`,
            k,
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
          ),
        );
    }
  }
  return errs;
}

export const configMaps = defineStrategy(findInfo("", "configmaps"), {
  validate: (o) => validateDataKeys(o, ["data", "binaryData"]),
  columns: [
    nameColumn,
    column(
      "Data",
      (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length,
      { type: "integer" },
    ),
    ageColumn,
  ],
});
