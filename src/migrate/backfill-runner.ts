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
 * updates up to `batchSize` rows still matching `where` with a key after the
 * last one done, and writes the new position to the journal — so a kill
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
          // The batch is a key range, found first: the key of the batchSize-th
          // row still to do after the last key. The UPDATE then has a plain
          // range predicate on the key, which PostgreSQL serves from the
          // (primary key) index; joining an UPDATE to a list of keys instead
          // lets the planner hash-join against a scan of the whole table,
          // once per batch — measured 4,400 rows/s at 10 M rows.
          const bound = await sql<{ upper: string[] }>`
            select array[${sql.join(keys.map((k) => sql`${k}::text`))}] as upper
              from ${table}
             where (${sql.raw(step.where)}) ${after}
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
          const last = rows[0]?.last ?? null;
          if (n > 0 && last !== null) {
            await ctx.journal.write(trx, ctx.key, false, { lastKey: last, rows: rowsDone + n });
          }
          return { n, last };
        }),
      { onRetry: ctx.onLockRetry },
    );
    if (result.n === 0) break;
    rowsDone += result.n;
    doneThisRun += result.n;
    lastKey = result.last ?? lastKey;
    const elapsedS = (performance.now() - started) / 1000;
    const rate = elapsedS > 0 ? doneThisRun / elapsedS : 0;
    const left = Math.max(0, rowsTotal - rowsDone);
    ctx.onProgress({ rowsDone, rowsTotal: Math.max(rowsTotal, rowsDone), rowsPerSecond: Math.round(rate), etaMs: rate > 0 ? Math.round((left / rate) * 1000) : undefined });
    const pause = Math.max(
      step.pauseMs ?? 0,
      step.rowsPerSecond !== undefined ? (result.n / step.rowsPerSecond) * 1000 - (performance.now() - batchStarted) : 0,
    );
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }
  return rowsDone;
}
