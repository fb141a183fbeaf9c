// core/v1 Events: pkg/registry/core/event/strategy.go (selectable fields), the legacy checks of
// ValidateEventCreate / ValidateEventUpdate for v1, and kubectl's printEvent.
import {
  type FieldError,
  invalid,
  isDNS1123Subdomain,
  isQualifiedName,
  required,
} from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { findInfo } from "./find.ts";
import { age, column, nameColumn, wide } from "./table.ts";
import type { KObject } from "./types.ts";

const REPORTING_INSTANCE_LIMIT = 128;
const ACTION_LIMIT = 128;
const REASON_LIMIT = 128;
const NOTE_LIMIT = 1024;

const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** legacyValidateEvent for requests in core/v1. */
function validateEvent(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const namespace = str(o.metadata?.namespace);
  const involvedNs = str(o.involvedObject?.namespace);
  const mismatch = () =>
    errs.push(invalid("involvedObject.namespace", involvedNs, "does not match event.namespace"));
  if (!o.eventTime) {
    // Events of cluster-scoped objects live in "default" (or nowhere, for old clients).
    if (!involvedNs) {
      if (namespace !== "" && namespace !== "default") mismatch();
    } else if (namespace !== involvedNs) mismatch();
  } else {
    if (!involvedNs && namespace !== "default" && namespace !== "kube-system") mismatch();
    const controller = str(o.reportingComponent);
    if (!controller) errs.push(required("reportingComponent"));
    for (const m of isQualifiedName(controller))
      errs.push(invalid("reportingComponent", controller, m));
    const instance = str(o.reportingInstance);
    if (!instance) errs.push(required("reportingInstance"));
    if (instance.length > REPORTING_INSTANCE_LIMIT)
      errs.push(
        invalid("reportingInstance", "", `can have at most ${REPORTING_INSTANCE_LIMIT} characters`),
      );
    const action = str(o.action);
    if (!action) errs.push(required("action"));
    if (action.length > ACTION_LIMIT)
      errs.push(invalid("action", "", `can have at most ${ACTION_LIMIT} characters`));
    const reason = str(o.reason);
    if (!reason) errs.push(required("reason"));
    if (reason.length > REASON_LIMIT)
      errs.push(invalid("reason", "", `can have at most ${REASON_LIMIT} characters`));
    if (str(o.message).length > NOTE_LIMIT)
      errs.push(invalid("message", "", `can have at most ${NOTE_LIMIT} characters`));
  }
  for (const m of isDNS1123Subdomain(namespace)) errs.push(invalid("namespace", namespace, m));
  return errs;
}

/** ToSelectableFields; `source` falls back to the reporting component. */
function eventFields(o: KObject): Record<string, string> {
  const io = o.involvedObject ?? {};
  return {
    "involvedObject.kind": str(io.kind),
    "involvedObject.namespace": str(io.namespace),
    "involvedObject.name": str(io.name),
    "involvedObject.uid": str(io.uid),
    "involvedObject.apiVersion": str(io.apiVersion),
    "involvedObject.resourceVersion": str(io.resourceVersion),
    "involvedObject.fieldPath": str(io.fieldPath),
    reason: str(o.reason),
    reportingComponent: str(o.reportingComponent),
    source: str(o.source?.component) || str(o.reportingComponent),
    type: str(o.type),
  };
}

const firstSeen = (o: KObject, now: number) =>
  age(o.firstTimestamp || o.eventTime || undefined, now);

function lastSeen(o: KObject, now: number): string {
  if (o.series?.lastObservedTime) return age(o.series.lastObservedTime, now);
  return o.lastTimestamp ? age(o.lastTimestamp, now) : firstSeen(o, now);
}

function count(o: KObject): number {
  if (o.series) return o.series.count ?? 0;
  return o.count || 1;
}

function target(o: KObject): string {
  const kind = str(o.involvedObject?.kind).toLowerCase();
  const name = str(o.involvedObject?.name);
  return name ? `${kind}/${name}` : kind;
}

function source(o: KObject): string {
  const component = str(o.source?.component) || str(o.reportingComponent);
  const instance = str(o.source?.host) || str(o.reportingInstance);
  if (!component) return "";
  return instance ? `${component}, ${instance}` : component;
}

export const events = defineStrategy(findInfo("", "events"), {
  validate: validateEvent,
  fields: eventFields,
  columns: [
    column("Last Seen", lastSeen, {
      description: "The time at which the most recent occurrence of this event was recorded.",
    }),
    column("Type", (o) => str(o.type), {
      description: "Type of this event (Normal, Warning), new types could be added in the future",
    }),
    column("Reason", (o) => str(o.reason), {
      description:
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    }),
    column("Object", target, { description: "The object that this event is about." }),
    wide("Subobject", (o) => str(o.involvedObject?.fieldPath)),
    wide("Source", source),
    column("Message", (o) => str(o.message).trim(), {
      description: "A human-readable description of the status of this operation.",
    }),
    wide("First Seen", firstSeen),
    wide("Count", count),
    { ...nameColumn, priority: 1 },
  ],
});
