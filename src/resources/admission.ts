// Mutating admission that needs the cluster's configuration or state (the strategies' defaults
// do not): ServiceAccount (serviceaccount-admission.ts), then DefaultTolerationSeconds
// (plugin/pkg/admission/defaulttolerationseconds): every pod created or updated tolerates the
// not-ready and unreachable NoExecute taints for DEFAULT_TOLERATION_SECONDS unless it already
// tolerates them, so taint-based eviction reads how long a pod may stay on a failing node from
// the pod itself.
import type { Env } from "../env.ts";
import type { DB } from "../store/db.ts";
import {
  fillTokenSecret,
  type MakeDefaultAccount,
  mountServiceAccountToken,
} from "./serviceaccount-admission.ts";
import type { KObject, Strategy } from "./types.ts";

export const NOT_READY = "node.kubernetes.io/not-ready";
export const UNREACHABLE = "node.kubernetes.io/unreachable";
/** The plugin's --default-not-ready-toleration-seconds and --default-unreachable-... */
const DEFAULT_TOLERATION_SECONDS = 300;

/** DEFAULT_TOLERATION_SECONDS from the environment (tests shorten it), else 300. */
export function defaultTolerationSeconds(env: Env): number {
  const n = Number(env.DEFAULT_TOLERATION_SECONDS ?? DEFAULT_TOLERATION_SECONDS);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_TOLERATION_SECONDS;
}

/** Admission of a write: may change the object or throw; `old` is unset on create. */
export type Admit = (s: Strategy, o: KObject, old: KObject | undefined) => void | Promise<void>;

/** Admission plugins run one after the other. */
export const chain =
  (...admits: Admit[]): Admit =>
  async (s, o, old) => {
    for (const a of admits) await a(s, o, old);
  };

const isObject = (v: unknown): v is KObject => !!v && typeof v === "object" && !Array.isArray(v);

/** The admission chain: default toleration `seconds`, ServiceAccount tokens signed with the key. */
export function admission(
  db: DB,
  seconds: number,
  signingKey?: string,
  makeDefaultAccount?: MakeDefaultAccount,
): Admit {
  return async (s, o, old) => {
    if (s.info.group !== "") return;
    if (s.info.kind === "Secret") await fillTokenSecret(db, signingKey, s, o);
    if (s.info.kind !== "Pod") return;
    await mountServiceAccountToken(db, s, o, old, makeDefaultAccount);
    addDefaultTolerations(o, seconds);
  };
}

function addDefaultTolerations(pod: KObject, seconds: number): void {
  const spec = pod.spec;
  if (!isObject(spec)) return;
  if (spec.tolerations != null && !Array.isArray(spec.tolerations)) return;
  const tolerations: unknown[] = spec.tolerations ?? [];
  // A toleration with no key (or no effect) covers every key (or effect).
  const tolerates = (key: string) =>
    tolerations.some(
      (t) => isObject(t) && (!t.key || t.key === key) && (!t.effect || t.effect === "NoExecute"),
    );
  const add = [NOT_READY, UNREACHABLE]
    .filter((key) => !tolerates(key))
    .map((key) => ({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: seconds }));
  if (add.length) spec.tolerations = [...tolerations, ...add];
}
