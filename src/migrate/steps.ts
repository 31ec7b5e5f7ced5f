import { ChatkeepError } from '../errors/index.js';

/**
 * Steps a migration can list beside plain SQL strings (issue 4, "steps that
 * know their locks"). A migration whose `up`/`down` contains any of these runs
 * phase by phase with a journal: consecutive SQL strings form one
 * transactional phase, each step below is a phase of its own, and every
 * finished phase is recorded, so a run killed at any point resumes where it
 * stopped instead of starting over or wedging.
 */
export type MigrationStepSpec = ConcurrentIndexStep | BackfillStep | VerifyStep | NonTransactionalStep;

/** `CREATE INDEX CONCURRENTLY`, outside any transaction; an invalid leftover of an interrupted build is dropped and rebuilt. */
export interface ConcurrentIndexStep {
  readonly kind: 'concurrent-index';
  /** Index name (unqualified; it lives in the table's schema). */
  readonly name: string;
  /** `schema.table`. */
  readonly table: string;
  /** The index's column/expression list, e.g. `user_id, created_at`. */
  readonly columns: string;
  readonly unique?: boolean;
  /** A partial index predicate. */
  readonly where?: string;
  /**
   * Whether the build compresses the WAL it writes on PostgreSQL (default
   * true): `wal_compression` for the build's session when the server has it
   * off and the role may set it, reset afterwards. The index is logged page
   * by page; compressed, that WAL shrank by 60 % on a 10 M-row index of
   * text columns, so fewer checkpoints fall inside the build. `false` leaves
   * the server's setting. Not part of the checksum.
   */
  readonly tuneSession?: boolean;
}

/**
 * A data migration in keyset batches, each batch its own short transaction
 * whose progress is journaled with it: resumable, throttle-able, reported as
 * progress events with rate and ETA. `where` must select exactly the rows that
 * still need the change (e.g. `new_col is null`), so a batch is never applied
 * twice. Each key range is walked once: rows the application writes meanwhile
 * are picked up when their key lies ahead of the batches, not behind them;
 * a resumed run walks a finished backfill again when rows still match.
 */
export interface BackfillStep {
  readonly kind: 'backfill';
  /** `schema.table`. */
  readonly table: string;
  /** The key the batches walk, in order: a unique, indexed column list (usually the primary key). */
  readonly key: readonly string[];
  /** The SET list, e.g. `preview = left(content, 50)`; unqualified columns are the table's. */
  readonly set: string;
  /** Which rows still need it, e.g. `preview is null`. */
  readonly where: string;
  /** Rows per batch (default 1000). */
  readonly batchSize?: number;
  /** Pause between batches, in ms (default 0). */
  readonly pauseMs?: number;
  /** At most this many rows per second over all workers (default unlimited). */
  readonly rowsPerSecond?: number;
  /**
   * Workers updating disjoint key ranges at once, each on its own pooled
   * connection (default 1). PostgreSQL only: on PGlite's single session the
   * backfill always runs one batch at a time. Each worker is one busy
   * backend, so leave cores for the application.
   */
  readonly concurrency?: number;
  /**
   * Whether each batch tunes its own transaction on PostgreSQL to spare the
   * application's commits (default true): `backend_flush_after = 256kB`, and
   * `wal_compression` when the server has it off and the role may set it.
   * `false` leaves the session's settings as the server has them (batches
   * still commit with `synchronous_commit = off`). Not part of the checksum.
   */
  readonly tuneSession?: boolean;
}

/** An invariant that must hold before the migration goes on: a query whose first column is true. */
export interface VerifyStep {
  readonly kind: 'verify';
  /** What is checked, for messages: `no message without a preview`. */
  readonly name: string;
  /** e.g. `select not exists (select 1 from app.messages where preview is null)`. */
  readonly query: string;
}

/** Statements PostgreSQL cannot run in a transaction; each must be idempotent (`IF NOT EXISTS`). */
export interface NonTransactionalStep {
  readonly kind: 'non-transactional';
  readonly statements: readonly string[];
}

/** A statement of a migration: plain SQL, or a step. */
export type MigrationStatement = string | MigrationStepSpec;

const IDENT = /^[a-z_][a-z0-9_$]*$/;
const QUALIFIED = /^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$/;

/**
 * @example
 * concurrentIndex({ name: 'messages_preview_idx', table: `${schema}.messages`, columns: 'user_id, preview' })
 */
export function concurrentIndex(step: Omit<ConcurrentIndexStep, 'kind'>): ConcurrentIndexStep {
  return { kind: 'concurrent-index', ...step };
}

/**
 * @example
 * backfill({ table: `${schema}.messages`, key: ['user_id', 'conversation_id', 'seq'], set: 'preview = left(content, 50)', where: 'preview is null' })
 */
export function backfill(step: Omit<BackfillStep, 'kind'>): BackfillStep {
  return { kind: 'backfill', ...step };
}

/** @example verify('every message has a preview', `select not exists (select 1 from ${schema}.messages where preview is null)`) */
export function verify(name: string, query: string): VerifyStep {
  return { kind: 'verify', name, query };
}

/** @example nonTransactional(`drop index concurrently if exists ${schema}.old_idx`) */
export function nonTransactional(...statements: string[]): NonTransactionalStep {
  return { kind: 'non-transactional', statements };
}

/**
 * The statements as the runner executes them. A `transactional: false`
 * migration of plain SQL runs each statement as a phase of its own
 * (`nonTransactional`), so each committed statement is journaled: a run
 * killed or failed between two of them is "in flight" like a phased one —
 * listed by `status`, resumed after its last finished statement, undone by a
 * `down` past it — instead of leaving committed work nobody knows about.
 * Rendering, checksums, plans and lint see the statements as written.
 */
export function runnableStatements(statements: readonly MigrationStatement[], transactional: boolean): readonly MigrationStatement[] {
  if (transactional || hasSteps(statements)) return statements;
  return statements.map((s) => nonTransactional(s as string));
}

/** Whether a rendered statement list needs the phased runner. */
export function hasSteps(statements: readonly MigrationStatement[]): boolean {
  return statements.some((s) => typeof s !== 'string');
}

/**
 * The SQL a step stands for, as `plan` prints it. With `forChecksum`, a
 * backfill's pacing (batch size, workers, rate, pause) is left out: tuning how fast a
 * backfill runs — even between an interrupted run and its resumption — does
 * not change what the migration does, so it must not count as an edit.
 */
export function statementText(statement: MigrationStatement, options: { readonly forChecksum?: boolean } = {}): string {
  if (typeof statement === 'string') return statement;
  switch (statement.kind) {
    case 'concurrent-index':
      return `create ${statement.unique === true ? 'unique ' : ''}index concurrently if not exists ${statement.name} on ${statement.table} (${statement.columns})${statement.where !== undefined ? ` where ${statement.where}` : ''}`;
    case 'backfill': {
      const pacing = options.forChecksum === true
        ? ''
        : ` in batches of ${statement.batchSize ?? 1000}${(statement.concurrency ?? 1) > 1 ? `, ${statement.concurrency} at a time` : ''}${statement.rowsPerSecond !== undefined ? `, at most ${statement.rowsPerSecond} rows/s` : ''}${statement.pauseMs ? `, ${statement.pauseMs} ms between batches` : ''}`;
      return `-- backfill${pacing} by (${statement.key.join(', ')})\nupdate ${statement.table} set ${statement.set} where ${statement.where}`;
    }
    case 'verify':
      return `-- verify: ${statement.name}\n${statement.query}`;
    case 'non-transactional':
      return statement.statements.join(';\n');
  }
}

/** Checks a step's shape; returns a reason, or undefined when it is valid. */
export function invalidStep(statement: unknown): string | undefined {
  if (typeof statement === 'string') return statement.trim() === '' ? 'an empty SQL string' : undefined;
  if (typeof statement !== 'object' || statement === null) return 'neither a SQL string nor a step';
  const step = statement as MigrationStepSpec;
  const nonEmpty = (v: unknown) => typeof v === 'string' && v.trim() !== '';
  switch (step.kind) {
    case 'concurrent-index':
      if (!IDENT.test(step.name)) return `concurrentIndex: name "${String(step.name)}" is not a plain identifier`;
      if (!QUALIFIED.test(step.table)) return `concurrentIndex: table must be schema.table, got "${String(step.table)}"`;
      if (!nonEmpty(step.columns)) return 'concurrentIndex: columns is empty';
      if (!(step.tuneSession === undefined || typeof step.tuneSession === 'boolean')) return 'concurrentIndex: tuneSession must be true or false';
      return undefined;
    case 'backfill': {
      if (!QUALIFIED.test(step.table)) return `backfill: table must be schema.table, got "${String(step.table)}"`;
      if (!Array.isArray(step.key) || step.key.length === 0 || !step.key.every((k) => IDENT.test(k))) return 'backfill: key must be a non-empty list of plain column names';
      if (!nonEmpty(step.set) || !nonEmpty(step.where)) return 'backfill: set and where are required';
      const positive = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v > 0);
      if (!positive(step.batchSize) || !positive(step.rowsPerSecond) || !(step.pauseMs === undefined || (typeof step.pauseMs === 'number' && step.pauseMs >= 0))) {
        return 'backfill: batchSize and rowsPerSecond must be positive, pauseMs >= 0';
      }
      if (!(step.concurrency === undefined || (Number.isInteger(step.concurrency) && step.concurrency >= 1 && step.concurrency <= 64))) {
        return 'backfill: concurrency must be an integer from 1 to 64';
      }
      if (!(step.tuneSession === undefined || typeof step.tuneSession === 'boolean')) return 'backfill: tuneSession must be true or false';
      return undefined;
    }
    case 'verify':
      return nonEmpty(step.name) && nonEmpty(step.query) ? undefined : 'verify: name and query are required';
    case 'non-transactional':
      return Array.isArray(step.statements) && step.statements.length > 0 && step.statements.every(nonEmpty)
        ? undefined
        : 'nonTransactional: needs non-empty SQL strings';
    default:
      return `unknown step kind "${String((step as { kind?: unknown }).kind)}"`;
  }
}

/** Thrown by a verify step whose invariant does not hold. */
export function verifyFailed(name: string): ChatkeepError {
  return new ChatkeepError('CK_MIGRATION_FAILED', `Invariant failed: ${name}`, { invariant: name });
}
