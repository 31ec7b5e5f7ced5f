import type { ChatkeepError } from '../errors/index.js';
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
