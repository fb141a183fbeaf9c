// Tearing down a containerd of our own (npm start's node, the end-to-end tests' hosts) with
// everything it ran: every container and task in every namespace, the shims, and the mounts left
// under a directory. The pods' network goes through the agent's own cleanup (agent/cleanup.ts).
// `npm run killall` and the end-to-end tests' cleanup share it.
import { readdirSync, readFileSync } from "node:fs";
import { removeContainers } from "../agent/cleanup.ts";
import { mountPoints } from "../agent/sandbox.ts";
import { run } from "./run.ts";

const lines = (s: string) => s.split("\n").filter((l) => l.trim());

/** removeContainers in every namespace of a containerd of our own; returns how many. */
export async function removeAllContainers(
  ctr: (args: string[], o?: { namespace?: string }) => Promise<string>,
): Promise<number> {
  let count = 0;
  for (const namespace of lines(await ctr(["namespaces", "ls", "-q"])))
    count += await removeContainers((args) => ctr(args, { namespace }));
  return count;
}

/** Processes with `needle` as one of their arguments, with all their descendants. */
export function processTree(needle: string): number[] {
  const parent = new Map<number, number>();
  const roots: number[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(needle))
        roots.push(pid);
    } catch {}
  }
  const tree = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** Shims outlive containerd by design; those of this containerd (and what they run) go. */
export function killShims(address: string) {
  for (const pid of processTree(address)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return mountPoints()
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string) {
  for (let i = 0; i < 5; i++) {
    const mounts = mountsUnder(dir);
    if (!mounts.length) return;
    for (const m of mounts) {
      try {
        await run("umount", ["-l", m], { quiet: true });
      } catch {}
    }
  }
  // Removing the dir with a mount still in place would delete what the mount shows.
  throw new Error(`still mounted under ${dir}: ${mountsUnder(dir).join(", ")}`);
}
