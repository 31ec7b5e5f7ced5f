import { sql, type Kysely } from 'kysely';
import { ChatkeepError, pgErrorFields } from '../errors/index.js';
import { runBackfill } from './backfill-runner.js';
import type { Bookkeeping } from './bookkeeping.js';
import { buildIndexConcurrently, runConcurrentIndex } from './concurrent-index-runner.js';
import { concurrentIndexTarget } from './concurrent-index-statement.js';
import { isInvariantFailure } from './invariants/invariant-failure.js';
import { dependentObjects, failureReason } from './migration-failure.js';
import { withLockRetry } from './lock-retry.js';
import type { MigrationEvent } from './migration-event.js';
import { groupPhases, phaseChecksum, type Phase } from './phases.js';
import type { RenderedStep, StepOutcome } from './run-step.js';
import type { PhaseRecord, StepJournal } from './step-journal.js';
import { statementText, verifyFailed, type BackfillStep } from './steps.js';

export interface PhasedRunContext {
  readonly bookkeeping: Bookkeeping;
  readonly journal: StepJournal;
  /** Connections for a backfill's extra workers (`concurrency`). */
  readonly pool?: Kysely<any>;
  readonly lockTimeout: string;
  readonly statementTimeout: string;
  readonly emit: (event: MigrationEvent) => void;
  /**
   * Runs once every phase is done, before the migration is recorded: the
   * migrator's check of the migration's declared invariants. A
   * CK_MIGRATION_INVARIANT it throws is reported as is (the phases stay
   * journaled; the migrator undoes them with `down`).
   */
  readonly beforeRecord?: (db: Kysely<any>) => Promise<void>;
}

/**
 * Runs a migration that has steps, phase by phase (see src/migrate/steps.ts).
 * Phases already journaled as done — by an earlier run that was killed or
 * failed — are skipped; a backfill resumes after its last committed batch.
 * Only when every phase is done is the migration recorded (version row, log
 * row) and its journal cleared, in one transaction. A failure leaves the
 * finished phases in place and journaled: fix the cause and run `up` again.
 */
export async function runPhased(conn: Kysely<any>, step: RenderedStep, ctx: PhasedRunContext): Promise<StepOutcome> {
  const { version, name } = step.migration;
  const direction = step.direction;
  const phases = groupPhases(step.statements, step.migration.transactional ?? true);
  const startedAt = new Date();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const base = { version, name, direction, phases: phases.length } as const;
  let current = -1;
  try {
    const journaled = await ctx.journal.read(conn, version, direction);
    const checksums = phases.map(phaseChecksum);
    const edited = editedPhase(journaled, checksums);
    if (edited !== undefined) throw editedInFlight(step, edited, phases.length);
    for (const [index, phase] of phases.entries()) {
      current = index;
      const description = describe(phase);
      let resumeFrom = journaled.get(index)?.progress ?? null;
      if (journaled.get(index)?.done === true) {
        // A finished backfill walked each key range once: a row the
        // application wrote behind the batches afterwards (a new message of
        // an existing user, under a key the walk had passed) still matches
        // `where`, and a verify after it fails. Skipping the backfill again
        // would fail that verify on every run, however often `up` is
        // retried; so a resumed run walks it again, from the start, when
        // rows still match (it changes only those).
        if (phase.kind !== 'backfill' || !(await rowsStillMatch(conn, phase, ctx))) {
          ctx.emit({ type: 'phase-skipped', ...base, phase: index, description });
          continue;
        }
        resumeFrom = { rows: resumeFrom?.rows ?? 0 };
      }
      const phaseStarted = performance.now();
      ctx.emit({ type: 'phase-start', ...base, phase: index, description });
      const key = { version, direction, phase: index, checksum: checksums[index]! };
      const onLockRetry = (attempt: number, delayMs: number) => ctx.emit({ type: 'lock-retry', ...base, phase: index, attempt, delayMs });
      const onRebuild = (name: string) => ctx.emit({ type: 'index-rebuilt', ...base, phase: index, index: name });
      switch (phase.kind) {
        case 'sql':
          if (phase.transactional) {
            await withLockRetry(
              () =>
                // READ COMMITTED, as in run-step.ts: a lock a statement waits for must not come after the snapshot.
                conn.transaction().setIsolationLevel('read committed').execute(async (trx) => {
                  await setLocalTimeouts(trx, ctx);
                  for (const statement of phase.statements) await sql.raw(statement).execute(trx);
                  await ctx.journal.write(trx, key, true, null);
                }),
              { onRetry: onLockRetry },
            );
          } else {
            await runOutsideTransaction(conn, ctx, phase.statements, { onLockRetry, onRebuild });
            await ctx.journal.write(conn, key, true, null);
          }
          break;
        case 'non-transactional':
          await runOutsideTransaction(conn, ctx, phase.statements, { onLockRetry, onRebuild });
          await ctx.journal.write(conn, key, true, null);
          break;
        case 'concurrent-index':
          await runConcurrentIndex(conn, phase, ctx, {
            onRebuild: () => ctx.emit({ type: 'index-rebuilt', ...base, phase: index, index: phase.name }),
            onLockRetry,
          });
          await ctx.journal.write(conn, key, true, null);
          break;
        case 'backfill': {
          const rows = await runBackfill(phase, {
            conn,
            ...(ctx.pool !== undefined ? { pool: ctx.pool } : {}),
            journal: ctx.journal,
            key,
            resumeFrom,
            lockTimeout: ctx.lockTimeout,
            statementTimeout: ctx.statementTimeout,
            onProgress: ({ etaMs, ...p }) => ctx.emit({ type: 'backfill-progress', ...base, phase: index, ...p, ...(etaMs !== undefined ? { etaMs } : {}) }),
            onLockRetry,
          });
          await ctx.journal.write(conn, key, true, { rows });
          break;
        }
        case 'verify': {
          const { rows } = await conn.transaction().execute(async (trx) => {
            await setLocalTimeouts(trx, ctx);
            return sql.raw<Record<string, unknown>>(phase.query).execute(trx);
          });
          const first = rows[0] === undefined ? undefined : Object.values(rows[0])[0];
          if (first !== true) throw verifyFailed(phase.name);
          await ctx.journal.write(conn, key, true, null);
          break;
        }
      }
      ctx.emit({ type: 'phase-end', ...base, phase: index, description, durationMs: Math.round(performance.now() - phaseStarted) });
    }
    current = phases.length;
    if (direction === 'up') await ctx.beforeRecord?.(conn);
    await conn.transaction().execute(async (trx) => {
      const durationMs = elapsed();
      if (direction === 'up') await ctx.bookkeeping.insertApplied(trx, { version, name, checksum: step.checksum, durationMs });
      else await ctx.bookkeeping.deleteApplied(trx, version);
      await ctx.journal.clear(trx, version);
      await ctx.bookkeeping.insertLog(trx, { version, name, direction, startedAt, finishedAt: new Date(), durationMs, outcome: 'ok', error: null });
    });
    return { durationMs: elapsed() };
  } catch (cause) {
    const durationMs = elapsed();
    const error = isInvariantFailure(cause) || isEditedInFlight(cause) ? cause : phaseFailure(step, current, phases.length, cause);
    await ctx.bookkeeping
      .insertLog(conn, { version, name, direction, startedAt, finishedAt: new Date(), durationMs, outcome: 'failed', error: error.message })
      .catch(() => undefined);
    return { durationMs, error };
  }
}

/**
 * The first phase with journaled work (done, or a backfill's position) that
 * is not what it was when that work was journaled: edited, or moved by a
 * phase added or removed before it. Rows journaled before checksums were
 * kept (null) cannot tell and are trusted, as they always were.
 */
function editedPhase(journaled: ReadonlyMap<number, PhaseRecord>, checksums: readonly string[]): number | undefined {
  const phases = [...journaled.values()].sort((a, b) => a.phase - b.phase);
  return phases.find((r) => r.checksum !== null && r.checksum !== checksums[r.phase])?.phase;
}

const EDITED_IN_FLIGHT = 'edited-in-flight';

/**
 * Skipping an edited phase would record the migration with the checksum of
 * SQL that never ran (R-MIG-1: an edited migration is refused), and
 * continuing an edited backfill would mix two versions of its SET. So the
 * run stops before any phase, and says what can be done.
 */
function editedInFlight(step: RenderedStep, phase: number, phases: number): ChatkeepError {
  const { version, name } = step.migration;
  const where = phase < phases ? `its phase ${phase + 1} of ${phases}` : `its phase ${phase + 1} (now it has ${phases})`;
  const way =
    step.direction === 'up'
      ? 'Put the migration back as it ran and run up to finish it, or undo the half-done migration with a down to the version below it (its down runs), then run up again'
      : 'Put the migration back as it ran and run the down again to finish it';
  return new ChatkeepError(
    'CK_MIGRATION_CHECKSUM',
    `Migration ${version} ${name} (${step.direction}) is in flight and ${where}, done (or begun) in an earlier run, was edited since; nothing was run. ${way}`,
    { version, name, direction: step.direction, phase: phase + 1, problem: EDITED_IN_FLIGHT },
  );
}

function isEditedInFlight(error: unknown): error is ChatkeepError {
  return error instanceof ChatkeepError && error.details['problem'] === EDITED_IN_FLIGHT;
}

/** Whether any row of a backfill's table still matches its `where` (one scan that stops at the first match). */
async function rowsStillMatch(conn: Kysely<any>, step: BackfillStep, ctx: { lockTimeout: string; statementTimeout: string }): Promise<boolean> {
  const { rows } = await conn.transaction().execute(async (trx) => {
    await setLocalTimeouts(trx, ctx);
    return sql<{ pending: boolean }>`select exists (select 1 from ${sql.raw(step.table)} where ${sql.raw(step.where)}) as pending`.execute(trx);
  });
  return rows[0]?.pending === true;
}

function setLocalTimeouts(db: Kysely<any>, t: { lockTimeout: string; statementTimeout: string }) {
  return sql`select set_config('lock_timeout', ${t.lockTimeout}, true), set_config('statement_timeout', ${t.statementTimeout}, true)`.execute(db);
}

async function runOutsideTransaction(
  conn: Kysely<any>,
  t: { lockTimeout: string; statementTimeout: string },
  statements: readonly string[],
  events: { onLockRetry: (attempt: number, delayMs: number) => void; onRebuild: (index: string) => void },
): Promise<void> {
  await sql`select set_config('lock_timeout', ${t.lockTimeout}, false), set_config('statement_timeout', ${t.statementTimeout}, false)`.execute(conn);
  try {
    for (const statement of statements) {
      // A plain CREATE INDEX CONCURRENTLY gets what the concurrentIndex step
      // gets: an invalid leftover (a build killed, or one whose wait for
      // writers hit lock_timeout and is being retried) is dropped and built
      // again instead of being skipped by IF NOT EXISTS and journaled as done.
      const target = concurrentIndexTarget(statement);
      const schema = target === undefined ? undefined : await tableSchema(conn, target.table);
      if (target !== undefined && schema !== undefined) {
        await buildIndexConcurrently(conn, { schema, name: target.name, table: target.table, unique: target.unique }, statement, {
          onLockRetry: events.onLockRetry,
          onRebuild: () => events.onRebuild(target.name),
        });
      } else {
        await withLockRetry(() => sql.raw(statement).execute(conn), { onRetry: events.onLockRetry });
      }
    }
  } finally {
    await sql`reset lock_timeout`.execute(conn).catch(() => undefined);
    await sql`reset statement_timeout`.execute(conn).catch(() => undefined);
  }
}

/** The schema of the table `table` (as written, resolved on the search_path like the statement), or undefined when there is none. */
async function tableSchema(conn: Kysely<any>, table: string): Promise<string | undefined> {
  const { rows } = await sql<{ schema: string }>`
    select n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.oid = to_regclass(${table})`.execute(conn);
  return rows[0]?.schema;
}

function describe(phase: Phase): string {
  switch (phase.kind) {
    case 'sql':
      return `${phase.statements.length} statement${phase.statements.length === 1 ? '' : 's'}${phase.transactional ? ' in one transaction' : ', not transactional'}`;
    case 'concurrent-index':
      return `index ${phase.name} (concurrently)`;
    case 'backfill':
      return `backfill ${phase.table}`;
    case 'verify':
      return `verify: ${phase.name}`;
    case 'non-transactional':
      return statementText(phase).split('\n')[0]!.slice(0, 80);
  }
}

function phaseFailure(step: RenderedStep, phase: number, phases: number, cause: unknown): ChatkeepError {
  const { version, name } = step.migration;
  const pg = pgErrorFields(cause);
  const reason = failureReason(cause);
  // A non-transactional migration of plain SQL runs one statement per phase
  // (runnableStatements): its author wrote statements, so name them.
  const unit = step.statements.every((s) => typeof s !== 'string' && s.kind === 'non-transactional' && s.statements.length === 1) ? 'statement' : 'phase';
  const where = phase >= phases ? 'while recording it' : `${unit === 'statement' ? 'at' : 'in'} ${unit} ${phase + 1} of ${phases}`;
  return new ChatkeepError(
    'CK_MIGRATION_FAILED',
    `Migration ${version} ${name} (${step.direction}) failed ${where}: ${reason}${dependentObjects(cause)}${pg?.code ? ` (SQLSTATE ${pg.code})` : ''}; ${
      // The first one failed: there is nothing before it that could be "done and journaled".
      phase === 0 ? `no ${unit} before it; the next run starts again at ${unit} 1` : `the ${unit}s before it are done and journaled, and the next run resumes there`
    }`,
    { version, name, direction: step.direction, phase: phase + 1, ...(unit === 'statement' ? { statement: phase + 1 } : {}), ...(pg?.code ? { sqlState: pg.code } : {}) },
    { cause },
  );
}
