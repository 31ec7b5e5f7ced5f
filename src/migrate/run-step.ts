import { sql, type Kysely } from 'kysely';
import type { ChatkeepError } from '../errors/index.js';
import type { Bookkeeping } from './bookkeeping.js';
import { isInvariantFailure } from './invariants/invariant-failure.js';
import { migrationFailure, type FailurePhase } from './migration-failure.js';
import type { MigrationStep } from './select-steps.js';
import { hasSteps, runnableStatements, type MigrationStatement } from './steps.js';
import { runPhased, type PhasedRunContext } from './run-phased.js';

/** Applied when a migration does not say otherwise. */
export const DEFAULT_LOCK_TIMEOUT = '5s';
export const DEFAULT_STATEMENT_TIMEOUT = '5min';

/** A step with its SQL rendered and, for `up`, the checksum to record. */
export interface RenderedStep extends MigrationStep {
  readonly statements: readonly MigrationStatement[];
  readonly checksum: string;
}

/** How one step ended: `error` is set when it failed (and was logged as failed). */
export interface StepOutcome {
  readonly durationMs: number;
  readonly error?: ChatkeepError;
}

/**
 * Runs one migration step on the connection holding the migration lock.
 *
 * Transactional (the default): `SET LOCAL` timeouts, the statements, the
 * version-row change and the 'ok' log row all commit together, so a failure
 * anywhere leaves the database exactly as before the step. The 'failed' log
 * row is written after the rollback, outside it, so it survives.
 *
 * Phased (steps, or `transactional: false`, whose statements each become a
 * journaled phase; see `runnableStatements`): `runPhased`.
 */
export async function runStep(
  conn: Kysely<any>,
  step: RenderedStep,
  bookkeeping: Bookkeeping,
  phased?: Omit<PhasedRunContext, 'bookkeeping' | 'lockTimeout' | 'statementTimeout'>,
): Promise<StepOutcome> {
  const runnable = { ...step, statements: runnableStatements(step.statements, step.migration.transactional ?? true) };
  if (hasSteps(runnable.statements)) {
    if (phased === undefined) throw new Error('runStep: a migration with steps needs the step journal');
    return runPhased(conn, runnable, {
      ...phased,
      bookkeeping,
      lockTimeout: step.migration.lockTimeout ?? DEFAULT_LOCK_TIMEOUT,
      statementTimeout: step.migration.statementTimeout ?? DEFAULT_STATEMENT_TIMEOUT,
    });
  }
  const statements = step.statements as readonly string[];
  const lockTimeout = step.migration.lockTimeout ?? DEFAULT_LOCK_TIMEOUT;
  const statementTimeout = step.migration.statementTimeout ?? DEFAULT_STATEMENT_TIMEOUT;
  const startedAt = new Date();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let phase: FailurePhase = 'settings';

  const record = async (db: Kysely<any>) => {
    phase = 'bookkeeping';
    const durationMs = elapsed();
    const { version, name } = step.migration;
    if (step.direction === 'up') {
      await bookkeeping.insertApplied(db, { version, name, checksum: step.checksum, durationMs });
    } else {
      await bookkeeping.deleteApplied(db, version);
    }
    await bookkeeping.insertLog(db, {
      version,
      name,
      direction: step.direction,
      startedAt,
      finishedAt: new Date(),
      durationMs,
      outcome: 'ok',
      error: null,
    });
  };

  try {
    // READ COMMITTED whatever the connection defaults to (a host's own
    // Kysely may default to REPEATABLE READ): each statement then sees what
    // was committed before it ran. Under REPEATABLE READ the snapshot is the
    // first query's, taken before a later statement's lock is granted, so a
    // copy made under that lock (dropColumnWithBackup) missed a write
    // committed while it waited, and the drop lost that value for good.
    await conn.transaction().setIsolationLevel('read committed').execute(async (trx) => {
      // set_config(…, true) is SET LOCAL with bind parameters: the values
      // end with the transaction and cannot inject SQL.
      await sql`select set_config('lock_timeout', ${lockTimeout}, true), set_config('statement_timeout', ${statementTimeout}, true)`.execute(
        trx,
      );
      for (const [index, statement] of statements.entries()) {
        phase = index;
        await sql.raw(statement).execute(trx);
      }
      // Declared invariants, checked before COMMIT: a broken one rolls back everything.
      if (step.direction === 'up') await phased?.beforeRecord?.(trx);
      await record(trx);
      phase = 'commit';
    });
    return { durationMs: elapsed() };
  } catch (cause) {
    const durationMs = elapsed();
    const error = isInvariantFailure(cause)
      ? cause
      : migrationFailure(step, phase, step.statements.length, cause);
    try {
      await bookkeeping.insertLog(conn, {
        version: step.migration.version,
        name: step.migration.name,
        direction: step.direction,
        startedAt,
        finishedAt: new Date(),
        durationMs,
        outcome: 'failed',
        error: error.message,
      });
    } catch {
      // The connection itself is probably lost; the migration's own error is
      // the one worth reporting, so it is not replaced by this one.
    }
    return { durationMs, error };
  }
}
