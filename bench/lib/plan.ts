import type { SeedShape } from './seed.js';

/** Everything that sizes a run. `BENCH_QUICK=1` shrinks it to a smoke test of the harness. */
export interface Plan {
  readonly shape: SeedShape;
  /** PGlite's store, if seeding a full one would take too long (see README). */
  readonly pgliteShape: SeedShape;
  readonly appendWarmupMs: number;
  readonly appendMs: number;
  readonly reads: number;
  readonly readWarmup: number;
  readonly readMaxMs: number;
  /** Caps for LangChain's unbounded getMessages() (reads, warm-up reads), by conversation size. */
  readonly langchainReads: { readonly small: number; readonly big: number; readonly maxMs: number };
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name}: expected a positive integer, got ${raw}`);
  return value;
}

export function loadPlan(): Plan {
  const quick = process.env['BENCH_QUICK'] === '1';
  const shape: SeedShape = {
    conversations: envInt('BENCH_CONVERSATIONS', quick ? 500 : 10_000),
    messagesPerConversation: 100,
    users: quick ? 50 : 1000,
    bigConversation: envInt('BENCH_BIG_CONVERSATION', quick ? 10_000 : 100_000),
  };
  return {
    shape,
    pgliteShape: {
      ...shape,
      conversations: envInt('BENCH_PGLITE_CONVERSATIONS', shape.conversations),
    },
    appendWarmupMs: quick ? 300 : 1000,
    appendMs: envInt('BENCH_APPEND_MS', quick ? 1000 : 6000),
    reads: envInt('BENCH_READS', quick ? 200 : 2000),
    readWarmup: quick ? 20 : 200,
    readMaxMs: 30_000,
    langchainReads: { small: quick ? 10 : 100, big: quick ? 4 : 16, maxMs: quick ? 3000 : 10_000 },
  };
}
