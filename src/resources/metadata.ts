// ObjectMeta validation shared by every kind (apimachinery's ValidateObjectMeta).
import {
  type FieldError,
  invalid,
  isDNS1123Label,
  isDNS1123Subdomain,
  isValidPathSegmentName,
  validateAnnotations,
  validateLabels,
} from "../k8s/validation.ts";
import type { KObject, Strategy } from "./types.ts";

export function validateObjectMeta(s: Strategy, o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const meta = o.metadata ?? {};
  const rule = s.nameRule ?? "subdomain";
  const check =
    rule === "label"
      ? isDNS1123Label
      : rule === "path-segment"
        ? isValidPathSegmentName
        : isDNS1123Subdomain;
  if (meta.name)
    for (const msg of check(meta.name)) errs.push(invalid("metadata.name", meta.name, msg));
  if (s.info.namespaced && meta.namespace)
    for (const msg of isDNS1123Label(meta.namespace))
      errs.push(invalid("metadata.namespace", meta.namespace, msg));
  errs.push(...validateLabels(meta.labels), ...validateAnnotations(meta.annotations));
  return errs;
}
