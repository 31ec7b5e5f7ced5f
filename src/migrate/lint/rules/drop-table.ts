import type { LintRule } from '../lint-rule.js';

/** Dropping a table loses its data for good and breaks code still reading it. */
export const dropTable: LintRule = {
  id: 'drop-table',
  summary: 'DROP TABLE destroys data; down cannot bring it back',
  check(statement, scope) {
    if (statement.kind !== 'drop-table') return [];
    return statement.tables.flatMap((table) => {
      const size = scope.sizeOf(table);
      if (size === 'new') return [];
      const down = scope.direction === 'down';
      return [
        {
          severity: down || size === 'empty' ? ('info' as const) : ('error' as const),
          message: down
            ? `DROP TABLE ${table} in down: rows written since up are lost`
            : `DROP TABLE ${table} (${scope.describeSize(table)}): its data is gone for good, down can only recreate an empty table, and application code still reading it fails`,
          fix: 'Contract in steps: stop using the table in code first; then rename it aside (ALTER TABLE … RENAME TO …_dropped_<date>) or copy it, so down can restore the data; drop the backup in a later cleanup migration.',
        },
      ];
    });
  },
};
