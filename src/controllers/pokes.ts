// After a write, wake whoever must react: the watch hub always, controllers when the change is
// theirs. A lost poke only delays work: every controller also re-checks on its own alarm.
import type { Env } from "../env.ts";
import type { Committed } from "../resources/rest.ts";

const hasFinalizer = (c: Committed, f: string) => (c.object.metadata?.finalizers ?? []).includes(f);

async function quietly(what: string, p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    console.warn(`poke ${what} failed`, err);
  }
}

export function pokesFor(env: Env, c: Committed): Promise<void>[] {
  const out: Promise<void>[] = [];
  const deleting = !!c.object.metadata?.deletionTimestamp;
  if (
    c.type === "DELETED" ||
    (deleting && (hasFinalizer(c, "foregroundDeletion") || hasFinalizer(c, "orphan")))
  )
    out.push(quietly("garbage collector", env.GARBAGE_COLLECTOR.getByName("gc").poke()));
  if (c.key.resource === "namespaces" && deleting && c.type !== "DELETED")
    out.push(
      quietly("namespace lifecycle", env.NAMESPACE_LIFECYCLE.getByName("namespaces").poke()),
    );
  return out;
}

// One hub poke in flight per isolate: writes arriving meanwhile only ask for one more round,
// so a burst of writes costs two pokes, not one each, and the last write is always covered.
let hubPoke: Promise<void> | undefined;
let hubAgain = false;

export function pokeHub(env: Env): Promise<void> {
  if (hubPoke) {
    hubAgain = true;
    return hubPoke;
  }
  hubPoke = (async () => {
    do {
      hubAgain = false;
      await quietly("watch hub", env.WATCH_HUB.getByName("hub").poke());
    } while (hubAgain);
  })().finally(() => {
    hubPoke = undefined;
  });
  return hubPoke;
}
