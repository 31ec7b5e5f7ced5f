/**
 * What the generated-input suites share: how many cases to run and how to
 * replay one, and how a failure is reported. FUZZ_RUNS (default 25) sets the
 * cases per property; FUZZ_SEED replays the seed a failure printed.
 */
export const FUZZ_RUNS = Number(process.env['FUZZ_RUNS'] ?? 25);

/**
 * A generated-input test's time limit: 10 minutes at the default, growing
 * with FUZZ_RUNS (the slowest suite, server/fuzz, needs ~1.5 s per case on a
 * 2-core machine), so a deep local run is not cut off by the default limit.
 */
export const FUZZ_TIMEOUT_MS = Math.max(600_000, FUZZ_RUNS * 3_000);

/** fast-check's run options for FUZZ_RUNS and FUZZ_SEED. */
export const FUZZ_OPTIONS = {
  numRuns: FUZZ_RUNS,
  ...(process.env['FUZZ_SEED'] !== undefined ? { seed: Number(process.env['FUZZ_SEED']) } : {}),
};

/**
 * A few lines of what `fc.assert` threw for `name`: the seed and shrunk
 * counterexample, then the failed assertion, which fast-check keeps as the
 * cause (its message holds the request and the answer).
 */
export function failureReport(name: string, error: unknown): string {
  const cause = (error as Error).cause as Error | undefined;
  const head = (error as Error).message.split('\n').slice(0, 3).join(' ');
  // One level deeper too: fetch's own "fetch failed" says nothing; its cause (ECONNRESET, other side closed) does.
  const inner = (cause?.cause as Error | undefined)?.message;
  return `${name}: ${head}\n  ${cause?.message.split('\n').slice(0, 4).join(' ') ?? ''}${inner !== undefined ? ` (${inner})` : ''}`;
}
