import { finding, severityBySize, type LintRule } from '../lint-rule.js';

/** NOT NULL with no default: existing rows would be NULL, so PostgreSQL refuses (23502) on any non-empty table. */
export const addColumnNotNullWithoutDefault: LintRule = {
  id: 'add-column-not-null-without-default',
  summary: 'ADD COLUMN … NOT NULL without a DEFAULT fails on a table that has rows',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    return statement.actions.flatMap((action) =>
      action.type === 'add-column' && action.notNull && action.defaultExpr === undefined && action.generated === undefined
        ? finding(
            severityBySize(scope.sizeOf(statement.table)),
            `ADD COLUMN ${statement.table}.${action.column} NOT NULL without a DEFAULT (${scope.describeSize(statement.table)}): existing rows have no value, so the statement fails with 23502 on a non-empty table, and old application code that inserts without the column fails too`,
            'Add the column with a constant DEFAULT (catalogue-only since PostgreSQL 11), or add it nullable, backfill, then add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, and SET NOT NULL.',
          )
        : [],
    );
  },
};
