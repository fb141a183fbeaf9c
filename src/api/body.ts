// Request bodies: size limit, media type, JSON or YAML parsing, all failing as Kubernetes does.
import { parseAllDocuments } from "yaml";
import { badRequest, tooLarge, unsupportedMediaType } from "../k8s/errors.ts";
import { decodeProtobuf } from "./protobuf/decode.ts";

/** Kubernetes' apiserver limit for a request body. */
export const MAX_BODY = 3 * 1024 * 1024;

export type PatchType = "json" | "merge" | "strategic" | "apply";

const PATCH_TYPES: Record<string, PatchType> = {
  "application/json-patch+json": "json",
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
};

const mediaType = (req: Request) =>
  (req.headers.get("content-type") ?? "application/json").split(";")[0].trim().toLowerCase();

const PROTOBUF = "application/vnd.kubernetes.protobuf";

async function readBytes(req: Request): Promise<ArrayBuffer> {
  const declared = Number(req.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY) throw tooLarge(MAX_BODY);
  const buf = await req.arrayBuffer();
  if (buf.byteLength > MAX_BODY) throw tooLarge(MAX_BODY);
  return buf;
}

export async function readBody(req: Request): Promise<string> {
  return new TextDecoder().decode(await readBytes(req));
}

/** An object body of POST/PUT: JSON or YAML. */
export async function readObject(req: Request): Promise<any> {
  const type = mediaType(req);
  // kubectl's typed clients (create <kind>, drain) send protobuf.
  if (type === PROTOBUF) {
    const { apiVersion, kind, object } = decodeProtobuf(await readBytes(req));
    return { apiVersion, kind, ...object };
  }
  if (type !== "application/json" && type !== "application/yaml" && type !== "*/*")
    throw unsupportedMediaType(type, ["application/json", "application/yaml", PROTOBUF]);
  const text = await readBody(req);
  const value = type === "application/yaml" ? parseYaml(text) : parseJson(text);
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw badRequest("the request body must be a JSON object");
  return value;
}

export async function readPatch(req: Request): Promise<{ type: PatchType; body: unknown }> {
  const media = mediaType(req);
  const type = PATCH_TYPES[media];
  if (!type) throw unsupportedMediaType(media, Object.keys(PATCH_TYPES));
  const text = await readBody(req);
  const body = type === "apply" ? parseYaml(text) : parseJson(text);
  return { type, body };
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`json parse error: ${(err as Error).message}`);
  }
}

export function parseYaml(text: string): unknown {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs) || docs.length === 0) return {};
  if (docs.length > 1) throw badRequest("yaml: the body must hold exactly one document");
  const doc = docs[0];
  if (doc.errors.length)
    throw badRequest(`error converting YAML to JSON: ${doc.errors[0].message}`);
  return doc.toJS({ maxAliasCount: 100 });
}
