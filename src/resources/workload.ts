// Pieces the workload kinds (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob) share:
// label-selector validation (metav1validation), int-or-percent checks (apps/validation),
// Semantic.DeepEqual for immutable fields, and the printers' container and selector cells.
import { type LabelSelector, SelectorError, selectorFromLabelSelector } from "../k8s/labels.ts";
import {
  type FieldError,
  forbidden,
  invalid,
  isQualifiedName,
  isValidLabelValue,
  notSupported,
  regexError,
  required,
  validateLabels,
} from "../k8s/validation.ts";
import { defaultPodTemplate, validatePodTemplate } from "./podspec.ts";
import { column, wide } from "./table.ts";
import type { Column, KObject } from "./types.ts";

/** obj[key], made an empty object when missing: Go decodes an absent struct as its zero value. */
export function child(obj: KObject, key: string): KObject {
  if (obj[key] === undefined || obj[key] === null) obj[key] = {};
  return obj[key];
}

// ---------------------------------------------------------------------------
// Equality

const isEmpty = (v: unknown): boolean =>
  v === undefined ||
  v === null ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0);

/**
 * apiequality.Semantic.DeepEqual on decoded JSON: a missing field, null, and an empty list or
 * map are the same (Go's nil and empty slices and maps).
 */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isEmpty(a) && isEmpty(b))
    return Array.isArray(a) === Array.isArray(b) || a == null || b == null;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => semanticEqual(x, b[i]));
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const k of keys) if (!semanticEqual(ra[k], rb[k])) return false;
  return true;
}

/** apivalidation.ValidateImmutableField. */
export function immutable(next: unknown, old: unknown, field: string): FieldError[] {
  return semanticEqual(next, old) ? [] : [invalid(field, next ?? null, "field is immutable")];
}

// ---------------------------------------------------------------------------
// Numbers

export const isNegativeErrorMsg = "must be greater than or equal to 0";

/** ValidateNonnegativeField, for a value that may be absent. */
export function nonNegative(value: unknown, field: string): FieldError[] {
  return typeof value === "number" && value < 0 ? [invalid(field, value, isNegativeErrorMsg)] : [];
}

const percentFmt = "[0-9]+%";
const percentRe = new RegExp(`^${percentFmt}$`);

/** ValidatePositiveIntOrPercent (a non-negative int or a "N%" string). */
export function positiveIntOrPercent(v: unknown, field: string): FieldError[] {
  if (typeof v === "string") {
    if (percentRe.test(v)) return [];
    return [
      invalid(
        field,
        v,
        regexError(
          "a valid percent string must be a numeric string followed by an ending '%'",
          percentFmt,
          "1%",
          "93%",
        ),
      ),
    ];
  }
  if (typeof v === "number") return nonNegative(v, field);
  return [invalid(field, v ?? null, "must be an integer or percentage (e.g '5%')")];
}

/** getIntOrPercentValue: the number, the percentage's number, a numeric string's value, else 0. */
export function intOrPercentValue(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return 0;
  if (percentRe.test(v)) return Number(v.slice(0, -1));
  return /^[+-]?[0-9]+$/.test(v) ? Number(v) : 0;
}

/** IsNotMoreThan100Percent. */
export function notMoreThan100Percent(v: unknown, field: string): FieldError[] {
  return typeof v === "string" && percentRe.test(v) && Number(v.slice(0, -1)) > 100
    ? [invalid(field, v, "must not be greater than 100%")]
    : [];
}

// ---------------------------------------------------------------------------
// Label selectors

/** A selector as Go would print it in an error (map keys sorted, as encoding/json does). */
export function selectorValue(sel: LabelSelector | null | undefined): unknown {
  if (sel === undefined || sel === null) return null;
  const out: Record<string, unknown> = {};
  if (sel.matchLabels) out.matchLabels = sortedMap(sel.matchLabels);
  if (sel.matchExpressions) out.matchExpressions = sel.matchExpressions;
  return out;
}

export function sortedMap(m: Record<string, string> | null | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** metav1validation.ValidateLabelSelector. */
export function validateLabelSelector(
  sel: LabelSelector | null | undefined,
  path: string,
): FieldError[] {
  if (!sel) return [];
  const errs = validateLabels(sel.matchLabels ?? undefined, `${path}.matchLabels`);
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const values = e.values ?? [];
    if (e.operator === "In" || e.operator === "NotIn") {
      if (values.length === 0)
        errs.push(required(`${at}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (e.operator === "Exists" || e.operator === "DoesNotExist") {
      if (values.length > 0)
        errs.push(
          forbidden(
            `${at}.values`,
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
          ),
        );
    } else {
      errs.push(invalid(`${at}.operator`, e.operator, "not a valid selector operator"));
    }
    for (const msg of isQualifiedName(e.key ?? ""))
      errs.push(invalid(`${at}.key`, e.key ?? "", msg));
    values.forEach((v, j) => {
      for (const msg of isValidLabelValue(v)) errs.push(invalid(`${at}.values[${j}]`, v, msg));
    });
  });
  return errs;
}

/** metav1.LabelSelectorAsSelector, or undefined when the selector cannot be converted. */
export function asSelector(sel: LabelSelector | null | undefined) {
  try {
    return selectorFromLabelSelector(sel);
  } catch (e) {
    if (e instanceof SelectorError) return undefined;
    throw e;
  }
}

export interface SelectorRules {
  /** The word in "empty selector is invalid for <noun>". */
  noun: string;
  /** Whether a missing selector is itself an error (DaemonSets only fail the label match). */
  required: boolean;
  /** Detail of the error for a selector LabelSelectorAsSelector refuses; null: no error. */
  unconvertible: string | null;
}

/**
 * The selector checks every replicated workload makes: required, well formed, not empty, and
 * matching the template's labels (ValidateDeploymentSpec and its siblings).
 */
export function validateWorkloadSelector(
  spec: KObject,
  path: string,
  rules: SelectorRules,
): FieldError[] {
  const errs: FieldError[] = [];
  const sel: LabelSelector | undefined = spec.selector ?? undefined;
  if (!sel) {
    if (rules.required) errs.push(required(`${path}.selector`));
  } else {
    errs.push(...validateLabelSelector(sel, `${path}.selector`));
    if (Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions ?? []).length === 0)
      errs.push(
        invalid(
          `${path}.selector`,
          selectorValue(sel),
          `empty selector is invalid for ${rules.noun}`,
        ),
      );
  }
  const selector = asSelector(sel);
  if (!selector) {
    if (rules.unconvertible !== null)
      errs.push(invalid(`${path}.selector`, selectorValue(sel), rules.unconvertible));
    return errs;
  }
  const labels = spec.template?.metadata?.labels;
  if (!selector.empty() && !selector.matches(labels ?? {}))
    errs.push(
      invalid(
        `${path}.template.metadata.labels`,
        sortedMap(labels),
        "`selector` does not match template `labels`",
      ),
    );
  return errs;
}

/** The restartPolicy and activeDeadlineSeconds rules of ReplicaSet-like templates. */
export function validateAlwaysRestart(spec: KObject, path: string, kind: string): FieldError[] {
  const errs: FieldError[] = [];
  const podSpec = spec.template?.spec ?? {};
  const policy = podSpec.restartPolicy ?? "";
  if (policy !== "Always")
    errs.push(notSupported(`${path}.template.spec.restartPolicy`, policy, ["Always"]));
  if (podSpec.activeDeadlineSeconds !== undefined && podSpec.activeDeadlineSeconds !== null)
    errs.push(
      forbidden(
        `${path}.template.spec.activeDeadlineSeconds`,
        `activeDeadlineSeconds in ${kind} is not Supported`,
      ),
    );
  return errs;
}

/** The selector may not change (apps/v1); a collision count may not go down. */
export function validateSelectorUpdate(o: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  if (!semanticEqual(o.spec?.selector, old.spec?.selector))
    errs.push(invalid("spec.selector", selectorValue(o.spec?.selector), "field is immutable"));
  errs.push(...collisionCountUpdate(o, old));
  return errs;
}

/** apivalidation.IsDecremented on status.collisionCount. */
export function collisionCountUpdate(o: KObject, old: KObject): FieldError[] {
  const next = o.status?.collisionCount;
  const prev = old.status?.collisionCount;
  if (typeof prev !== "number") return [];
  if (typeof next !== "number" || next < prev)
    return [
      invalid(
        "status.collisionCount",
        typeof next === "number" ? next : 0,
        "cannot be decremented",
      ),
    ];
  return [];
}

// ---------------------------------------------------------------------------
// Table cells (pkg/printers/internalversion)

interface Container {
  name?: string;
  image?: string;
}

/** layoutContainerCells: names and images, comma-joined. */
export function containerCells(containers: Container[] | undefined): [string, string] {
  const cs = containers ?? [];
  return [cs.map((c) => c.name ?? "").join(","), cs.map((c) => c.image ?? "").join(",")];
}

/** Selector.String(); "<invalid>" when it cannot be converted (printDeployment). */
export function selectorString(sel: LabelSelector | null | undefined): string {
  const s = asSelector(sel);
  return s ? s.toString() : "<invalid>";
}

/** metav1.FormatLabelSelector: "<none>" for nothing, "<error>" for a bad selector. */
export function formatLabelSelector(sel: LabelSelector | null | undefined): string {
  const s = asSelector(sel);
  if (!s) return "<error>";
  return s.toString() || "<none>";
}

/** labels.FormatLabels: sorted key=value pairs, or "<none>". */
export function formatLabels(m: Record<string, string> | null | undefined): string {
  const entries = Object.entries(sortedMap(m));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(",") : "<none>";
}

/** int64 cell that prints 0 for a missing count. */
export const count = (v: unknown): number => (typeof v === "number" ? v : 0);

const containersDescription = "Names of each container in the template.";
const imagesDescription = "Images referenced by each container in the template.";

/** The -o wide Containers and Images columns, reading containers from `podSpec(o)`. */
export function containerColumns(podSpec: (o: KObject) => KObject | undefined): Column[] {
  return [
    {
      ...wide("Containers", (o) => containerCells(podSpec(o)?.containers)[0]),
      description: containersDescription,
    },
    {
      ...wide("Images", (o) => containerCells(podSpec(o)?.containers)[1]),
      description: imagesDescription,
    },
  ];
}

export const integerColumn = (name: string, description: string, cell: Column["cell"]): Column =>
  column(name, cell, { type: "integer", description });

export const stringColumn = (name: string, description: string, cell: Column["cell"]): Column =>
  column(name, cell, { description });

// ---------------------------------------------------------------------------
// Pod templates

/** Pod defaults applied inside a template (SetDefaults_PodSpec and the container defaults). */
export function defaultTemplate(t: KObject | undefined): void {
  if (t) defaultPodTemplate(t);
}

/** ValidatePodTemplateSpec. */
export function validateTemplate(t: KObject | undefined, path: string): FieldError[] {
  return validatePodTemplate(t, path);
}
