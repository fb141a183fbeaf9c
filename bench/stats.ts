// Latency figures: percentiles over recorded samples, in milliseconds.

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  perSecond: number;
}

export function summarize(samples: number[], wallMs: number): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: samples.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    perSecond: (samples.length / wallMs) * 1000,
  };
}

/** Run `op(i)` for i < n with `concurrency` in flight; latencies of each call. */
export async function closedLoop(
  n: number,
  concurrency: number,
  op: (i: number) => Promise<void>,
): Promise<Summary> {
  const samples: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await op(i);
        samples.push(performance.now() - t);
      }
    }),
  );
  return summarize(samples, performance.now() - start);
}

/**
 * Start `op(i)` at a fixed rate for `seconds` (or until `stop()`), whatever the replies do. A
 * failed call is counted in `failed` and its first errors are printed, not thrown: a paced probe
 * runs beside other work, and one lost connection must not end the run unreported.
 */
export async function openLoop(
  rate: number,
  seconds: number,
  op: (i: number) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<Summary & { failed: number }> {
  const samples: number[] = [];
  let failed = 0;
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const total = rate * seconds;
  for (let i = 0; i < total && !stop(); i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t = performance.now();
    inflight.push(
      op(i).then(
        () => void samples.push(performance.now() - t),
        (err) => {
          if (++failed <= 3) process.stderr.write(`  paced call failed: ${err}\n`);
        },
      ),
    );
  }
  await Promise.all(inflight);
  return { ...summarize(samples, performance.now() - start), failed };
}

export const fmt = (s: Summary & { failed?: number }) =>
  `n=${s.n}  p50=${s.p50.toFixed(1)} ms  p99=${s.p99.toFixed(1)} ms  ${s.perSecond.toFixed(0)}/s${s.failed ? `  (${s.failed} failed)` : ""}`;
