import { needsBefore, type Invariant } from './invariants/invariant.js';
import { renderInvariants } from './invariants/render-invariants.js';
import type { Migration, MigrationContext } from './migration.js';
import { renderMigration, type MigrationDirection } from './render-migration.js';
import { hasSteps } from './steps.js';

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
  /**
   * True for a `down` of a migration whose `up` is in flight (stopped
   * part-way, never recorded): `down` runs it to undo the half-done work
   * before reverting the versions beneath it.
   */
  readonly inFlightUp?: boolean;
}

/** What to plan: the same targets `up` and `down` take. */
export type PlanOptions =
  | { readonly direction: 'up'; readonly to?: number }
  | { readonly direction: 'down'; readonly to: number };

/**
 * One invariant a planned `up` checks (as declared: kind, tables, columns,
 * `allowGrowth`, a check's query), and whether a value is measured for it
 * just before `up` starts (a row count, a table checksum).
 */
export type PlannedInvariant = Invariant & { readonly measuredBefore: boolean };

/**
 * When a migration's invariants are checked and how a broken one is undone.
 *
 * - `before-commit` / `transaction`: a transactional migration without steps
 *   is checked inside its own transaction; a broken invariant rolls all of
 *   it back.
 * - `after-commit` / `down`: a phased or `transactional: false` migration has
 *   committed its work when it is checked (after its last phase or
 *   statement, before its version is recorded); a broken invariant is undone
 *   by running its `down`. Its before-values are stored
 *   (`beforeValuesStored`), so a run resumed after a kill compares with the
 *   true before.
 */
export interface InvariantCheckPlan {
  readonly when: 'before-commit' | 'after-commit';
  readonly rollback: 'transaction' | 'down';
  /** Whether before-values are written to `<table>_baseline` before the work starts. */
  readonly beforeValuesStored: boolean;
}

/** What `up` of one migration promises to keep: its invariants, and when they are checked. */
export interface PlannedInvariants {
  readonly invariants: readonly PlannedInvariant[];
  readonly check: InvariantCheckPlan;
}

/**
 * The invariants `up` of `migration` would check, rendered with `context`,
 * and when: the rule `Migrator` applies when it runs the migration (an
 * atomic migration — transactional, no steps — is checked before COMMIT,
 * any other after its committed work). `plan` shows them; `down` has none.
 * Throws CK_CONFIG, as `up` would, when `invariants()` or `up()` is
 * malformed.
 *
 * @example
 * const { invariants, check } = planInvariants(migration, { schema: 'app', settings: {} });
 * // check: { when: 'after-commit', rollback: 'down', beforeValuesStored: true } for a phased one
 */
export function planInvariants(migration: Migration, context: MigrationContext): PlannedInvariants {
  const invariants = renderInvariants(migration, context).map((invariant) => ({
    ...invariant,
    measuredBefore: needsBefore(invariant),
  }));
  // Mirrors `atomic` in Migrator's #runOne; only a migration that declares
  // invariants needs its `up` rendered to tell.
  const atomic =
    invariants.length === 0 ||
    ((migration.transactional ?? true) && !hasSteps(renderMigration(migration, 'up', context)));
  return {
    invariants,
    check: atomic
      ? { when: 'before-commit', rollback: 'transaction', beforeValuesStored: false }
      : {
          when: 'after-commit',
          rollback: 'down',
          beforeValuesStored: invariants.some((i) => i.measuredBefore),
        },
  };
}
