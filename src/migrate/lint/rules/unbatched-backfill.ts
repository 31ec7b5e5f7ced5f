import type { LintRule } from '../lint-rule.js';

/**
 * An UPDATE/DELETE over a table inside a migration locks every row it
 * touches until commit, writes all the WAL at once, and in a transactional
 * migration also runs under any lock earlier DDL took on the table.
 */
export const unbatchedBackfill: LintRule = {
  id: 'unbatched-backfill',
  summary: 'UPDATE/DELETE on an existing populated table in one statement instead of a batched backfill',
  check(statement, scope) {
    if (statement.kind !== 'dml') return [];
    return statement.writes.flatMap(({ verb, table, hasWhere }) => {
      const size = scope.sizeOf(table);
      if (size === 'new' || size === 'empty') return [];
      const underLock = scope.settings.transactional && scope.lockedTables.has(table);
      return [
        {
          severity: underLock && size === 'populated' ? 'error' : size === 'populated' ? 'warning' : 'info',
          message: `${verb} on ${table} (${scope.describeSize(table)})${hasWhere ? '' : ' without WHERE'} in one statement: every row it touches stays locked until the migration commits${underLock ? ', and the transaction already holds a write-blocking lock on the table from earlier DDL, so the application cannot write to it at all meanwhile' : ''}`,
          fix: 'Backfill in keyset-paginated batches committed one by one (a backfill step), after the DDL has committed.',
        },
      ];
    });
  },
};
