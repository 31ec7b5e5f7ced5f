/** How bad a finding is: `error` will hurt a live application, `warning` may, `info` is for the record. */
export type LintSeverity = 'error' | 'warning' | 'info';

/**
 * One thing the linter found. `rule` is a stable id (documented in
 * docs/migration-lint.md, usable in `-- lint-ignore:`); `statementIndex` is
 * the 0-based index of the entry in the migration's `up()`/`down()` array,
 * or -1 for a finding about the migration as a whole (e.g. `missing-down`).
 */
export interface LintFinding {
  readonly rule: string;
  readonly severity: LintSeverity;
  readonly statementIndex: number;
  /** What is wrong and why, naming the table and column. */
  readonly message: string;
  /** The safe way to get the same result. */
  readonly fix: string;
}

/** A finding a `-- lint-ignore: <rule> <reason>` comment silenced, with that reason. */
export interface SuppressedFinding extends LintFinding {
  readonly reason: string;
}

/** What the linter found in one migration direction, in statement order. */
export interface LintReport {
  readonly findings: readonly LintFinding[];
  readonly suppressed: readonly SuppressedFinding[];
}
