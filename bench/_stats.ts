/** Shared helpers for benchmarks: percentiles over samples and a high-resolution clock. */
import { execFileSync } from 'node:child_process';

/** The p-th percentile (0..100) of `samples`, which it sorts in place. */
export function percentile(samples: Float64Array | number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = samples instanceof Float64Array ? samples.sort() : samples.sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Nanoseconds from a monotonic clock, as a number (exact to well beyond a day). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Writes a progress line to stderr, never stdout, so the last stdout line stays the result. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * Pins every thread of process `pid` to CPU `core` (`taskset`), so a server and its load
 * generator do not take turns on one core; false where taskset is missing.
 */
export function pin(core: number, pid: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
