import type { LintRule } from '../lint-rule.js';

/** Application code deployed before the rename still names the old column and fails. */
export const renameColumn: LintRule = {
  id: 'rename-column',
  summary: 'RENAME COLUMN breaks code still using the old name',
  check(statement, scope) {
    if (statement.kind !== 'rename-column' || scope.sizeOf(statement.table) === 'new') return [];
    return [
      {
        severity: 'error',
        message: `RENAME COLUMN ${statement.table}.${statement.column} to ${statement.to}: application code running during the deploy still names ${statement.column} and fails until every instance is replaced`,
        fix: 'Expand/contract: add the new column, keep both in sync with a trigger, backfill, switch readers and writers, then drop the old column in a later migration.',
      },
    ];
  },
};
