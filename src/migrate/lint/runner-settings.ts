import type { MigrationDirection } from '../render-migration.js';

/**
 * How the runner will execute the statements: the lint judges a statement by
 * the transaction and timeouts it will actually run under (run-step.ts sets
 * `lock_timeout`/`statement_timeout` per migration, in or out of a transaction).
 */
export interface RunnerSettings {
  readonly transactional: boolean;
  /** `lock_timeout` as PostgreSQL takes it ('5s', '500ms', '0' = wait forever). */
  readonly lockTimeout: string;
  /** `statement_timeout` likewise ('0' = none). */
  readonly statementTimeout: string;
}

/** What the lint knows about the database the migration will run on. */
export interface LintOptions {
  /**
   * Estimated rows of an existing table, keyed `schema.table` (e.g. from
   * `pg_class.reltuples`); negative (PostgreSQL's "never analysed") when the
   * table exists but its size is unknown; undefined when it does not exist
   * or nothing is known. Without it, size-dependent rules warn instead of
   * deciding. A defined answer also tells the lint the table exists, so a
   * `CREATE TABLE IF NOT EXISTS` of it creates nothing.
   */
  readonly tableRows?: (qualifiedTable: string) => number | undefined;
  /**
   * The current type of an existing column as `format_type` prints it
   * (`character varying(20)`), so a type change can be judged a safe widening.
   */
  readonly columnType?: (qualifiedTable: string, column: string) => string | undefined;
  /**
   * Whether an existing type (qualified, as `userType` names it) is a domain
   * with a CHECK or NOT NULL constraint: true; any other existing type:
   * false; unknown: undefined. Adding a column of such a domain rewrites the
   * table (PostgreSQL checks the constraints for every existing row).
   */
  readonly constrainedDomain?: (qualifiedType: string) => boolean | undefined;
  /** Which migration function the statements came from; default 'up'. */
  readonly direction?: MigrationDirection;
  /** The schema unqualified table names resolve to; default 'public'. */
  readonly defaultSchema?: string;
}

const UNIT_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A timeout setting in milliseconds (0 = disabled), parsed the way
 * PostgreSQL parses GUC time values: a bare number is milliseconds for
 * lock_timeout and statement_timeout. Undefined when it cannot be read.
 */
export function durationMs(value: string): number | undefined {
  const match = /^\s*'?\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*'?\s*$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1);
}
