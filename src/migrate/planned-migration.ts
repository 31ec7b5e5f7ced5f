import type { MigrationDirection } from './render-migration.js';

/** One step `plan` says `up`/`down` would run, with its SQL in execution order. */
export interface PlannedMigration {
  readonly version: number;
  readonly name: string;
  readonly direction: MigrationDirection;
  /** False when the statements run outside a transaction, one by one. */
  readonly transactional: boolean;
  /** True when it has steps (backfills, concurrent indexes, verifications) and runs phase by phase with a journal. */
  readonly phased: boolean;
  readonly statements: string[];
}

/** What to plan: the same targets `up` and `down` take. */
export type PlanOptions =
  | { readonly direction: 'up'; readonly to?: number }
  | { readonly direction: 'down'; readonly to: number };
