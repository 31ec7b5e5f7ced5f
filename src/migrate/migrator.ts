import { sql, type Kysely } from 'kysely';
import { lintMigration, type LintReport } from './lint/index.js';
import type { MigrationDirection } from './render-migration.js';
import { ChatkeepError, sqlState, wrapDriverError } from '../errors/index.js';
import { acquireAdvisoryLock, releaseAdvisoryLock } from './advisory-lock.js';
import { Bookkeeping } from './bookkeeping.js';
import { StepJournal } from './step-journal.js';
import { checkHistory } from './check-history.js';
import { checksumOf } from './checksum.js';
import type { MigrationContext } from './migration.js';
import type { MigrationEvent } from './migration-event.js';
import type { MigrationLogEntry } from './migration-log-entry.js';
import type { MigrationResult, MigrationResultSet } from './migration-result.js';
import type { MigrationStatus } from './migration-status.js';
import {
  resolveMigratorOptions,
  type MigratorOptions,
  type ResolvedMigratorOptions,
} from './migrator-options.js';
import type { PlannedMigration, PlanOptions } from './planned-migration.js';
import { renderMigration } from './render-migration.js';
import { hasSteps, statementText, type MigrationStatement } from './steps.js';
import { runStep, type RenderedStep } from './run-step.js';
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

  /** Validates the options and the migration list; throws CK_CONFIG naming the problem. */
  constructor(options: MigratorOptions) {
    this.#options = resolveMigratorOptions(options);
    this.#bookkeeping = new Bookkeeping(this.#options.context.schema, this.#options.table);
    this.#journal = new StepJournal(this.#options.context.schema, this.#options.table);
  }

  /** The context every migration is rendered with (schema and settings). */
  get context(): MigrationContext {
    return this.#options.context;
  }

  /**
   * Applies every pending migration up to `to` (default: the latest), in
   * order, stopping at the first failure. Never throws.
   */
  up(options: { readonly to?: number } = {}): Promise<MigrationResultSet> {
    return this.#run({ direction: 'up', to: options.to });
  }

  /**
   * Reverts applied migrations above `to`, newest first; `{ to: 0 }` undoes
   * everything. Never throws.
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
    return selectSteps(migrations, new Set(applied.map((a) => a.version)), target).map(
      ({ migration, direction }) => ({
        version: migration.version,
        name: migration.name,
        direction,
        ...planOf(renderMigration(migration, direction, context), migration.transactional ?? true),
      }),
    );
  }

  /**
   * Lints what `up`/`down` with the same target would run, against the
   * database's table sizes (`pg_class.reltuples`) and column types, before
   * anything runs (docs/migration-lint.md). Changes nothing.
   */
  async lint(options: PlanOptions): Promise<{ version: number; name: string; direction: MigrationDirection; report: LintReport }[]> {
    const { db, migrations, context } = this.#options;
    const target = toTarget(options);
    assertTarget(migrations, target);
    const applied = await this.#bookkeeping.readApplied(db);
    const steps = selectSteps(migrations, new Set(applied.map((a) => a.version)), target);
    const { rows: tables } = await sql<{ name: string; rows: number | string }>`
      select n.nspname || '.' || c.relname as name, c.reltuples as rows
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')`.execute(db);
    const { rows: columns } = await sql<{ name: string; type: string }>`
      select n.nspname || '.' || c.relname || '.' || a.attname as name, format_type(a.atttypid, a.atttypmod) as type
        from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped and n.nspname not in ('pg_catalog', 'information_schema')`.execute(db);
    const sizes = new Map(tables.map((t) => [t.name, Number(t.rows)]));
    const types = new Map(columns.map((c) => [c.name, c.type]));
    return steps.map(({ migration, direction }) => ({
      version: migration.version,
      name: migration.name,
      direction,
      report: lintMigration(migration, context, {
        direction,
        defaultSchema: context.schema,
        tableRows: (table) => {
          const rows = sizes.get(table);
          return rows === undefined || rows < 0 ? undefined : rows;
        },
        columnType: (table, column) => types.get(`${table}.${column}`),
      }),
    }));
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

  async #run(target: MigrationTarget): Promise<MigrationResultSet> {
    const results: MigrationResult[] = [];
    try {
      assertTarget(this.#options.migrations, target);
      return await this.#options.db
        .connection()
        .execute((conn) => this.#runLocked(conn, target, results));
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
      outcome = await this.#migrateHoldingLock(conn, target, results);
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
   * previous one did, and `CREATE … IF NOT EXISTS` is not race-free.
   */
  async #migrateHoldingLock(
    conn: Kysely<any>,
    target: MigrationTarget,
    results: MigrationResult[],
  ): Promise<MigrationResultSet> {
    const { migrations, context } = this.#options;
    await this.#bookkeeping.ensure(conn);
    const applied = await this.#bookkeeping.readApplied(conn);
    const [problem] = checkHistory(migrations, applied, context);
    if (problem !== undefined) return { error: problem, results };

    const steps = selectSteps(migrations, new Set(applied.map((a) => a.version)), target);
    // Render everything first: a migration whose up()/down() throws is
    // reported before anything has run.
    const rendered = steps.map((step) => this.#render(step));
    for (const [index, step] of rendered.entries()) {
      const { version, name } = step.migration;
      const { direction } = step;
      this.#emit({ type: 'migration-start', version, name, direction });
      // The step journal exists only while a phased migration is unfinished:
      // a host whose migrations are plain SQL never gets the extra table.
      if (hasSteps(step.statements)) await this.#journal.ensure(conn);
      const outcome = await runStep(conn, step, this.#bookkeeping, {
        journal: this.#journal,
        emit: (event) => this.#emit(event),
      });
      if (hasSteps(step.statements)) await this.#journal.dropIfEmpty(conn);
      if (outcome.error !== undefined) {
        this.#emit({
          type: 'migration-failed',
          version,
          name,
          direction,
          durationMs: outcome.durationMs,
          error: outcome.error,
        });
        results.push({
          version,
          name,
          direction,
          status: 'failed',
          durationMs: outcome.durationMs,
        });
        results.push(...rendered.slice(index + 1).map(notRun));
        return { error: outcome.error, results };
      }
      this.#emit({
        type: 'migration-end',
        version,
        name,
        direction,
        durationMs: outcome.durationMs,
      });
      results.push({
        version,
        name,
        direction,
        status: direction === 'up' ? 'applied' : 'reverted',
        durationMs: outcome.durationMs,
      });
    }

    if (target.direction === 'down' && target.to === 0 && this.#options.removeBookkeepingAtZero) {
      const left = await this.#bookkeeping.readApplied(conn);
      if (left.length === 0) {
        await this.#journal.drop(conn);
        await this.#bookkeeping.remove(conn);
      }
    }
    return { results };
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
  const reason = error instanceof Error ? error.message : String(error);
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
