// POST /kubeflare/v1/join: a host trades a join token for its node credential and pod CIDR.
// Public: the body carries the token.
import { join } from "../auth/join.ts";
import { badRequest } from "../k8s/errors.ts";
import { parseJson, readBody } from "./body.ts";
import { type C, storeCtx } from "./context.ts";
import { json } from "./output.ts";

export async function joinHandler(c: C): Promise<Response> {
  // JSON whatever the content type says (curl -d sends a form type): the body is only this.
  const body = parseJson(await readBody(c.req.raw));
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw badRequest('the body must be a JSON object: {"token": …, "nodeName": …}');
  const { token, nodeName } = body as { token?: unknown; nodeName?: unknown };
  if (typeof token !== "string" || !token)
    throw badRequest('the body must name the join token as a string: {"token": …, "nodeName": …}');
  if (typeof nodeName !== "string" || !nodeName)
    throw badRequest('the body must name the node as a string: {"token": …, "nodeName": …}');
  const joined = await join(storeCtx(c).db, c.env, { token, nodeName });
  return json(joined);
}
