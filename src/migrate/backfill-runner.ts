import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { JournalKey, PhaseRecord, StepJournal } from './step-journal.js';
import type { BackfillStep } from './steps.js';
import { BackfillLedger } from './backfill-ledger.js';
import { withLockRetry } from './lock-retry.js';
import { bulkWriteSettings, isPglite } from './session-tuning.js';

export interface BackfillContext {
  /** The runner's own connection (it holds the migration lock); the first worker uses it. */
  readonly conn: Kysely<any>;
  /**
   * Where further workers get connections when the step asks for
   * `concurrency` > 1 (the migrator's own Kysely). Not used on PGlite, whose
   * single session would make a second worker wait for the first forever.
   */
  readonly pool?: Kysely<any>;
  readonly journal: StepJournal;
  readonly key: JournalKey;
  readonly resumeFrom: PhaseRecord['progress'];
  readonly lockTimeout: string;
  readonly statementTimeout: string;
  readonly onProgress: (progress: { rowsDone: number; rowsTotal: number; rowsPerSecond: number; etaMs: number | undefined }) => void;
  readonly onLockRetry: (attempt: number, delayMs: number) => void;
}

/** How long a further worker waits for a pooled connection before the backfill goes on without it. */
const EXTRA_CONNECTION_WAIT_MS = 1000;

/**
 * Runs a backfill as key-range batches. Each batch is one short transaction
 * that updates the rows of the next `batchSize` keys still matching `where`
 * and writes the new position to the journal — so a kill loses at most the
 * batches in flight, which rolled back, and the next run continues after the
 * last committed range. A batch holds row locks only on its own rows, for
 * milliseconds: writers of other rows never wait.
 *
 * With `concurrency` > 1 (PostgreSQL), that many workers update disjoint
 * ranges at once on their own connections; ranges are still handed out in key
 * order and the journal only ever records a position every range before
 * which has committed (BackfillLedger).
 *
 * Batches commit with `synchronous_commit = off`: the batch and its journal
 * entry are one transaction, so a crash can only lose both together (the
 * last few hundred milliseconds of batches, redone on resumption), and a
 * backfill of millions of rows does not wait for one WAL flush per batch.
 */
export async function runBackfill(step: BackfillStep, ctx: BackfillContext): Promise<number> {
  const keys = step.key.map((k) => sql.id(k));
  const table = sql.raw(step.table);
  // A whole number of rows: it becomes an OFFSET, which a fraction would
  // fail only once the migration's earlier phases have committed.
  const batchSize = Math.max(1, Math.floor(step.batchSize ?? 1000));
  const keyText = sql.join(keys.map((k) => sql`${k}::text`));
  const tuple = (values: readonly string[]) => sql`(${sql.join(values.map((v) => sql`${v}`))})`;
  const ledger = new BackfillLedger(ctx.resumeFrom);
  // Each batch takes these for its own transaction (session-tuning.ts says why).
  const tuning = step.tuneSession === false ? [] : await bulkWriteSettings(ctx.conn, { flushAfter: true });
  const remaining = await sql<{ n: number | string }>`select count(*) as n from ${table} where ${sql.raw(step.where)}`.execute(ctx.conn);
  const rowsTotal = ledger.rows + Number(remaining.rows[0]?.n ?? 0);
  const rowsBefore = ledger.rows;
  const started = performance.now();

  // Ranges are handed out one at a time, in key order, from `cursor`.
  let cursor = ledger.mark;
  let nextIndex = 0;
  let exhausted = false;
  let stopped = false;
  let allocating: Promise<unknown> = Promise.resolve();

  /** The next range: from the cursor to the key `batchSize` rows on, found by the key's index alone. */
  function nextRange(conn: Kysely<any>): Promise<{ index: number; after: readonly string[] | undefined; upper: readonly string[] | undefined } | undefined> {
    const next = allocating.then(async () => {
      if (exhausted || stopped) return undefined;
      const after = cursor;
      // Filtering this query by `where` instead lets the planner, which has
      // no statistics for a column just added, pick a full scan and sort per
      // batch (measured at ~4,000 rows/s on 10 M rows).
      const bound = await sql<{ upper: string[] }>`
        select array[${keyText}] as upper from ${table}
         where true ${after === undefined ? sql`` : sql`and (${sql.join(keys)}) > ${tuple(after)}`}
         order by ${sql.join(keys)} offset ${batchSize - 1} limit 1`.execute(conn);
      const upper = bound.rows[0]?.upper;
      if (upper === undefined) exhausted = true;
      else cursor = upper;
      return { index: nextIndex++, after, upper };
    });
    allocating = next.catch(() => undefined);
    return next;
  }

  let throttleRows = 0;
  /** `pauseMs` after each batch, and no faster than `rowsPerSecond` over all workers together. */
  async function pace(batchRows: number): Promise<void> {
    throttleRows += batchRows;
    const aheadMs = step.rowsPerSecond !== undefined ? (throttleRows / step.rowsPerSecond) * 1000 - (performance.now() - started) : 0;
    const pause = Math.max(step.pauseMs ?? 0, aheadMs, 0);
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }

  async function work(conn: Kysely<any>): Promise<void> {
    for (;;) {
      const range = await nextRange(conn);
      if (range === undefined) return;
      const { after, upper } = range;
      const where: RawBuilder<unknown> = sql`(${sql.raw(step.where)})
        ${after === undefined ? sql`` : sql`and (${sql.join(keys)}) > ${tuple(after)}`}
        ${upper === undefined ? sql`` : sql`and (${sql.join(keys)}) <= ${tuple(upper)}`}`;
      // Each attempt lets the journal lock go as soon as its transaction has
      // committed (or failed). Held across the pause below, it would keep the
      // other workers' batches waiting inside their transactions, their rows
      // locked and the application's writes to them stalled for the whole
      // pause; kept by an attempt that lock_timeout cut short, the retry
      // would wait for itself forever.
      const batch = await withLockRetry(
        async () => {
          let release: (() => void) | undefined;
          try {
            // READ COMMITTED whatever the connection defaults to: an UPDATE
            // meeting a row changed meanwhile then re-checks `where` and
            // `set` on the new version. Under a REPEATABLE READ default (a
            // host's own pool) it fails with 40001 instead, and a backfill of
            // a busy table fails again on every run.
            const done = await conn.transaction().setIsolationLevel('read committed').execute(async (trx) => {
              await sql`select set_config('lock_timeout', ${ctx.lockTimeout}, true),
                               set_config('statement_timeout', ${ctx.statementTimeout}, true),
                               set_config('synchronous_commit', 'off', true)
                               ${sql.join(tuning.map(([name, value]) => sql`, set_config(${name}, ${value}, true)`), sql``)}`.execute(trx);
              // A range update: served by the key's index, however the planner sees `where`.
              // Only the last, open-ended range needs the keys it changed (its end is the last of them).
              let n: number;
              let end: readonly string[] | undefined = upper;
              if (upper !== undefined) {
                const result = await sql`update ${table} set ${sql.raw(step.set)} where ${where}`.execute(trx);
                n = Number(result.numAffectedRows ?? 0);
              } else {
                const { rows } = await sql<{ n: number | string; last: string[] | null }>`
                  with done as (update ${table} set ${sql.raw(step.set)} where ${where} returning ${sql.join(keys)})
                  select (select count(*) from done) as n,
                         (select array[${keyText}] from done order by ${sql.join(keys.map((k) => sql`${k} desc`))} limit 1) as last`.execute(trx);
                n = Number(rows[0]?.n ?? 0);
                end = rows[0]?.last ?? undefined;
              }
              release = await ledger.lock();
              const progress = ledger.progressWith(range.index, end, n);
              if (progress.lastKey !== undefined) await ctx.journal.write(trx, ctx.key, false, progress);
              return { n, end };
            });
            ledger.committed(range.index, done.end, done.n);
            return done;
          } finally {
            release?.();
          }
        },
        { onRetry: ctx.onLockRetry },
      );
      if (batch.n > 0) report();
      await pace(batch.n);
    }
  }

  function report(): void {
    const rowsDone = ledger.rows;
    const elapsedS = (performance.now() - started) / 1000;
    const rate = elapsedS > 0 ? (rowsDone - rowsBefore) / elapsedS : 0;
    const left = Math.max(0, rowsTotal - rowsDone);
    ctx.onProgress({ rowsDone, rowsTotal: Math.max(rowsTotal, rowsDone), rowsPerSecond: Math.round(rate), etaMs: rate > 0 ? Math.round((left / rate) * 1000) : undefined });
  }

  const workers = (step.concurrency ?? 1) > 1 && ctx.pool !== undefined && !(await isPglite(ctx.conn)) ? step.concurrency! : 1;
  const runs: Promise<void>[] = [work(ctx.conn)];
  for (let i = 1; i < workers; i++) runs.push(extraWorker(ctx.pool!, work, () => stopped || exhausted));
  const outcomes = await Promise.allSettled(runs.map((run) => run.catch((error: unknown) => { stopped = true; throw error; })));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return ledger.rows;
}

/**
 * A worker on a pooled connection, if one comes within a second: a pool
 * smaller than the concurrency asked for must slow the backfill down, not
 * hang it behind the runner's own connection.
 */
async function extraWorker(pool: Kysely<any>, work: (conn: Kysely<any>) => Promise<void>, finished: () => boolean): Promise<void> {
  let gaveUp = false;
  let timer: NodeJS.Timeout | undefined;
  const acquired = new Promise<void>((resolve, reject) => {
    pool
      .connection()
      .execute(async (conn) => {
        clearTimeout(timer);
        if (gaveUp || finished()) return resolve();
        await work(conn).then(resolve, reject);
      })
      .catch(reject);
  });
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      gaveUp = true;
      resolve();
    }, EXTRA_CONNECTION_WAIT_MS);
  });
  await Promise.race([acquired, timeout]);
  // A connection that fails after we stopped waiting for it changes nothing.
  if (gaveUp) acquired.catch(() => undefined);
}
