import type { DdlStatement } from '../ddl-statement.js';
import type { LintRule } from '../lint-rule.js';

/** The statements that delete every row of the tables they name. */
type EmptyingStatement = Extract<DdlStatement, { readonly kind: 'drop-table' | 'truncate' }>;

/**
 * A rule for a statement that takes every row of its tables with it (DROP
 * TABLE, TRUNCATE): no `down` brings the rows back. Nothing is said of a
 * table this migration created; an empty table, or the statement in
 * `down` (where it undoes `up`, losing only what was written since), is a
 * note; any other table is an error, its size unknown included.
 */
export function dataLossRule(rule: {
  readonly id: string;
  readonly summary: string;
  readonly kind: EmptyingStatement['kind'];
  /** The statement as the messages name it, e.g. `TRUNCATE`. */
  readonly verb: string;
  /** What the loss means in `up`, after "<verb> <table> (<size>): ". */
  readonly consequence: string;
  readonly fix: string;
}): LintRule {
  return {
    id: rule.id,
    summary: rule.summary,
    check(statement, scope) {
      if (statement.kind !== rule.kind) return [];
      return statement.tables.flatMap((table) => {
        const size = scope.sizeOf(table);
        if (size === 'new') return [];
        const down = scope.direction === 'down';
        return [
          {
            severity: down || size === 'empty' ? ('info' as const) : ('error' as const),
            message: down
              ? `${rule.verb} ${table} in down: rows written since up are lost`
              : `${rule.verb} ${table} (${scope.describeSize(table)}): ${rule.consequence}`,
            fix: rule.fix,
          },
        ];
      });
    },
  };
}
