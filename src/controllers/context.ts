// The store context controllers write through: the same pipeline and pokes as API requests.
import type { Env } from "../env.ts";
import { admission, defaultTolerationSeconds } from "../resources/admission.ts";
import { allocateFor } from "../resources/allocate.ts";
import type { Committed, Ctx } from "../resources/rest.ts";
import { openDb } from "../store/db.ts";
import { configureSealing } from "../store/sealing.ts";
import { pokeHub, pokesFor } from "./pokes.ts";

/**
 * `inObject`: the writer is a Durable Object, which must await what `waitUntil` is handed before
 * its request ends and gets uncoalesced pokes (pokes.ts says why).
 */
export function writeCtx(
  env: Env,
  waitUntil: (p: Promise<unknown>) => void,
  inObject = false,
): Ctx {
  configureSealing(env.SECRETS_KEY);
  const db = openDb(env.DB);
  let hubPoked = false;
  return {
    db,
    now: () => new Date(),
    onCommit: (c: Committed) => {
      // One hub poke per request is enough: the hub reads everything after its cursor.
      if (!hubPoked) {
        hubPoked = true;
        waitUntil(pokeHub(env, inObject));
      }
      for (const p of pokesFor(env, c, inObject)) waitUntil(p);
    },
    allocate: (s, o, old) => allocateFor(db, env, s, o, old),
    admit: admission(defaultTolerationSeconds(env)),
  };
}
