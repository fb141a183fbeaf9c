// Restart back-off as the kubelet does it: the first restart is immediate, then each restart
// waits 10 s, 20 s, 40 s … up to 5 min after the previous start; a container that ran for
// 10 minutes starts over.
export const INITIAL_MS = 10_000;
export const MAX_MS = 300_000;
const RESET_AFTER_MS = 2 * MAX_MS;

interface Entry {
  delay: number;
  lastStart: number;
}

export class Backoff {
  private readonly entries = new Map<string, Entry>();
  private readonly initial: number;
  private readonly max: number;

  constructor(initial = INITIAL_MS, max = MAX_MS) {
    this.initial = initial;
    this.max = max;
  }

  /** When `key` may start again (ms since epoch); `ranFor` is how long its last run lasted. */
  readyAt(key: string, ranFor = 0): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    if (ranFor >= RESET_AFTER_MS) {
      this.entries.delete(key);
      return 0;
    }
    return e.lastStart + e.delay;
  }

  /** Records a (re)start at `now`: the next one waits twice as long. */
  started(key: string, now = Date.now()): void {
    const e = this.entries.get(key);
    this.entries.set(key, {
      delay: e ? Math.min(this.max, e.delay * 2) : this.initial,
      lastStart: now,
    });
  }

  /** The wait the next restart will get, in seconds (for CrashLoopBackOff messages). */
  delaySeconds(key: string): number {
    return Math.round((this.entries.get(key)?.delay ?? 0) / 1000);
  }

  forget(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}
