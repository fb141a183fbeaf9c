// Secrets: SetDefaults_Secret, the v1 conversion of stringData into data, ValidateSecret /
// ValidateSecretUpdate and kubectl's printSecret.
import { badRequest } from "../k8s/errors.ts";
import { type FieldError, forbidden, invalid, required, tooLong } from "../k8s/validation.ts";
import { defineStrategy } from "./define.ts";
import { jsonEqual } from "./diff.ts";
import { findInfo } from "./find.ts";
import { configKeyErrors } from "./podspec.ts";
import { ageColumn, column, nameColumn } from "./table.ts";
import type { KObject } from "./types.ts";

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);

/** core.MaxSecretSize: 1 MiB of decoded data. */
const MAX_SECRET_SIZE = 1024 * 1024;

const base64Re = /^[A-Za-z0-9+/]*={0,2}$/;

/** Where Go's base64.StdEncoding gives up on a JSON []byte value, or undefined when it decodes. */
function base64ErrorAt(s: string): number | undefined {
  const text = s.replace(/[\r\n]/g, "");
  if (base64Re.test(text) && text.length % 4 === 0) return undefined;
  const bad = text.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return bad;
  const pad = text.indexOf("=");
  if (pad >= 0 && pad < text.length - 2) return pad;
  return text.length - (text.length % 4);
}

/** UTF-8 bytes of a string, base64-encoded (what a []byte looks like in JSON). */
export function toBase64(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

const decodedLength = (b64: string): number => {
  const t = b64.replace(/[\r\n]/g, "");
  return Math.floor((t.length * 3) / 4) - (t.endsWith("==") ? 2 : t.endsWith("=") ? 1 : 0);
};

function defaultSecret(o: KObject): void {
  o.type ||= "Opaque";
  for (const v of Object.values(isObject(o.data) ? o.data : {})) {
    if (typeof v !== "string") continue;
    const at = base64ErrorAt(v);
    if (at !== undefined)
      throw badRequest(
        `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte ${at}`,
      );
  }
  // stringData is write-only: merged into data (winning over it) and never stored.
  if (isObject(o.stringData)) {
    o.data = isObject(o.data) ? o.data : {};
    for (const [k, v] of Object.entries(o.stringData)) o.data[k] = toBase64(String(v ?? ""));
  }
  delete o.stringData;
}

const dataPath = (key: string) => `data[${key}]`;
const annotationPath = (key: string) => `metadata.annotations[${key}]`;

function validateJSONKey(data: KObject, key: string): FieldError[] {
  if (!(key in data)) return [required(dataPath(key))];
  try {
    const text = new TextDecoder().decode(
      Uint8Array.from(atob(String(data[key]).replace(/[\r\n]/g, "")), (c) => c.charCodeAt(0)),
    );
    const parsed = JSON.parse(text);
    if (!isObject(parsed))
      throw new Error("json: cannot unmarshal into Go value of type map[string]interface {}");
    return [];
  } catch (err) {
    return [invalid(dataPath(key), "<secret contents redacted>", (err as Error).message)];
  }
}

/** ValidateSecret: data keys are file names, total size capped, type-specific keys present. */
function validateSecret(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const data: KObject = isObject(o.data) ? o.data : {};
  let size = 0;
  for (const [key, value] of Object.entries(data)) {
    for (const m of configKeyErrors(key)) errs.push(invalid(dataPath(key), key, m));
    if (typeof value === "string") size += decodedLength(value);
  }
  if (size > MAX_SECRET_SIZE) errs.push(tooLong("data", MAX_SECRET_SIZE));
  const has = (k: string) => k in data;
  switch (o.type) {
    case "kubernetes.io/service-account-token":
      if (!o.metadata?.annotations?.["kubernetes.io/service-account.name"])
        errs.push(required(annotationPath("kubernetes.io/service-account.name")));
      break;
    case "kubernetes.io/dockercfg":
      errs.push(...validateJSONKey(data, ".dockercfg"));
      break;
    case "kubernetes.io/dockerconfigjson":
      errs.push(...validateJSONKey(data, ".dockerconfigjson"));
      break;
    case "kubernetes.io/basic-auth":
      if (!has("username") && !has("password"))
        errs.push(required(dataPath("username")), required(dataPath("password")));
      break;
    case "kubernetes.io/ssh-auth":
      if (!data["ssh-privatekey"]) errs.push(required(dataPath("ssh-privatekey")));
      break;
    case "kubernetes.io/tls":
      if (!has("tls.crt")) errs.push(required(dataPath("tls.crt")));
      if (!has("tls.key")) errs.push(required(dataPath("tls.key")));
      break;
  }
  return errs;
}

function validateSecretUpdate(o: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  if ((o.type ?? "") !== (old.type ?? ""))
    errs.push(invalid("type", o.type ?? "", "field is immutable"));
  if (old.immutable === true) {
    if (o.immutable !== true)
      errs.push(forbidden("immutable", "field is immutable when `immutable` is set"));
    if (!jsonEqual(o.data, old.data))
      errs.push(forbidden("data", "field is immutable when `immutable` is set"));
  }
  return errs;
}

export const secrets = defineStrategy(findInfo("", "secrets"), {
  defaults: defaultSecret,
  validate: validateSecret,
  validateUpdate: validateSecretUpdate,
  fields: (o) => ({ type: o.type ?? "" }),
  columns: [
    nameColumn,
    column("Type", (o) => o.type ?? "", { description: "The type of the secret" }),
    column("Data", (o) => Object.keys(isObject(o.data) ? o.data : {}).length, {
      description: "The number of entries in the data map",
    }),
    ageColumn,
  ],
});
