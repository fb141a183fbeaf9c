// The store context controllers write through: the same pipeline and pokes as API requests.
import type { Env } from "../env.ts";
import { ApiError } from "../k8s/errors.ts";
import { admission, defaultTolerationSeconds } from "../resources/admission.ts";
import { allocateFor } from "../resources/allocate.ts";
import { strategyFor } from "../resources/registry.ts";
import { type Committed, type Ctx, create } from "../resources/rest.ts";
import { openDb } from "../store/db.ts";
import type { Key } from "../store/objects.ts";
import { configureSealing } from "../store/sealing.ts";
import { pokeCallsFor, pokeHub, pokesFor } from "./pokes.ts";

function storeCtx(env: Env, onCommit: (c: Committed) => void): Ctx {
  configureSealing(env.SECRETS_KEY);
  const db = openDb(env.DB);
  const ctx: Ctx = {
    db,
    now: () => new Date(),
    onCommit,
    allocate: (s, o, old) => allocateFor(db, env, s, o, old),
  };
  // A pod that needs its namespace's default account before the namespace lifecycle object
  // made it has it made through this same context.
  const makeDefaultAccount = async (namespace: string) => {
    const accounts = strategyFor("", "serviceaccounts");
    if (!accounts) return;
    try {
      await create(ctx, accounts, namespace, { metadata: { name: "default" } });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 409)) throw err;
    }
  };
  ctx.admit = admission(
    db,
    defaultTolerationSeconds(env),
    env.SERVICE_ACCOUNT_KEY,
    makeDefaultAccount,
  );
  return ctx;
}

/** An API request's context: its pokes go out as it commits, coalesced across requests. */
export function writeCtx(env: Env, waitUntil: (p: Promise<unknown>) => void): Ctx {
  let hubPoked = false;
  return storeCtx(env, (c) => {
    // One hub poke per request is enough: the hub reads everything after its cursor.
    if (!hubPoked) {
      hubPoked = true;
      waitUntil(pokeHub(env));
    }
    for (const p of pokesFor(env, c)) waitUntil(p);
  });
}

/**
 * A Durable Object's context (a controller pass). Its controller pokes wait for `flush`, once
 * per callee, after every write of the pass: a pass creating 1,000 pods pokes the scheduler
 * once. Nothing here is coalesced with other requests, and the object awaits `flush` before its
 * request ends: a coalesced follow-up call would run in the context of the request that started
 * it, and one made after a controller's alarm had returned broke the object ("the IoContext has
 * no current IncomingRequest"; workerd then reset it, and the scheduler lost its cache every few
 * seconds that way). `self` is the key of the controller making the pass, which its own writes
 * need not wake.
 */
export function objectCtx(env: Env, self?: Key): { ctx: Ctx; flush: () => Promise<void> } {
  let hub: Promise<void> | undefined;
  const calls = new Map<string, () => Promise<void>>();
  const ctx = storeCtx(env, (c) => {
    hub ??= pokeHub(env, true);
    for (const [id, call] of pokeCallsFor(env, c, self)) calls.set(id, call);
  });
  const flush = async () => {
    const due = [...calls.values()];
    calls.clear();
    const h = hub;
    hub = undefined;
    await Promise.allSettled([h, ...due.map((call) => call())]);
  };
  return { ctx, flush };
}
