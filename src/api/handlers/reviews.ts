// The review kinds (pkg/registry/authentication, pkg/registry/authorization): created, answered in
// the response's status, stored nowhere. `kubectl auth whoami` and `kubectl auth can-i` ask them.
import { decodeJwt } from "jose";
import { authenticateToken, type UserInfo } from "../../auth/authenticate.ts";
import { decide } from "../../auth/authorize.ts";
import { isMaster, type RequestAttributes, rulesOf } from "../../auth/rbac.ts";
import { API_AUDIENCES } from "../../auth/service-account-token.ts";
import { type ApiError, invalid, methodNotAllowed } from "../../k8s/errors.ts";
import { groupVersion } from "../../resources/catalog.ts";
import type { KObject, Strategy } from "../../resources/types.ts";
import { openDb } from "../../store/db.ts";
import { policyObjects } from "../../store/policy.ts";
import { readObject } from "../body.ts";
import type { C } from "../context.ts";
import { json } from "../output.ts";
import type { ResourcePath } from "../paths.ts";

export async function review(c: C, s: Strategy, p: ResourcePath) {
  if (c.req.method !== "POST" || p.name)
    throw methodNotAllowed("the server does not allow this method on the requested resource");
  const body = (await readObject(c.req.raw)) as KObject;
  const spec: KObject = body.spec ?? {};
  const user = c.get("user");
  const answer = {
    apiVersion: groupVersion(s.info),
    kind: s.info.kind,
    metadata: { creationTimestamp: null },
    ...(s.info.kind === "SelfSubjectReview" ? {} : { spec }),
  };
  switch (s.info.kind) {
    case "SelfSubjectReview":
      return json({ ...answer, status: { userInfo: userInfoOf(user) } }, 201);
    case "TokenReview":
      return json({ ...answer, status: await tokenReview(c, spec) }, 201);
    case "SelfSubjectAccessReview":
      return json({ ...answer, status: await accessReview(c, user, spec) }, 201);
    case "SelfSubjectRulesReview":
      return json({ ...answer, status: await rulesReview(c, user, spec) }, 201);
    default:
      throw methodNotAllowed("the server does not allow this method on the requested resource");
  }
}

const userInfoOf = (u: UserInfo) => ({
  username: u.username,
  ...(u.uid ? { uid: u.uid } : {}),
  groups: u.groups,
  ...(u.extra ? { extra: u.extra } : {}),
});

async function tokenReview(c: C, spec: KObject) {
  const asked = spec.audiences ?? [];
  if (!Array.isArray(asked) || asked.some((a) => typeof a !== "string")) {
    const message = "Invalid value: must be a list of strings";
    throw invalid(
      "TokenReview",
      "authentication.k8s.io",
      "",
      `TokenReview.authentication.k8s.io "" is invalid: spec.audiences: ${message}`,
      [{ reason: "FieldValueInvalid", field: "spec.audiences", message }],
    );
  }
  // No audiences asked: the API's own, as Kubernetes defaults them.
  const audiences: string[] = asked.length ? asked : API_AUDIENCES;
  const token = typeof spec.token === "string" ? spec.token : "";
  const user = token ? await authenticateToken(token, c.env, audiences) : undefined;
  if (!user) return { authenticated: false, user: {}, error: "invalid bearer token" };
  const named = audiencesOf(token);
  return {
    authenticated: true,
    user: userInfoOf(user),
    audiences: audiences.filter((a) => named.includes(a)),
  };
}

/** The audiences an authenticated token is for: a JWT's `aud`, else the API's. */
function audiencesOf(token: string): string[] {
  try {
    const { aud } = decodeJwt(token);
    return aud === undefined ? API_AUDIENCES : ([] as string[]).concat(aud);
  } catch {
    return API_AUDIENCES;
  }
}

function invalidReview(kind: string, message: string): ApiError {
  const field = "spec.resourceAttributes";
  return invalid(
    kind,
    "authorization.k8s.io",
    "",
    `${kind}.authorization.k8s.io "" is invalid: ${field}: ${message}`,
    [{ reason: "FieldValueInvalid", field, message }],
  );
}

async function accessReview(c: C, user: UserInfo, spec: KObject) {
  const r = spec.resourceAttributes;
  const n = spec.nonResourceAttributes;
  if (!r === !n)
    throw invalidReview(
      "SelfSubjectAccessReview",
      "Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
    );
  const a: RequestAttributes = r
    ? {
        verb: r.verb ?? "",
        group: r.group ?? "",
        resource: r.resource ?? "",
        subresource: r.subresource || undefined,
        namespace: r.namespace || undefined,
        name: r.name || undefined,
      }
    : { verb: n.verb ?? "", path: n.path ?? "" };
  const { allowed, reason } = await decide(openDb(c.env.DB), user, a);
  // RBAC has no reason to give for a refusal; the node authorizer has.
  return allowed ? { allowed } : user.node ? { allowed, reason } : { allowed };
}

async function rulesReview(c: C, user: UserInfo, spec: KObject) {
  if (isMaster(user))
    return {
      resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"] }],
      nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
      incomplete: false,
    };
  if (user.node)
    return {
      resourceRules: [],
      nonResourceRules: [],
      incomplete: true,
      evaluationError: "node authorizer does not support user rule resolution",
    };
  const rules = rulesOf(await policyObjects(openDb(c.env.DB), spec.namespace || undefined), user);
  return {
    resourceRules: rules
      .filter((r) => !r.nonResourceURLs?.length)
      .map((r) => ({
        verbs: r.verbs ?? [],
        apiGroups: r.apiGroups ?? [],
        resources: r.resources ?? [],
        ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
      })),
    nonResourceRules: rules
      .filter((r) => r.nonResourceURLs?.length)
      .map((r) => ({ verbs: r.verbs ?? [], nonResourceURLs: r.nonResourceURLs })),
    incomplete: false,
  };
}
