// New keys for the Worker's secrets, made the same way by `npm start` and `npm run deploy`.
import { generateKeyPairSync, randomBytes } from "node:crypto";

/** SECRETS_KEY: 32 random bytes, base64. */
export const newSealingKey = () => randomBytes(32).toString("base64");

/** SERVICE_ACCOUNT_KEY: a P-256 private key, PKCS#8 DER in base64. */
export const newServiceAccountKey = () =>
  generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "der" })
    .toString("base64");
