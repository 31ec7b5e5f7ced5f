import type { Kysely } from 'kysely';
import type { LintFinding } from './lint/index.js';
import { ChatkeepError, sqlState, wrapDriverError } from '../errors/index.js';
import { acquireAdvisoryLock, releaseAdvisoryLock } from './advisory-lock.js';
import { Bookkeeping } from './bookkeeping.js';
import { StepJournal } from './step-journal.js';
import { checkHistory } from './check-history.js';
import { checksumOf } from './checksum.js';
import { inFlightProblem, strandedUps } from './in-flight-rules.js';
import { InvariantBaselines } from './invariants/invariant-baselines.js';
import { invariantFailure, isInvariantFailure, type InvariantRollback } from './invariants/invariant-failure.js';
import { InvariantRun } from './invariants/invariant-run.js';
import type { Invariant } from './invariants/invariant.js';
import { renderInvariants } from './invariants/render-invariants.js';
import { allLintErrors, lintErrors, lintRefusal, type LintBlock } from './lint-gate.js';
import { lintAgainstDatabase, type MigrationLint } from './live-lint.js';
import type { Migration, MigrationContext } from './migration.js';
import type { MigrationEvent } from './migration-event.js';
import type { MigrationLogEntry } from './migration-log-entry.js';
import type { MigrationResult, MigrationResultSet } from './migration-result.js';
import type { MigrationStatus } from './migration-status.js';
import {
  checkAllowLintErrors,
  resolveMigratorOptions,
  type AllowLintErrors,
  type MigratorOptions,
  type ResolvedMigratorOptions,
} from './migrator-options.js';
import type { PlannedMigration, PlanOptions } from './planned-migration.js';
import { failureReason } from './migration-failure.js';
import { groupPhases } from './phases.js';
import { renderMigration } from './render-migration.js';
import { hasSteps, runnableStatements, statementText, type MigrationStatement } from './steps.js';
import {
  DEFAULT_LOCK_TIMEOUT,
  DEFAULT_STATEMENT_TIMEOUT,
  runStep,
  type RenderedStep,
  type StepOutcome,
} from './run-step.js';
import {
  assertTarget,
  selectSteps,
  type MigrationStep,
  type MigrationTarget,
} from './select-steps.js';

/**
 * Applies and reverts a numbered migration set safely: one session-level
 * advisory lock per run, each migration in its own transaction with
 * `lock_timeout`/`statement_timeout`, a checksummed version table, an audit
 * log, and a refusal to run when disk and database history disagree.
 * `up`/`down` report and never throw (Kysely's Migrator; STYLE 7).
 *
 * @example
 * const migrator = new Migrator({ db, schema: 'app', migrations: [createTodos] });
 * const { error, results } = await migrator.up();
 * if (error) throw error;
 */
export class Migrator {
  readonly #options: ResolvedMigratorOptions;
  readonly #bookkeeping: Bookkeeping;
  readonly #journal: StepJournal;
  readonly #baselines: InvariantBaselines;

  /** Validates the options and the migration list; throws CK_CONFIG naming the problem. */
  constructor(options: MigratorOptions) {
    this.#options = resolveMigratorOptions(options);
    this.#bookkeeping = new Bookkeeping(this.#options.context.schema, this.#options.table);
    this.#journal = new StepJournal(this.#options.context.schema, this.#options.table);
    this.#baselines = new InvariantBaselines(this.#options.context.schema, this.#options.table);
  }

  /** The context every migration is rendered with (schema and settings). */
  get context(): MigrationContext {
    return this.#options.context;
  }

  /**
   * Applies every pending migration up to `to` (default: the latest), in
   * order, stopping at the first failure. Never throws.
   *
   * Before anything runs, the pending migrations are linted against the
   * live database; unsuppressed lint errors refuse the whole run
   * (CK_MIGRATION_LINT, nothing written) unless `allowLintErrors` (here or
   * in the options) accepts them. After each migration's work, its declared
   * invariants are checked; a broken one undoes it (CK_MIGRATION_INVARIANT).
   *
   * @example
   * const { error, results } = await migrator.up({ to: 7, allowLintErrors: ['missing-down'] });
   */
  up(options: { readonly to?: number; readonly allowLintErrors?: AllowLintErrors } = {}): Promise<MigrationResultSet> {
    return this.#run({ direction: 'up', to: options.to }, options.allowLintErrors);
  }

  /**
   * Reverts applied migrations above `to`, newest first; `{ to: 0 }` undoes
   * everything. A migration above `to` whose `up` stopped part-way is undone
   * first, with its `down` (in-flight-rules.ts). Never throws.
   */
  down(options: { readonly to: number }): Promise<MigrationResultSet> {
    return this.#run({ direction: 'down', to: options?.to });
  }

  /**
   * Where the database stands. Reads only (no lock, creates nothing), works
   * before the first `up`, and lists every history problem instead of
   * throwing on it.
   */
  async status(): Promise<MigrationStatus> {
    const { db, migrations, context } = this.#options;
    const applied = await this.#bookkeeping.readApplied(db);
    const appliedVersions = new Set(applied.map((a) => a.version));
    return {
      applied,
      pending: migrations
        .filter((m) => !appliedVersions.has(m.version))
        .map(({ version, name }) => ({ version, name })),
      current: applied.reduce((max, a) => Math.max(max, a.version), 0),
      problems: checkHistory(migrations, applied, context),
      inFlight: (await this.#journal.inFlight(db)).map((f) => ({ ...f, name: migrations.find((m) => m.version === f.version)?.name ?? '?' })),
    };
  }

  /**
   * What `up`/`down` with the same target would run, with the SQL in order.
   * Changes nothing. Throws CK_MIGRATION_TARGET for an unknown target and
   * the first history problem (CK_MIGRATION_CHECKSUM / CK_MIGRATION_HISTORY).
   */
  async plan(options: PlanOptions): Promise<PlannedMigration[]> {
    const { db, migrations, context } = this.#options;
    const target = toTarget(options);
    assertTarget(migrations, target);
    const applied = await this.#bookkeeping.readApplied(db);
    const [problem] = checkHistory(migrations, applied, context);
    if (problem !== undefined) throw problem;
    const appliedVersions = new Set(applied.map((a) => a.version));
    const inFlight = await this.#journal.inFlight(db);
    const refusal = inFlightProblem(migrations, inFlight, appliedVersions, target);
    if (refusal !== undefined) throw refusal;
    const stranded = strandedUps(inFlight, appliedVersions, target);
    return selectSteps(migrations, appliedVersions, target, stranded).map(
      ({ migration, direction }) => ({
        version: migration.version,
        name: migration.name,
        direction,
        ...planOf(renderMigration(migration, direction, context), migration.transactional ?? true),
        ...(stranded.has(migration.version) ? { inFlightUp: true } : {}),
      }),
    );
  }

  /**
   * Lints what `up`/`down` with the same target would run, against the
   * database's table sizes (`pg_class.reltuples`; a never-analysed table a
   * statement touches is counted, up to 100,000 rows) and column types,
   * before anything runs (docs/migration-lint.md). Changes nothing. `up`
   * runs the same lint and refuses unsuppressed errors.
   */
  async lint(options: PlanOptions): Promise<MigrationLint[]> {
    const { db, migrations, context } = this.#options;
    const target = toTarget(options);
    assertTarget(migrations, target);
    const applied = await this.#bookkeeping.readApplied(db);
    const appliedVersions = new Set(applied.map((a) => a.version));
    // The same selection as plan and down: a down lints the down of an in-flight up it would run.
    const stranded = strandedUps(await this.#journal.inFlight(db), appliedVersions, target);
    return lintAgainstDatabase(db, selectSteps(migrations, appliedVersions, target, stranded), context);
  }

  /** The audit log, newest first (default the last 100 rows); empty before the first run. */
  async history(limit = 100): Promise<MigrationLogEntry[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new ChatkeepError('CK_CONFIG', 'limit: expected a positive integer', {
        field: 'limit',
      });
    }
    return this.#bookkeeping.readLog(this.#options.db, limit);
  }

  async #run(target: MigrationTarget, allowLintErrors?: AllowLintErrors): Promise<MigrationResultSet> {
    const results: MigrationResult[] = [];
    try {
      assertTarget(this.#options.migrations, target);
      const allow = allowLintErrors === undefined ? this.#options.allowLintErrors : checkAllowLintErrors(allowLintErrors);
      return await this.#options.db
        .connection()
        .execute((conn) => this.#runLocked(conn, target, results, allow));
    } catch (error) {
      return { error: asChatkeepError(error), results };
    }
  }

  /**
   * Everything from here runs on one connection, the one holding the lock:
   * the lock is per session, so a statement on another pooled connection
   * would run unprotected (and on PGlite would wait for this one forever).
   * The lock is released on every path, failures included.
   */
  async #runLocked(
    conn: Kysely<any>,
    target: MigrationTarget,
    results: MigrationResult[],
    allowLintErrors: AllowLintErrors,
  ): Promise<MigrationResultSet> {
    const { lockKey, lockWaitMs, pollIntervalMs } = this.#options;
    const waitedMs = await acquireAdvisoryLock(conn, lockKey, {
      waitMs: lockWaitMs,
      pollIntervalMs,
      onWait: () => this.#emit({ type: 'lock-wait' }),
    });
    this.#emit({ type: 'lock-acquired', durationMs: waitedMs });
    let outcome: MigrationResultSet;
    try {
      outcome = await this.#migrateHoldingLock(conn, target, results, allowLintErrors);
    } catch (error) {
      outcome = { error: asChatkeepError(error), results };
    }
    try {
      await releaseAdvisoryLock(conn, lockKey);
    } catch (error) {
      // Reported only when nothing else went wrong: the migration's own error
      // explains more, and a session that cannot unlock is usually gone (and
      // PostgreSQL frees the lock of a session that ends).
      if (outcome.error === undefined) {
        outcome = { error: asChatkeepError(error), results };
      }
    }
    return outcome;
  }

  /**
   * The run proper, with the lock held. Only now may the bookkeeping be
   * created and the history read: a runner that waited must see what the
   * previous one did, and `CREATE … IF NOT EXISTS` is not race-free. The
   * history is read (which creates nothing) and the pending migrations are
   * rendered and linted before the bookkeeping is created, so a run refused
   * for lint errors writes nothing at all.
   */
  async #migrateHoldingLock(
    conn: Kysely<any>,
    target: MigrationTarget,
    results: MigrationResult[],
    allowLintErrors: AllowLintErrors,
  ): Promise<MigrationResultSet> {
    const { migrations, context } = this.#options;
    const applied = await this.#bookkeeping.readApplied(conn);
    const [problem] = checkHistory(migrations, applied, context);
    if (problem !== undefined) return { error: problem, results };
    const appliedVersions = new Set(applied.map((a) => a.version));
    const inFlight = await this.#journal.inFlight(conn);
    const refusal = inFlightProblem(migrations, inFlight, appliedVersions, target);
    if (refusal !== undefined) return { error: refusal, results };
    const stranded = strandedUps(inFlight, appliedVersions, target);

    const steps = selectSteps(migrations, appliedVersions, target, stranded);
    // Render everything first: a migration whose up()/down()/invariants()
    // throws is reported before anything has run.
    const rendered = steps.map((step) => this.#render(step));
    const invariants = rendered.map((step) => (step.direction === 'up' ? renderInvariants(step.migration, context) : []));
    const lint = target.direction === 'up' ? await this.#lintGate(conn, rendered, allowLintErrors) : { errors: new Map<number, LintFinding[]>() };
    const lintOf = (version: number) => {
      const errors = lint.errors.get(version);
      return errors === undefined ? {} : { lintErrors: errors };
    };
    if (lint.refusal !== undefined) {
      results.push(...rendered.map((step) => ({ ...notRun(step), ...lintOf(step.migration.version) })));
      return { error: lint.refusal, results };
    }

    await this.#bookkeeping.ensure(conn);
    await this.#baselines.tidy(conn, applied.map((a) => a.version));
    for (const [index, step] of rendered.entries()) {
      const { version, name } = step.migration;
      const { direction } = step;
      if (stranded.has(version)) {
        const abandoned = await this.#abandon(conn, step.migration);
        if (abandoned.error !== undefined) {
          results.push({ version, name, direction, durationMs: abandoned.durationMs, status: 'failed', inFlightUp: true });
          results.push(...rendered.slice(index + 1).map(notRun));
          return { error: abandoned.error, results };
        }
        results.push({ version, name, direction, durationMs: abandoned.durationMs, status: 'reverted', inFlightUp: true });
        continue;
      }
      this.#emit({ type: 'migration-start', version, name, direction });
      const { outcome, check, rollback } = await this.#runOne(conn, step, invariants[index] ?? []);
      const reported = {
        version,
        name,
        direction,
        durationMs: outcome.durationMs,
        ...(check !== undefined && check.outcomes.length > 0 ? { invariants: check.outcomes } : {}),
        ...lintOf(version),
      };
      if (outcome.error !== undefined) {
        results.push({ ...reported, status: 'failed', ...(rollback !== undefined ? { rollback } : {}) });
        results.push(...rendered.slice(index + 1).map(notRun));
        return { error: outcome.error, results };
      }
      this.#emit({ type: 'migration-end', version, name, direction, durationMs: outcome.durationMs });
      results.push({ ...reported, status: direction === 'up' ? 'applied' : 'reverted' });
    }

    if (target.direction === 'down' && target.to === 0 && this.#options.removeBookkeepingAtZero) {
      const left = await this.#bookkeeping.readApplied(conn);
      if (left.length === 0) {
        await this.#journal.drop(conn);
        await this.#baselines.tidy(conn, []);
        await this.#bookkeeping.remove(conn);
      }
    }
    return { results };
  }

  /**
   * Runs one migration with its invariants: before-values measured (or read
   * back) just before it starts, checked after its work and before it is
   * recorded; both announced by events (`invariants-measuring`,
   * `invariants-checking`), since on a large table they take a while. A
   * broken invariant of an atomic migration rolled back with its
   * transaction; any other is undone here by running its `down`.
   */
  async #runOne(
    conn: Kysely<any>,
    step: RenderedStep,
    invariants: readonly Invariant[],
  ): Promise<{ outcome: StepOutcome; check?: InvariantRun; rollback?: InvariantRollback }> {
    const { migration, direction } = step;
    step = { ...step, statements: runnableStatements(step.statements, migration.transactional ?? true) };
    const phased = hasSteps(step.statements);
    // The step journal exists only while a phased migration is unfinished:
    // a host whose migrations are plain SQL never gets the extra table.
    if (phased) await this.#journal.ensure(conn);
    const atomic = !phased && (migration.transactional ?? true);
    const check =
      invariants.length === 0
        ? undefined
        : new InvariantRun({
            migration,
            invariants,
            atomic,
            lockTimeout: migration.lockTimeout ?? DEFAULT_LOCK_TIMEOUT,
            statementTimeout: migration.statementTimeout ?? DEFAULT_STATEMENT_TIMEOUT,
            baselines: this.#baselines,
            emit: (event) => this.#emit(event),
          });
    let outcome: StepOutcome;
    try {
      const inFlight = phased && (await this.#journal.read(conn, migration.version, direction)).size > 0;
      await check?.prepare(conn, inFlight, phased && !inFlight && firstPhaseLeavesNoTrace(step.statements, migration.transactional ?? true));
      outcome = await runStep(conn, step, this.#bookkeeping, {
        journal: this.#journal,
        pool: this.#options.db,
        emit: (event) => this.#emit(event),
        ...(check !== undefined ? { beforeRecord: check.check } : {}),
      });
    } catch (error) {
      // Measuring a before-value failed: nothing of the migration ran.
      outcome = { durationMs: 0, error: asChatkeepError(error) };
      await this.#logFailure(conn, step, outcome.error!);
    }

    let rollback: InvariantRollback | undefined;
    if (outcome.error !== undefined) {
      this.#emit({ type: 'migration-failed', version: migration.version, name: migration.name, direction, durationMs: outcome.durationMs, error: outcome.error });
      if (check !== undefined && isInvariantFailure(outcome.error) && check.failed.length > 0) {
        if (atomic) rollback = 'transaction';
        else {
          const downError = await this.#undo(conn, migration, phased);
          rollback = downError === undefined ? 'down' : 'down-failed';
          outcome = { durationMs: outcome.durationMs, error: invariantFailure(migration, check.failed, rollback, downError) };
        }
      }
    }
    // Stored before-values are kept only for a run that stopped part-way and
    // will resume (or retry a failed down); recorded or undone, they go.
    if (check !== undefined && (outcome.error === undefined || rollback === 'down')) {
      await check.forget(conn);
      await this.#baselines.tidy(conn, []);
    }
    if (phased) await this.#journal.dropIfEmpty(conn);
    return { outcome, ...(check !== undefined ? { check } : {}), ...(rollback !== undefined ? { rollback } : {}) };
  }

  /**
   * Undoes a migration whose `up` is in flight, for a `down` whose range
   * holds it (see in-flight-rules.ts): its `down` runs like {@link #undo}
   * runs it for a broken invariant, and its stored before-values go with
   * its journal. The next `up` starts it from the beginning.
   */
  async #abandon(conn: Kysely<any>, migration: Migration): Promise<{ durationMs: number; error?: ChatkeepError }> {
    const started = performance.now();
    const error = await this.#undo(conn, migration, true);
    if (error === undefined) {
      await this.#baselines.clear(conn, migration.version);
      await this.#baselines.tidy(conn, []);
    }
    await this.#journal.dropIfEmpty(conn);
    const durationMs = Math.round(performance.now() - started);
    return error === undefined ? { durationMs } : { durationMs, error };
  }

  /**
   * Reverts a migration whose invariant broke after it committed work
   * (phased or non-transactional): runs its `down` like `migrator.down`
   * would (logged, with events), then forgets its up journal so the next
   * `up` starts it from the beginning. Returns the error when it cannot.
   */
  async #undo(conn: Kysely<any>, migration: Migration, upWasPhased: boolean): Promise<ChatkeepError | undefined> {
    const { version, name } = migration;
    let down: RenderedStep;
    try {
      down = this.#render({ migration, direction: 'down' });
    } catch (error) {
      return asChatkeepError(error);
    }
    down = { ...down, statements: runnableStatements(down.statements, migration.transactional ?? true) };
    if (down.statements.length === 0) {
      return new ChatkeepError('CK_MIGRATION_FAILED', `Migration ${version} ${name}: down() returns no statements, so nothing could be undone`, { version, name, direction: 'down' });
    }
    this.#emit({ type: 'migration-start', version, name, direction: 'down' });
    if (hasSteps(down.statements)) await this.#journal.ensure(conn);
    const outcome = await runStep(conn, down, this.#bookkeeping, {
      journal: this.#journal,
      pool: this.#options.db,
      emit: (event) => this.#emit(event),
    });
    if (outcome.error !== undefined) {
      this.#emit({ type: 'migration-failed', version, name, direction: 'down', durationMs: outcome.durationMs, error: outcome.error });
      return outcome.error;
    }
    this.#emit({ type: 'migration-end', version, name, direction: 'down', durationMs: outcome.durationMs });
    if (upWasPhased || hasSteps(down.statements)) await this.#journal.clear(conn, version);
    return undefined;
  }

  /**
   * Lints the pending `up` migrations against the live database. Returns
   * every migration's unsuppressed lint errors, and the refusal when some
   * are not accepted by `allowLintErrors`; accepted ones are announced
   * (`lint-errors-allowed`) before anything runs, and so are unsuppressed
   * warnings (`lint-warnings`: e.g. `checkpoint-pressure`, which only the
   * live database can tell).
   */
  async #lintGate(
    conn: Kysely<any>,
    rendered: readonly RenderedStep[],
    allow: AllowLintErrors,
  ): Promise<{ readonly refusal?: ChatkeepError; readonly errors: Map<number, LintFinding[]> }> {
    const errors = new Map<number, LintFinding[]>();
    const warnings = new Map<number, LintFinding[]>();
    const blocks: LintBlock[] = [];
    const lints = await lintAgainstDatabase(conn, rendered, this.#options.context);
    for (const [index, { report }] of lints.entries()) {
      const step = rendered[index]!;
      const warned = report.findings.filter((f) => f.severity === 'warning');
      if (warned.length > 0) warnings.set(step.migration.version, warned);
      const all = allLintErrors(report);
      if (all.length === 0) continue;
      errors.set(step.migration.version, all);
      const blocking = lintErrors(report, allow);
      if (blocking.length > 0) blocks.push({ migration: step.migration, statements: step.statements, errors: blocking });
    }
    if (blocks.length > 0) return { refusal: lintRefusal(blocks), errors };
    for (const step of rendered) {
      const { version, name } = step.migration;
      const findings = errors.get(version);
      if (findings !== undefined) this.#emit({ type: 'lint-errors-allowed', version, name, direction: 'up', findings });
      const warned = warnings.get(version);
      if (warned !== undefined) this.#emit({ type: 'lint-warnings', version, name, direction: 'up', findings: warned });
    }
    return { errors };
  }

  /** The 'failed' log row of a migration that stopped before its runner started. */
  async #logFailure(conn: Kysely<any>, step: MigrationStep, error: ChatkeepError): Promise<void> {
    const now = new Date();
    await this.#bookkeeping
      .insertLog(conn, { version: step.migration.version, name: step.migration.name, direction: step.direction, startedAt: now, finishedAt: now, durationMs: 0, outcome: 'failed', error: error.message })
      .catch(() => undefined);
  }

  #render(step: MigrationStep): RenderedStep {
    const { migration, direction } = step;
    const { context } = this.#options;
    return {
      migration,
      direction,
      statements: renderMigration(migration, direction, context),
      checksum: direction === 'up' ? checksumOf(migration, context) : '',
    };
  }

  #emit(event: MigrationEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener that throws (a closed stdout, a bug in a printer) must
      // not abort a migration half-way through a run.
    }
  }
}

/** The plan of one rendered migration: its SQL as text, and how it runs. */
function planOf(statements: readonly MigrationStatement[], transactional: boolean) {
  return { transactional, phased: hasSteps(statements), statements: statements.map((s) => statementText(s)) };
}

function notRun(step: MigrationStep): MigrationResult {
  return {
    version: step.migration.version,
    name: step.migration.name,
    direction: step.direction,
    status: 'not-run',
  };
}

function toTarget(options: PlanOptions): MigrationTarget {
  if (options?.direction === 'down') return { direction: 'down', to: options.to };
  if (options?.direction === 'up') return { direction: 'up', to: options.to };
  throw new ChatkeepError('CK_MIGRATION_TARGET', "plan: direction must be 'up' or 'down'", {
    field: 'direction',
  });
}

/** Node's codes for a server that cannot be reached or went away. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE']);

/**
 * Errors outside any one migration (the lock query, the bookkeeping): a lost
 * connection becomes CK_DB_UNAVAILABLE, anything else CK_MIGRATION_FAILED,
 * always keeping the original as `cause`.
 */
function asChatkeepError(error: unknown): ChatkeepError {
  if (error instanceof ChatkeepError) return error;
  const wrapped = wrapDriverError(error);
  if (wrapped instanceof ChatkeepError && wrapped.code === 'CK_DB_UNAVAILABLE') return wrapped;
  const reason = failureReason(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    return new ChatkeepError(
      'CK_DB_UNAVAILABLE',
      `The database cannot be reached: ${reason}`,
      {},
      { cause: error },
    );
  }
  const state = sqlState(error);
  return new ChatkeepError(
    'CK_MIGRATION_FAILED',
    `Migration run failed outside any migration: ${reason}${state ? ` (SQLSTATE ${state})` : ''}`,
    state ? { sqlState: state } : {},
    { cause: error },
  );
}

/**
 * Whether a phased migration whose journal is empty certainly changed no
 * data: its first phase commits its work together with its journal entry (a
 * transaction of SQL, a backfill's batches), changes no rows (an index, a
 * verify), or both. Then before-values stored by an earlier, failed run
 * describe a table the application may have changed since, and are measured
 * again. A first phase outside a transaction may have committed its work
 * and died before its journal entry: its stored values are kept.
 */
function firstPhaseLeavesNoTrace(statements: readonly MigrationStatement[], transactional: boolean): boolean {
  const first = groupPhases(statements, transactional)[0];
  if (first === undefined) return true;
  return first.kind === 'sql' ? first.transactional : first.kind !== 'non-transactional';
}
