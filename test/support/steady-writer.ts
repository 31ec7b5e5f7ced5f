import type { Store } from '../../src/index.js';

/**
 * What a steady writer saw, when stopped. Latencies are per operation, in ms
 * (rounded to 0.1), measured from when the operation was *due* — one
 * interval after the previous one started, or when the previous one
 * finished if it overran — until it finished. So a writer held back shows
 * the whole wait, whether a lock held its statement or (on PGlite) a busy
 * single session kept it from even starting.
 */
export interface SteadyWriterReport {
  /** Operations that succeeded (turns appended, for the turn writer). */
  readonly turns: number;
  /** One line per failed operation: the error's code (or name) and message. Chat content never appears in them. */
  readonly errors: readonly string[];
  readonly p50: number;
  readonly p99: number;
  readonly worst: number;
  /** When each successful operation finished (`performance.now()`), to count those inside a window: {@link opsWithin}. */
  readonly finishedAt: readonly number[];
}

/** A running writer; `stop()` waits for the operation in flight and reports. */
export interface SteadyWriter {
  stop(): Promise<SteadyWriterReport>;
}

export interface SteadyLoopOptions {
  /** Time from the start of one operation to the start of the next (default 10 ms); a slow operation delays the next, it is never overlapped. */
  readonly intervalMs?: number;
}

/**
 * Runs `operation(i)` at a steady rate until stopped, recording each call's
 * latency and every error — the application's side of an online-migration
 * scenario (issue 4: "a writer … at a steady rate during every scenario
 * migration sees zero errors"). One operation at a time: a stall shows up
 * as one long latency (see {@link SteadyWriterReport}), not as a pile of
 * queued operations.
 *
 * @example
 * const hostWriter = startSteadyLoop((i) => insertTask(db, i), { intervalMs: 5 });
 * await migrator.up();
 * expect((await hostWriter.stop()).errors).toEqual([]);
 */
export function startSteadyLoop(
  operation: (i: number) => Promise<void>,
  options: SteadyLoopOptions = {},
): SteadyWriter {
  const intervalMs = options.intervalMs ?? 10;
  const latencies: number[] = [];
  const errors: string[] = [];
  const finishedAt: number[] = [];
  let succeeded = 0;
  let stopped = false;
  const running = (async () => {
    let due = performance.now();
    for (let i = 0; !stopped; i++) {
      const started = performance.now();
      try {
        await operation(i);
        succeeded++;
        finishedAt.push(performance.now());
      } catch (error) {
        errors.push(describeError(error));
      }
      const finished = performance.now();
      latencies.push(finished - Math.min(due, started));
      due = Math.max(started + intervalMs, finished);
      const wait = due - performance.now();
      if (wait > 0 && !stopped) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running;
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number) =>
        round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0);
      return {
        turns: succeeded,
        errors,
        p50: at(0.5),
        p99: at(0.99),
        worst: round(sorted.at(-1) ?? 0),
        finishedAt,
      };
    },
  };
}

export interface SteadyTurnWriterOptions extends SteadyLoopOptions {
  /** The user the writer acts as (default `steady-writer`); with a host users table, that user must exist there. */
  readonly userId?: string;
  /** How many conversations of its own it writes to, round-robin (default 4). */
  readonly conversations?: number;
}

/**
 * A steady application writer: creates its own conversations, then appends
 * one turn every `intervalMs` through the store, round-robin over them. Give
 * it a store on the application's own connections (on PostgreSQL a separate
 * pool, as a separate process would have) so that what it measures is what
 * the application would feel.
 *
 * @example
 * const writer = await startSteadyWriter(appStore, { intervalMs: 5 });
 * await migrator.up();
 * const { turns, errors, worst } = await writer.stop();
 */
export async function startSteadyWriter(
  store: Store,
  options: SteadyTurnWriterOptions = {},
): Promise<
  SteadyWriter & { readonly userId: string; readonly conversationIds: readonly string[] }
> {
  const userId = options.userId ?? 'steady-writer';
  const conversations = await Promise.all(
    Array.from({ length: options.conversations ?? 4 }, (_, i) =>
      store.conversations.create(userId, { title: `steady ${i}` }),
    ),
  );
  const ids = conversations.map((c) => c.id);
  const loop = startSteadyLoop(async (i) => {
    await store.turns.append(userId, ids[i % ids.length]!, {
      user: `question ${i}`,
      assistant: `answer ${i}`,
    });
  }, options);
  return { ...loop, userId, conversationIds: ids };
}

/**
 * How many operations finished between `from` and `to` (`performance.now()`
 * values taken around a migration): on PostgreSQL, proof that the
 * application was served *while* it ran, not just before and after.
 */
export function opsWithin(report: SteadyWriterReport, from: number, to: number): number {
  return report.finishedAt.filter((t) => t > from && t < to).length;
}

/** One line for a test log: `[label] 812 turns, 0 errors, p50 1.1 ms, p99 6.3 ms, worst 41.0 ms`. */
export function formatWriterReport(label: string, report: SteadyWriterReport): string {
  return `[${label}] ${report.turns} ops, ${report.errors.length} errors, p50 ${report.p50} ms, p99 ${report.p99} ms, worst ${report.worst} ms`;
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${typeof code === 'string' ? code : error.name}: ${error.message}`;
  }
  return String(error);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
