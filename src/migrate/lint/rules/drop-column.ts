import type { LintRule } from '../lint-rule.js';

/** Dropping a column loses its data and breaks running code that still names it. */
export const dropColumn: LintRule = {
  id: 'drop-column',
  summary: 'DROP COLUMN destroys data and breaks old code still using the column',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    const size = scope.sizeOf(statement.table);
    if (size === 'new') return [];
    const down = scope.direction === 'down';
    return statement.actions.flatMap((action) =>
      action.type === 'drop-column'
        ? [
            {
              severity: down || size === 'empty' ? ('info' as const) : ('error' as const),
              message: down
                ? `DROP COLUMN ${statement.table}.${action.column} in down: values written since up are lost`
                : `DROP COLUMN ${statement.table}.${action.column} (${scope.describeSize(statement.table)}): the values are gone for good (down can only re-add an empty column), and application code still selecting or inserting it fails`,
              fix: 'Contract in steps: stop reading and writing the column in code and deploy; copy the values aside (a backup table keyed by primary key) so down can restore them; drop the column in a later migration.',
            },
          ]
        : [],
    );
  },
};
