/**
 * A condition a migration promises to keep, declared beside `up`/`down`
 * (issue 4, "Verify") and checked by the migrator after `up`. Some kinds
 * compare with a value measured just before `up` started (a row count, a
 * table checksum); the others judge the state after `up` alone. Built with
 * the helpers in `invariant-builders.ts`, which name each invariant; the
 * name is its identity (in reports, errors and stored before-values), so it
 * must be unique within a migration.
 */
export type Invariant =
  | RowCountPreservedInvariant
  | NoOrphansInvariant
  | NotNullInvariant
  | TableChecksumInvariant
  | CheckInvariant;

/** The table has as many rows after `up` as before it (or at least as many, with `allowGrowth`). */
export interface RowCountPreservedInvariant {
  readonly kind: 'row-count-preserved';
  readonly name: string;
  /** `schema.table`. */
  readonly table: string;
  /** Concurrent writers may add rows while a long (phased) migration runs; losing one is still a failure. */
  readonly allowGrowth: boolean;
}

/** Every child row whose key columns are all non-NULL has a parent (MATCH SIMPLE, like a foreign key). */
export interface NoOrphansInvariant {
  readonly kind: 'no-orphans';
  readonly name: string;
  readonly childTable: string;
  readonly childColumns: readonly string[];
  readonly parentTable: string;
  readonly parentColumns: readonly string[];
}

/** No row has NULL in the column. */
export interface NotNullInvariant {
  readonly kind: 'not-null';
  readonly name: string;
  readonly table: string;
  readonly column: string;
}

/** The table's rows are exactly those it had before `up`: for host tables the migration must not touch. */
export interface TableChecksumInvariant {
  readonly kind: 'table-checksum';
  readonly name: string;
  readonly table: string;
}

/** A query whose first column of the first row must be `true`. */
export interface CheckInvariant {
  readonly kind: 'check';
  readonly name: string;
  readonly query: string;
}

/** Whether an invariant compares with a value measured before `up`. */
export function needsBefore(invariant: Invariant): invariant is RowCountPreservedInvariant | TableChecksumInvariant {
  return invariant.kind === 'row-count-preserved' || invariant.kind === 'table-checksum';
}

/**
 * What checking one invariant found. `expected` and `observed` are short,
 * human-readable values (`1,000 rows`, `0 NULLs`, `true`) — counts and
 * digests only, never row content. `skipped` means it could not be judged
 * (its before-value is missing: `reason` says why).
 */
export interface InvariantOutcome {
  readonly name: string;
  readonly kind: Invariant['kind'];
  readonly status: 'passed' | 'failed' | 'skipped';
  readonly expected: string;
  readonly observed: string;
  readonly reason?: string;
  readonly durationMs: number;
}
