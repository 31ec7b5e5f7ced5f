import { sql, type Kysely } from 'kysely';
import type { PhaseRecord, StepJournal } from './step-journal.js';
import type { BackfillStep } from './steps.js';
import { withLockRetry } from './lock-retry.js';

export interface BackfillContext {
  readonly conn: Kysely<any>;
  readonly journal: StepJournal;
  readonly key: { readonly version: number; readonly direction: 'up' | 'down'; readonly phase: number };
  readonly resumeFrom: PhaseRecord['progress'];
  readonly lockTimeout: string;
  readonly statementTimeout: string;
  readonly onProgress: (progress: { rowsDone: number; rowsTotal: number; rowsPerSecond: number; etaMs: number | undefined }) => void;
  readonly onLockRetry: (attempt: number, delayMs: number) => void;
}

/**
 * Runs a backfill as keyset batches. Each batch is one short transaction that
 * takes the next `batchSize` keys after the last one done and updates those
 * of them still matching `where`, and writes the new position to the journal — so a kill
 * loses at most the batch in flight, which rolled back, and the next run
 * continues after the last committed key. The batch holds row locks only on
 * its own rows, for milliseconds: writers of other rows never wait.
 */
export async function runBackfill(step: BackfillStep, ctx: BackfillContext): Promise<number> {
  const keys = step.key.map((k) => sql.id(k));
  const table = sql.raw(step.table);
  const batchSize = step.batchSize ?? 1000;
  let lastKey = ctx.resumeFrom?.lastKey;
  let rowsDone = ctx.resumeFrom?.rows ?? 0;
  const remaining = await sql<{ n: number | string }>`select count(*) as n from ${table} where ${sql.raw(step.where)}`.execute(ctx.conn);
  const rowsTotal = rowsDone + Number(remaining.rows[0]?.n ?? 0);
  const started = performance.now();
  let doneThisRun = 0;
  for (;;) {
    const batchStarted = performance.now();
    const after =
      lastKey === undefined ? sql`` : sql`and (${sql.join(keys)}) > (${sql.join(lastKey.map((v) => sql`${v}`))})`;
    const result = await withLockRetry(
      () =>
        ctx.conn.transaction().execute(async (trx) => {
          await sql`select set_config('lock_timeout', ${ctx.lockTimeout}, true), set_config('statement_timeout', ${ctx.statementTimeout}, true)`.execute(trx);
          // The batch is a key range of batchSize rows, found first by the
          // key alone, then updated where it still needs it. Both statements
          // are plain range scans of the key's index. (Filtering the bound
          // query by `where` instead lets the planner, which has no statistics
          // for a column just added, pick a full scan and sort per batch;
          // joining the UPDATE to a key list lets it hash-join against a
          // full scan: both measured at ~4,000 rows/s on 10 M rows.)
          const bound = await sql<{ upper: string[] }>`
            select array[${sql.join(keys.map((k) => sql`${k}::text`))}] as upper
              from ${table}
             where true ${after}
             order by ${sql.join(keys)}
             offset ${batchSize - 1} limit 1`.execute(trx);
          const upper = bound.rows[0]?.upper;
          const until = upper === undefined ? sql`` : sql`and (${sql.join(keys)}) <= (${sql.join(upper.map((v) => sql`${v}`))})`;
          const { rows } = await sql<{ n: number | string; last: string[] | null }>`
            with done as (
              update ${table} set ${sql.raw(step.set)}
               where (${sql.raw(step.where)}) ${after} ${until}
              returning ${sql.join(keys)}
            )
            select (select count(*) from done) as n,
                   (select array[${sql.join(keys.map((k) => sql`${k}::text`))}] from done
                     order by ${sql.join(keys.map((k) => sql`${k} desc`))} limit 1) as last`.execute(trx);
          const n = Number(rows[0]?.n ?? 0);
          // The range's end is the new position, whether or not any row in it needed work.
          const last = upper ?? rows[0]?.last ?? null;
          if (last !== null) await ctx.journal.write(trx, ctx.key, false, { lastKey: last, rows: rowsDone + n });
          return { n, last, more: upper !== undefined };
        }),
      { onRetry: ctx.onLockRetry },
    );
    rowsDone += result.n;
    doneThisRun += result.n;
    lastKey = result.last ?? lastKey;
    const elapsedS = (performance.now() - started) / 1000;
    const rate = elapsedS > 0 ? doneThisRun / elapsedS : 0;
    const left = Math.max(0, rowsTotal - rowsDone);
    if (result.n > 0) {
      ctx.onProgress({ rowsDone, rowsTotal: Math.max(rowsTotal, rowsDone), rowsPerSecond: Math.round(rate), etaMs: rate > 0 ? Math.round((left / rate) * 1000) : undefined });
    }
    if (!result.more) break;
    const pause = Math.max(
      step.pauseMs ?? 0,
      step.rowsPerSecond !== undefined ? (result.n / step.rowsPerSecond) * 1000 - (performance.now() - batchStarted) : 0,
    );
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }
  return rowsDone;
}
