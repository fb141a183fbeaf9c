// The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount): unless the pod or its
// account says automountServiceAccountToken: false, a new pod gets a projected volume with a token
// of its account (which its node's agent requests, bound to the pod) and its namespace, mounted
// in every container at the path client libraries read.
// The kube-root-ca.crt source Kubernetes adds is left out: the API's certificate is a public one.
import { issueLegacy, signingKey } from "../auth/service-account-token.ts";
import { ApiError } from "../k8s/errors.ts";
import type { DB } from "../store/db.ts";
import { getObject } from "../store/objects.ts";
import { randomSuffix } from "./rest.ts";
import type { KObject, Strategy } from "./types.ts";

export const TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";
/** kubelet asks for 3607 s, which it knows to be the admission plugin's default. */
const TOKEN_SECONDS = 3607;

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);

/** Found accounts, cached a few seconds (pods come in bursts); a missing one is asked again. */
const CACHE_MS = 5_000;
const cache = new Map<string, { automount: boolean | undefined; until: number }>();

async function lookupAccount(db: DB, namespace: string, name: string) {
  const key = `${namespace}/${name}`;
  const now = Date.now();
  const hit = cache.get(key);
  if (hit && hit.until > now) return hit;
  const sa = await getObject(db, { resource: "serviceaccounts", namespace, name });
  if (!sa) return undefined;
  const found = {
    automount: sa.object.automountServiceAccountToken as boolean | undefined,
    until: now + CACHE_MS,
  };
  if (cache.size >= 1_000) cache.clear();
  cache.set(key, found);
  return found;
}

/** Makes a namespace's `default` ServiceAccount (the serviceaccounts controller's job). */
export type MakeDefaultAccount = (namespace: string) => Promise<void>;

/**
 * A new pod runs as an account that exists (403 otherwise, as Kubernetes answers). A namespace's
 * `default` account is made here when a pod needs it before the namespace lifecycle object has
 * made it: Kubernetes waits for its controller up to a few seconds; this never races it.
 */
export async function mountServiceAccountToken(
  db: DB,
  s: Strategy,
  pod: KObject,
  old?: KObject,
  makeDefault?: MakeDefaultAccount,
) {
  if (old || s.info.kind !== "Pod" || s.info.group !== "") return;
  const spec = pod.spec;
  if (!isObject(spec)) return;
  const namespace = pod.metadata?.namespace ?? "";
  const account = spec.serviceAccountName || "default";
  let found = await lookupAccount(db, namespace, account);
  if (!found && account === "default" && makeDefault) {
    await makeDefault(namespace);
    found = await lookupAccount(db, namespace, account);
  }
  if (!found) {
    const name = String(pod.metadata?.name ?? "");
    throw new ApiError(
      403,
      "Forbidden",
      `pods "${name}" is forbidden: error looking up service account ${namespace}/${account}: serviceaccount "${account}" not found`,
      { name, kind: "pods" },
    );
  }
  if (spec.automountServiceAccountToken === false) return;
  if (spec.automountServiceAccountToken === undefined && found.automount === false) return;
  const containers = [spec.initContainers, spec.containers]
    .flatMap((l) => (Array.isArray(l) ? l : []))
    .filter(isObject);
  const mounted = (c: KObject) =>
    Array.isArray(c.volumeMounts) &&
    c.volumeMounts.some((m: KObject) => isObject(m) && m.mountPath === TOKEN_MOUNT_PATH);
  const needing = containers.filter((c) => !mounted(c));
  if (!needing.length) return;
  const name = `kube-api-access-${randomSuffix()}`;
  spec.volumes = [
    ...(Array.isArray(spec.volumes) ? spec.volumes : []),
    {
      name,
      projected: {
        defaultMode: 0o644,
        sources: [
          { serviceAccountToken: { expirationSeconds: TOKEN_SECONDS, path: "token" } },
          {
            downwardAPI: {
              items: [
                {
                  path: "namespace",
                  fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" },
                },
              ],
            },
          },
        ],
      },
    },
  ];
  for (const c of needing)
    c.volumeMounts = [
      ...(Array.isArray(c.volumeMounts) ? c.volumeMounts : []),
      { name, readOnly: true, mountPath: TOKEN_MOUNT_PATH },
    ];
}

const TOKEN_SECRET = "kubernetes.io/service-account-token";
const SA_NAME = "kubernetes.io/service-account.name";
const SA_UID = "kubernetes.io/service-account.uid";

/**
 * Kubernetes' tokens controller, done as the Secret is written: a Secret of type
 * kubernetes.io/service-account-token naming an existing ServiceAccount gets a legacy token of
 * it (no expiry; valid while the Secret holds it and the account lives) and the namespace. One
 * naming no account yet stays empty, as Kubernetes leaves it until the account exists.
 */
export async function fillTokenSecret(
  db: DB,
  keySource: string | undefined,
  s: Strategy,
  secret: KObject,
) {
  if (s.info.kind !== "Secret" || secret.type !== TOKEN_SECRET) return;
  const keyPromise = signingKey(keySource);
  const annotations = secret.metadata?.annotations ?? {};
  const name = annotations[SA_NAME];
  if (!keyPromise || typeof name !== "string" || !name) return;
  const namespace = secret.metadata.namespace ?? "";
  const account = await getObject(db, { resource: "serviceaccounts", namespace, name });
  if (!account) return;
  const uid = account.object.metadata.uid as string;
  if (annotations[SA_UID] && annotations[SA_UID] !== uid) return;
  if (secret.data?.token && annotations[SA_UID] === uid) return;
  const token = await issueLegacy(await keyPromise, {
    namespace,
    secretName: secret.metadata.name,
    serviceAccount: { name, uid },
  });
  secret.metadata.annotations = { ...annotations, [SA_UID]: uid };
  secret.data = { ...secret.data, token: btoa(token), namespace: btoa(namespace) };
}
