// The one generic create/update/delete pipeline every kind runs through (as Kubernetes'
// registry/rest): the API and the controllers both write through it, so validation, the change
// log and watch events are the same for every client.
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  notFound,
  OBJECT_MODIFIED,
} from "../k8s/errors.ts";
import { updateManagedFields } from "../k8s/managed-fields.ts";
import {
  aggregateMessage,
  type FieldError,
  invalid as invalidField,
  required,
  statusCauses,
} from "../k8s/validation.ts";
import type { DB } from "../store/db.ts";
import { StoreError } from "../store/errors.ts";
import {
  commit,
  getObject,
  type Key,
  type KObject,
  recentObject,
  type Write,
} from "../store/objects.ts";
import type { Admit } from "./admission.ts";
import { validateObjectMeta } from "./metadata.ts";
import { storeResource, strategyFor } from "./registry.ts";
import { schemaLookup } from "./schema-check.ts";
import type { Strategy } from "./types.ts";

export interface Ctx {
  db: DB;
  now: () => Date;
  /** Called after each committed write: pokes the watch hub and the controllers. */
  onCommit: (w: Committed) => void;
  /** Hooks kinds need beyond plain storage (allocators); set by the caller. */
  allocate?: (s: Strategy, o: KObject, old: KObject | undefined) => Promise<Write["allocate"]>;
  /** Admission (after defaults, before validation): the cluster's plugins, then the writer's. */
  admit?: Admit;
}

export interface Committed {
  rv: number;
  key: Key;
  type: Write["type"];
  object: KObject;
  /** The version this write replaced (updates and deletes). */
  old?: KObject;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** Who is writing, for managedFields; controllers are "kubeflare-controller-manager". */
  fieldManager?: string;
  /** The object carries managedFields computed by server-side apply already. */
  applied?: boolean;
}

const CONTROLLER_MANAGER = "kubeflare-controller-manager";

/** Record which fields this write's manager now owns (metadata.managedFields). */
function trackManagers(
  s: Strategy,
  old: KObject | undefined,
  o: KObject,
  opts: UpdateOptions,
  now: Date,
) {
  if (opts.applied) return;
  const entries = updateManagedFields(
    old,
    o,
    opts.fieldManager || CONTROLLER_MANAGER,
    "Update",
    schemaLookup,
    schemaLookup.forKind(apiVersionOf(s), s.info.kind),
    now,
    { subresource: opts.subresource },
  );
  if (entries.length) o.metadata.managedFields = entries;
  else delete o.metadata.managedFields;
}

export const keyOf = (s: Strategy, namespace: string, name: string): Key => ({
  resource: storeResource(s.info),
  namespace: s.info.namespaced ? namespace : "",
  name,
});

const gr = (s: Strategy) => ({ group: s.info.group, resource: s.info.plural });

export const apiVersionOf = (s: Strategy) =>
  s.info.group ? `${s.info.group}/${s.info.version}` : s.info.version;

export const timestamp = (d: Date): string => `${d.toISOString().slice(0, 19)}Z`;

export async function get(ctx: Ctx, s: Strategy, namespace: string, name: string) {
  const found = await getObject(ctx.db, keyOf(s, namespace, name));
  if (!found) throw notFound(gr(s), name);
  return found;
}

/** Labels and selectable fields, stored with each change so filtered watches see objects leave. */
export function selectable(s: Strategy, o: KObject) {
  return {
    labels: o.metadata?.labels ?? {},
    fields: {
      "metadata.name": o.metadata?.name ?? "",
      "metadata.namespace": o.metadata?.namespace ?? "",
      ...s.fields?.(o),
    },
  };
}

async function requireNamespace(ctx: Ctx, s: Strategy, namespace: string, name: string) {
  if (!s.info.namespaced) return;
  const ns = await getObject(ctx.db, { resource: "namespaces", namespace: "", name: namespace });
  if (!ns) throw notFound({ group: "", resource: "namespaces" }, namespace);
  if (ns.object.metadata?.deletionTimestamp || ns.object.status?.phase === "Terminating")
    throw forbidden(
      `${s.info.plural}${s.info.group ? `.${s.info.group}` : ""} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
    );
}

function throwInvalid(s: Strategy, name: string, errs: FieldError[]): void {
  if (!errs.length) return;
  const { kind, group } = s.info;
  throw invalid(
    kind,
    group,
    name,
    aggregateMessage({ kind, group }, name, errs),
    statusCauses(errs),
  );
}

/** Check the body names the same namespace and name as the URL, filling them in when absent. */
export function checkIdentity(s: Strategy, o: KObject, namespace: string, name?: string) {
  o.metadata ??= {};
  if (s.info.namespaced) {
    if (o.metadata.namespace && o.metadata.namespace !== namespace)
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    o.metadata.namespace = namespace;
  } else {
    delete o.metadata.namespace;
  }
  if (name !== undefined) {
    if (o.metadata.name && o.metadata.name !== name)
      throw badRequest(
        `the name of the object (${o.metadata.name}) does not match the name on the URL (${name})`,
      );
    o.metadata.name = name;
  }
}

/** As utilrand.String: generated names and volume names avoid vowels and look-alikes. */
const NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789";
export const randomSuffix = () =>
  Array.from(
    crypto.getRandomValues(new Uint8Array(5)),
    (b) => NAME_CHARS[b % NAME_CHARS.length],
  ).join("");

export async function create(
  ctx: Ctx,
  s: Strategy,
  namespace: string,
  input: KObject,
  opts: WriteOptions = {},
) {
  const o = structuredClone(input);
  checkIdentity(s, o, namespace);
  o.apiVersion = apiVersionOf(s);
  o.kind = s.info.kind;
  const meta = o.metadata;
  // As names.SimpleNameGenerator: the base is cut so base + suffix fits in 63 characters.
  if (!meta.name && meta.generateName)
    meta.name = `${String(meta.generateName).slice(0, 58)}${randomSuffix()}`;
  if (!meta.name)
    throwInvalid(s, "", [required("metadata.name", "name or generateName is required")]);
  // System fields belong to the server.
  meta.uid = crypto.randomUUID();
  meta.creationTimestamp = timestamp(ctx.now());
  delete meta.resourceVersion;
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  delete meta.selfLink;
  if (s.generation) meta.generation = 1;
  else delete meta.generation;
  if (s.statusSubresource) delete o.status;
  s.defaults?.(o);
  s.prepareForCreate?.(o);
  await ctx.admit?.(s, o, undefined);
  throwInvalid(s, meta.name, [...validateObjectMeta(s, o), ...(s.validate?.(o) ?? [])]);
  trackManagers(s, undefined, o, opts, ctx.now());
  const key = keyOf(s, namespace, meta.name);
  const prepared = structuredClone(o);
  for (let attempt = 0; ; attempt++) {
    const obj = structuredClone(prepared);
    const allocate = await ctx.allocate?.(s, obj, undefined);
    if (opts.dryRun) return { rv: 0, object: obj };
    try {
      const rv = await commit(ctx.db, {
        key,
        type: "ADDED",
        object: obj,
        nodeName: s.nodeName?.(obj),
        allocate,
        inNamespace: s.info.namespaced ? namespace : undefined,
      });
      obj.metadata.resourceVersion = String(rv);
      ctx.onCommit({ rv, key, type: "ADDED", object: obj });
      return { rv, object: obj };
    } catch (err) {
      if (err instanceof StoreError && err.failure === "exists")
        throw alreadyExists(gr(s), meta.name);
      // The namespace guard failed: say why (missing or terminating), or try again if it raced.
      if (err instanceof StoreError && err.failure === "conflict") {
        await requireNamespace(ctx, s, namespace, meta.name);
        if (attempt < 8) continue;
      }
      // An allocator pick raced another create: pick again.
      if (isAllocationClash(err) && !allocate?.some((a) => a.requested) && attempt < 8) continue;
      if (isAllocationClash(err)) throwAllocationClash(s, meta.name, allocate);
      throw err;
    }
  }
}

const isAllocationClash = (err: unknown) =>
  err instanceof StoreError && err.failure === "allocated";

function throwAllocationClash(s: Strategy, name: string, allocate: Write["allocate"]): never {
  const a = allocate?.find((x) => x.requested);
  const field = a?.kind === "nodeport" ? "spec.ports[0].nodePort" : "spec.clusterIPs";
  const detail =
    a?.kind === "nodeport"
      ? "provided port is already allocated"
      : `failed to allocate IP ${a?.value}: provided IP is already allocated`;
  throwInvalid(s, name, [invalidField(field, a?.value, detail)]);
  throw new Error("unreachable");
}

export interface UpdateOptions extends WriteOptions {
  /** "binding": only spec.nodeName, annotations and status move (pods/binding), unvalidated. */
  subresource?: "status" | "binding";
}

/** The object as it should be after `mutate`, or undefined when mutate wants it created. */
export type Mutate = (current: KObject, currentRv: string) => KObject | Promise<KObject>;

const sameContent = (a: KObject, b: KObject) => {
  const strip = (o: KObject) => ({
    ...o,
    metadata: { ...o.metadata, resourceVersion: undefined, managedFields: undefined },
  });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
};

const specOf = (o: KObject) => {
  const { metadata: _m, status: _s, ...rest } = o;
  return JSON.stringify(rest);
};

/** How often an unpinned write retries a lost race before it answers 409 Conflict. */
const CONFLICT_RETRIES = 16;

/** Commit `o` over `old`, the stored object it was made from at revision `expectRv`. */
const commitOver = (
  ctx: Ctx,
  s: Strategy,
  key: Key,
  type: Write["type"],
  o: KObject,
  old: KObject,
  expectRv: number,
  allocate?: Write["allocate"],
) =>
  commit(ctx.db, {
    key,
    type,
    object: o,
    expectRv,
    prev: selectable(s, old),
    nodeName: s.nodeName?.(o),
    allocate,
    sameOwners:
      JSON.stringify(old.metadata.ownerReferences) === JSON.stringify(o.metadata.ownerReferences),
  });

/**
 * A random pause that grows with each lost race, so writers racing for one object spread out
 * instead of colliding again (ten parallel patches could starve one of them otherwise).
 */
const backOff = (attempt: number) =>
  new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));

/**
 * Read-modify-write with optimistic concurrency (GuaranteedUpdate): a stale read is retried, unless
 * the caller pinned a resourceVersion, which then gets 409 Conflict.
 */
export async function update(
  ctx: Ctx,
  s: Strategy,
  namespace: string,
  name: string,
  mutate: Mutate,
  opts: UpdateOptions = {},
) {
  const key = keyOf(s, namespace, name);
  // The first try starts from this isolate's copy of the object, without reading D1. Only a
  // write proves the copy was current (its revision precondition), so whatever else that try
  // ends in (no change, an error, a conflict) is decided again on a fresh read.
  let copy = opts.dryRun ? undefined : recentObject(key);
  for (let attempt = 0; ; attempt++) {
    const fromCopy = copy;
    copy = undefined;
    const current = fromCopy ?? (await getObject(ctx.db, key));
    if (!current) throw notFound(gr(s), name);
    let committed = false;
    try {
      const old = current.object;
      // The mutation sees no resourceVersion: one in its result was put there by the client (a PUT
      // body or a patch naming it) and pins the write to that revision.
      const base = structuredClone(old);
      delete base.metadata.resourceVersion;
      const next = structuredClone(await mutate(base, old.metadata.resourceVersion));
      checkIdentity(s, next, namespace, name);
      const pinned = next.metadata.resourceVersion;
      if (pinned && pinned !== old.metadata.resourceVersion)
        throw conflict(gr(s), name, OBJECT_MODIFIED);
      if (next.metadata.uid && next.metadata.uid !== old.metadata.uid)
        throw conflict(
          gr(s),
          name,
          `Precondition failed: UID in precondition: ${next.metadata.uid}, UID in object meta: ${old.metadata.uid}`,
        );
      const o =
        opts.subresource === "status"
          ? statusUpdate(old, next)
          : opts.subresource === "binding"
            ? bindingUpdate(old, next)
            : mainUpdate(s, old, next);
      await ctx.admit?.(s, o, old);
      // Removing the last finalizer of an object being deleted deletes it.
      // A pod also waits for its kubelet (deletionGracePeriodSeconds 0) before it goes.
      const finished =
        !!o.metadata.deletionTimestamp &&
        !pendingFinalizers(o) &&
        !(o.kind === "Pod" && (o.metadata.deletionGracePeriodSeconds ?? 0) > 0);
      if (!finished && sameContent(o, old)) {
        if (!fromCopy) return current;
        attempt--;
        continue;
      }
      if (s.generation && specOf(o) !== specOf(old))
        o.metadata.generation = (old.metadata.generation ?? 0) + 1;
      throwInvalid(s, name, [
        ...validateObjectMeta(s, o),
        ...(s.validate?.(o, old) ?? []),
        ...(opts.subresource === "binding" ? [] : (s.validateUpdate?.(o, old) ?? [])),
      ]);
      trackManagers(s, old, o, opts, ctx.now());
      const type = finished ? "DELETED" : "MODIFIED";
      const allocate = finished ? undefined : await ctx.allocate?.(s, o, old);
      if (opts.dryRun) return { rv: current.rv, object: o };
      try {
        const rv = await commitOver(ctx, s, key, type, o, old, current.rv, allocate);
        committed = true;
        o.metadata.resourceVersion = String(rv);
        ctx.onCommit({ rv, key, type, object: o, old });
        return { rv, object: o };
      } catch (err) {
        if (fromCopy) throw err;
        if (err instanceof StoreError && err.failure === "conflict") {
          if (pinned || attempt >= CONFLICT_RETRIES) throw conflict(gr(s), name, OBJECT_MODIFIED);
          await backOff(attempt);
          continue;
        }
        if (isAllocationClash(err)) {
          if (!allocate?.some((a) => a.requested) && attempt < 8) continue;
          throwAllocationClash(s, name, allocate);
        }
        throw err;
      }
    } catch (err) {
      if (!fromCopy || committed) throw err;
      attempt--;
    }
  }
}

/** A write to the main resource: the server's metadata and (with a status subresource) status stay. */
function mainUpdate(s: Strategy, old: KObject, next: KObject): KObject {
  const o = next;
  o.apiVersion = apiVersionOf(s);
  o.kind = s.info.kind;
  for (const f of ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"]) {
    if (old.metadata[f] === undefined) delete o.metadata[f];
    else o.metadata[f] = old.metadata[f];
  }
  if (s.generation) o.metadata.generation = old.metadata.generation;
  else delete o.metadata.generation;
  if (s.statusSubresource) {
    if (old.status === undefined) delete o.status;
    else o.status = old.status;
  }
  s.defaults?.(o);
  s.prepareForUpdate?.(o, old);
  return o;
}

/** A write to the status subresource changes status alone. */
function statusUpdate(old: KObject, next: KObject): KObject {
  const o = structuredClone(old);
  if (next.status === undefined) delete o.status;
  else o.status = next.status;
  // As Kubernetes' status strategies: labels and annotations written with status are kept
  // (controllers record e.g. a Deployment's revision that way); the spec is not.
  for (const f of ["labels", "annotations"]) {
    if (next.metadata[f] === undefined) delete o.metadata[f];
    else o.metadata[f] = next.metadata[f];
  }
  return o;
}

/** A binding (BindingREST) sets the node of an otherwise immutable pod spec. */
function bindingUpdate(old: KObject, next: KObject): KObject {
  const o = structuredClone(old);
  o.spec = { ...o.spec, nodeName: next.spec?.nodeName };
  if (next.metadata.annotations === undefined) delete o.metadata.annotations;
  else o.metadata.annotations = next.metadata.annotations;
  if (next.status === undefined) delete o.status;
  else o.status = next.status;
  return o;
}

/** Finalizers an object being deleted still waits for (a Namespace also has spec.finalizers). */
const pendingFinalizers = (o: KObject): number =>
  (o.metadata.finalizers?.length ?? 0) +
  (o.kind === "Namespace" ? (o.spec?.finalizers?.length ?? 0) : 0);

export interface DeleteOptions {
  dryRun?: boolean;
  gracePeriodSeconds?: number;
  propagationPolicy?: "Orphan" | "Background" | "Foreground";
  preconditions?: { uid?: string; resourceVersion?: string };
}

/**
 * Delete: with finalizers pending (or Foreground/Orphan propagation) the object only gets a
 * deletionTimestamp and waits for its finalizers; otherwise it goes at once.
 */
export async function remove(
  ctx: Ctx,
  s: Strategy,
  namespace: string,
  name: string,
  opts: DeleteOptions = {},
) {
  const key = keyOf(s, namespace, name);
  for (let attempt = 0; ; attempt++) {
    const current = await getObject(ctx.db, key);
    if (!current) throw notFound(gr(s), name);
    const old = current.object;
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid)
      throw conflict(
        gr(s),
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(
        gr(s),
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    const o = structuredClone(old);
    const finalizers: string[] = [...(o.metadata.finalizers ?? [])];
    const policyFinalizer =
      opts.propagationPolicy === "Foreground"
        ? "foregroundDeletion"
        : opts.propagationPolicy === "Orphan"
          ? "orphan"
          : undefined;
    if (policyFinalizer && !finalizers.includes(policyFinalizer)) finalizers.push(policyFinalizer);
    const graceful =
      s.info.kind === "Pod" && o.spec?.nodeName && (opts.gracePeriodSeconds ?? 1) > 0;
    const deferred = finalizers.length > 0 || graceful || s.info.kind === "Namespace";
    let type: Write["type"] = "DELETED";
    if (deferred) {
      // Already going; only a pod's kubelet confirming (grace 0) still changes something.
      const confirms =
        s.info.kind === "Pod" && !graceful && (old.metadata.deletionGracePeriodSeconds ?? 0) > 0;
      if (o.metadata.deletionTimestamp && !policyFinalizer && !confirms) return current;
      type = "MODIFIED";
      o.metadata.finalizers = finalizers.length ? finalizers : undefined;
      if (!o.metadata.finalizers) delete o.metadata.finalizers;
      o.metadata.deletionTimestamp ??= timestamp(ctx.now());
      o.metadata.deletionGracePeriodSeconds = graceful
        ? (opts.gracePeriodSeconds ?? o.spec?.terminationGracePeriodSeconds ?? 30)
        : 0;
      if (s.info.kind === "Namespace") o.status = { ...o.status, phase: "Terminating" };
    }
    if (opts.dryRun) return { rv: current.rv, object: o };
    try {
      const rv = await commitOver(ctx, s, key, type, o, old, current.rv);
      o.metadata.resourceVersion = String(rv);
      ctx.onCommit({ rv, key, type, object: o, old });
      return { rv, object: o };
    } catch (err) {
      if (err instanceof StoreError && err.failure === "conflict" && attempt < CONFLICT_RETRIES) {
        await backOff(attempt);
        continue;
      }
      throw err;
    }
  }
}

export const strategyOrThrow = (group: string, plural: string): Strategy => {
  const s = strategyFor(group, plural);
  if (!s) throw new ApiError(404, "NotFound", "the server could not find the requested resource");
  return s;
};
