// serviceaccounts/token (pkg/registry/core/serviceaccount/storage/token.go): signs a TokenRequest,
// optionally bound to a Pod, Secret or Node so that it stops working when that object goes.
import {
  API_AUDIENCES,
  issue,
  signingKey,
  type TokenClaims,
} from "../../auth/service-account-token.ts";
import { ApiError, badRequest, conflict, invalid } from "../../k8s/errors.ts";
import * as rest from "../../resources/rest.ts";
import type { KObject, Strategy } from "../../resources/types.ts";
import { readObject } from "../body.ts";
import { type C, storeCtx } from "../context.ts";
import { json } from "../output.ts";
import type { ResourcePath } from "../paths.ts";

const MIN_SECONDS = 600;
const MAX_SECONDS = 2 ** 32;
const DEFAULT_SECONDS = 3600;

/** The kinds a token may be bound to, as `kind` and `apiVersion` name them. */
const BINDABLE: Record<string, string> = { Pod: "pods", Secret: "secrets", Node: "nodes" };

export async function tokenRequest(c: C, s: Strategy, p: ResourcePath) {
  const name = p.name as string;
  const namespace = p.namespace ?? "";
  const body = (await readObject(c.req.raw)) as KObject;
  const spec: KObject = body.spec ?? {};
  const expirationSeconds = spec.expirationSeconds ?? DEFAULT_SECONDS;
  const causes = [];
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < MIN_SECONDS)
    causes.push({
      field: "spec.expirationSeconds",
      message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`,
    });
  else if (expirationSeconds > MAX_SECONDS)
    causes.push({
      field: "spec.expirationSeconds",
      message: `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds`,
    });
  if (spec.audiences !== undefined && !Array.isArray(spec.audiences))
    causes.push({ field: "spec.audiences", message: "Invalid value: must be a list of strings" });
  if (causes.length)
    throw invalid(
      "TokenRequest",
      "authentication.k8s.io",
      name,
      `TokenRequest.authentication.k8s.io "${name}" is invalid: ${causes.map((x) => `${x.field}: ${x.message}`).join(", ")}`,
      causes.map((x) => ({ reason: "FieldValueInvalid", ...x })),
    );

  const keyPromise = signingKey(c.env.SERVICE_ACCOUNT_KEY);
  if (!keyPromise)
    throw new ApiError(
      503,
      "ServiceUnavailable",
      "ServiceAccount tokens are not configured on this server: set the SERVICE_ACCOUNT_KEY secret",
    );
  const ctx = storeCtx(c);
  const sa = (await rest.get(ctx, s, namespace, name)).object;
  const claims: Omit<TokenClaims, "id"> = {
    namespace,
    serviceAccount: { name, uid: sa.metadata.uid },
    audiences: spec.audiences?.length ? spec.audiences : API_AUDIENCES,
    expires: 0,
  };

  const ref: KObject | undefined = spec.boundObjectRef;
  if (ref) {
    const resource = BINDABLE[ref.kind];
    if (!resource || (ref.apiVersion && ref.apiVersion !== "v1"))
      throw badRequest(
        `cannot bind token for serviceaccount "${name}" to object of type ${ref.apiVersion ?? "v1"}, Kind=${ref.kind}`,
      );
    const bound = await rest.get(
      ctx,
      rest.strategyOrThrow("", resource),
      resource === "nodes" ? "" : namespace,
      ref.name ?? "",
    );
    const uid = bound.object.metadata.uid;
    if (ref.uid && ref.uid !== uid)
      throw conflict(
        { group: "", resource: ref.kind },
        ref.name,
        `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
      );
    if (ref.kind === "Pod" && (bound.object.spec?.serviceAccountName ?? "default") !== name)
      throw badRequest(
        `cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`,
      );
    const obj = { name: ref.name, uid };
    if (ref.kind === "Pod") claims.pod = obj;
    else if (ref.kind === "Secret") claims.secret = obj;
    else claims.node = obj;
    checkNodeRequest(c, name, ref.kind, bound.object);
  } else checkNodeRequest(c, name);

  const now = Math.floor(ctx.now().getTime() / 1000);
  claims.expires = now + expirationSeconds;
  const { token } = await issue(await keyPromise, claims, now);
  return json(
    {
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: {
        name,
        namespace,
        creationTimestamp: rest.timestamp(new Date(now * 1000)),
      },
      spec: {
        audiences: claims.audiences,
        expirationSeconds,
        boundObjectRef: ref ? { ...ref, apiVersion: "v1", uid: ref.uid ?? "" } : null,
      },
      status: {
        token,
        expirationTimestamp: rest.timestamp(new Date(claims.expires * 1000)),
      },
    },
    201,
  );
}

/** NodeRestriction: a node asks only for tokens bound to a pod that runs on it. */
function checkNodeRequest(c: C, account: string, kind?: string, bound?: KObject) {
  const node = c.get("user").node;
  if (!node) return;
  const deny = (why: string) =>
    new ApiError(403, "Forbidden", `serviceaccounts "${account}" is forbidden: ${why}`);
  if (kind !== "Pod" || !bound) throw deny(`node requested token not bound to a pod`);
  if (bound.spec?.nodeName !== node.name)
    throw deny(`node requested token bound to a pod scheduled on a different node`);
}
