import { generatedBy } from '../generated-by.js';
import type { LintRule } from '../lint-rule.js';

/** Application code deployed before the rename still uses the old name and fails until it is replaced. */
export const renameTable: LintRule = {
  id: 'rename-table',
  summary: 'RENAME (or SET SCHEMA) of a table breaks code still using the old name',
  check(statement, scope) {
    if (statement.kind !== 'rename-table' || scope.sizeOf(statement.table) === 'new') return [];
    // dropTableWithBackup drops a table by moving it aside: say what it is,
    // and that the data is kept, so the reviewer weighs the real risk.
    const backupMove = generatedBy(statement, 'rename-table') === 'dropTableWithBackup';
    return [
      {
        severity: 'error',
        message: backupMove
          ? `ALTER TABLE ${statement.table} moved to ${statement.to} by dropTableWithBackup: this is the drop, but the table is kept whole there and down moves it back; the danger left is application code still querying ${statement.table}, which fails from here on`
          : `ALTER TABLE ${statement.table} renamed to ${statement.to}: application code that is running during the deploy still queries ${statement.table} and fails until every instance is replaced`,
        fix: 'Expand/contract: create the new table (or a view under the new name), dual-write with a trigger, backfill, switch readers, then drop the old name in a later migration.',
      },
    ];
  },
};
