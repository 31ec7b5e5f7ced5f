import type { Invariant } from './invariants/invariant.js';
import type { MigrationStatement } from './steps.js';

/**
 * What a migration is rendered with: the schema it owns and the settings the
 * migration set was installed with (e.g. the host users-table reference).
 * Migrations are frozen in time (STYLE 6): they read only this context, never
 * store code.
 */
export interface MigrationContext {
  /** The PostgreSQL schema this migration set owns (a validated identifier). */
  readonly schema: string;
  /** Settings the SQL is rendered with; part of the checksum through the SQL. */
  readonly settings: Readonly<Record<string, unknown>>;
}

/**
 * One numbered, reversible schema change. `up` and `down` return SQL
 * statements in order; the runner executes them (in one transaction unless
 * `transactional` is false) and `plan` prints them. The checksum recorded when
 * `up` runs is the SHA-256 of the version, name and rendered `up` SQL.
 *
 * @example
 * const addTags: Migration = {
 *   version: 4,
 *   name: 'conversation-tags',
 *   up: ({ schema }) => [`alter table ${schema}.conversations add column tags text[]`],
 *   down: ({ schema }) => [`alter table ${schema}.conversations drop column tags`],
 * };
 */
export interface Migration {
  /** Positive integer, unique; migrations run in ascending order. */
  readonly version: number;
  /** Short kebab-case name (`messages`, `onboarding-sessions`). */
  readonly name: string;
  /** SQL strings, and steps (`concurrentIndex`, `backfill`, `verify`, `nonTransactional`) that make it a phased migration. */
  up(context: MigrationContext): readonly MigrationStatement[];
  down(context: MigrationContext): readonly MigrationStatement[];
  /**
   * Default true. False for steps PostgreSQL cannot run in a transaction
   * (`CREATE INDEX CONCURRENTLY`); such statements must be idempotent
   * (`IF NOT EXISTS`), because a crash can leave them half done.
   */
  readonly transactional?: boolean;
  /** `lock_timeout` while this migration runs (default '5s'). */
  readonly lockTimeout?: string;
  /** `statement_timeout` while this migration runs (default '5min'). */
  readonly statementTimeout?: string;
  /**
   * Conditions `up` must keep, checked after its work and before it is
   * recorded (docs/migrations.md, "Invariants"): `rowCountPreserved`,
   * `noOrphans`, `notNull`, `tableChecksum`, `check`. Before-values are
   * measured just before `up` starts. A broken invariant undoes the
   * migration (its transaction, or its `down`) and stops the run with
   * CK_MIGRATION_INVARIANT. Not part of the checksum: adding or editing
   * invariants of an applied migration changes nothing (they only run with
   * `up`).
   *
   * @example
   * invariants: ({ schema }) => [rowCountPreserved(`${schema}.messages`), tableChecksum('public.users')],
   */
  invariants?(context: MigrationContext): readonly Invariant[];
}
