import type { DdlStatement } from './ddl-statement.js';
import type { LintSeverity } from './lint-finding.js';
import type { LintScope, TableSize } from './lint-scope.js';

/** What a rule reports; the runner adds the rule id and statement index. */
export interface RuleFinding {
  readonly severity: LintSeverity;
  readonly message: string;
  readonly fix: string;
  /** Findings of one rule with the same key are reported once per migration (the first). */
  readonly once?: string;
}

/**
 * One lint rule: a stable id, a one-line summary (docs/migration-lint.md
 * lists every id; a test keeps the two in step), and a check of one
 * statement in the scope the statements before it left.
 */
export interface LintRule {
  readonly id: string;
  readonly summary: string;
  check(statement: DdlStatement, scope: LintScope): readonly RuleFinding[];
}

/**
 * The usual severity of a locking or scanning statement by table size: a
 * table created in this migration costs nothing (no finding), an empty one
 * is worth a note, an unknown one a warning, a populated one is an error.
 */
export function severityBySize(size: TableSize): LintSeverity | undefined {
  return { new: undefined, empty: 'info' as const, unknown: 'warning' as const, populated: 'error' as const }[size];
}

/** A finding list of one, or none when `severity` is undefined. */
export function finding(
  severity: LintSeverity | undefined,
  message: string,
  fix: string,
): readonly RuleFinding[] {
  return severity === undefined ? [] : [{ severity, message, fix }];
}
