/** Summary of one measured workload: how many operations, how fast, how spread. */
export interface Summary {
  /** Completed operations inside the measured window. */
  readonly ops: number;
  /** Operations per second over the measured window (wall clock). */
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly seconds: number;
}

/**
 * Nearest-rank percentile (the value below which `p` percent of samples lie),
 * the usual definition for latency reports: no interpolation between samples.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function summarize(latenciesMs: readonly number[], elapsedMs: number): Summary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const total = sorted.reduce((sum, v) => sum + v, 0);
  return {
    ops: sorted.length,
    opsPerSec: sorted.length / (elapsedMs / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: sorted.length === 0 ? Number.NaN : total / sorted.length,
    maxMs: sorted.at(-1) ?? Number.NaN,
    seconds: elapsedMs / 1000,
  };
}
