import type { FieldError } from "../k8s/validation.ts";
import type { KObject } from "../store/objects.ts";
import type { ResourceInfo } from "./catalog.ts";

export type { KObject };

/** A column of `kubectl get` output, as metav1.TableColumnDefinition. */
export interface Column {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  format?: string;
  description?: string;
  /** 0: always shown; 1: only with `-o wide`. */
  priority?: number;
  cell: (o: KObject, now: number) => unknown;
}

/**
 * Everything kind-specific, run by the one generic pipeline in rest.ts (as Kubernetes'
 * rest.RESTCreateStrategy / RESTUpdateStrategy). Every hook is optional.
 */
export interface Strategy {
  info: ResourceInfo;
  /** Whether writes to the main resource keep the old status (a status subresource exists). */
  statusSubresource: boolean;
  /** Whether metadata.generation tracks spec changes. */
  generation: boolean;
  /** Validates metadata.name; defaults to DNS-1123 subdomain. */
  nameRule?: "subdomain" | "label" | "path-segment";
  defaults?(o: KObject): void;
  prepareForCreate?(o: KObject): void;
  prepareForUpdate?(o: KObject, old: KObject): void;
  /** Checks on create (old undefined) and on update (after validateUpdate's immutability checks). */
  validate?(o: KObject, old?: KObject): FieldError[];
  validateUpdate?(o: KObject, old: KObject): FieldError[];
  /** Selectable fields beyond metadata.name / metadata.namespace (spec.nodeName, status.phase…). */
  fields?(o: KObject): Record<string, string>;
  /** Value of the indexed node column (pods). */
  nodeName?(o: KObject): string | null;
  columns: Column[];
}
