import type { ChatkeepError } from '../errors/index.js';
import type { InvariantOutcome } from './invariants/invariant.js';
import type { InvariantRollback } from './invariants/invariant-failure.js';
import type { LintFinding } from './lint/lint-finding.js';
import type { MigrationDirection } from './render-migration.js';

/**
 * What happened to one migration during `up`/`down`: `applied` / `reverted`
 * when it committed, `failed` when it was rolled back, `not-run` when an
 * earlier failure stopped the run before it.
 */
export interface MigrationResult {
  readonly version: number;
  readonly name: string;
  readonly direction: MigrationDirection;
  readonly status: 'applied' | 'reverted' | 'failed' | 'not-run';
  /** Wall time of the migration, for those that ran. */
  readonly durationMs?: number;
  /** Its declared invariants as checked after `up` (absent when it declares none or did not get that far). */
  readonly invariants?: readonly InvariantOutcome[];
  /**
   * True for a `down` of a migration whose `up` was in flight (stopped
   * part-way, never recorded): its `down` undid the half-done work before
   * the versions beneath it were reverted, and its journal was cleared.
   */
  readonly inFlightUp?: boolean;
  /** When an invariant failed: how the migration was undone. */
  readonly rollback?: InvariantRollback;
  /**
   * Unsuppressed lint errors of a pending `up` migration: the reason it was
   * refused (status `not-run`, error CK_MIGRATION_LINT), or, with
   * `allowLintErrors`, the risks it was run with.
   */
  readonly lintErrors?: readonly LintFinding[];
}

/**
 * The outcome of `up`/`down`, which report and never throw (Kysely's
 * `MigrationResultSet`; STYLE 7). `error` is set when the run stopped early;
 * `results` lists every migration the run selected, in execution order, and
 * is empty when the run stopped before selecting any (lock timeout, history
 * mismatch).
 *
 * @example
 * const { error, results } = await migrator.up();
 * if (error) { console.error(error.code, error.message); process.exitCode = 1; }
 */
export interface MigrationResultSet {
  readonly error?: ChatkeepError;
  readonly results: readonly MigrationResult[];
}
