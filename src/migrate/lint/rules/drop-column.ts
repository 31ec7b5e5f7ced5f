import { generatedBy } from '../generated-by.js';
import type { LintRule } from '../lint-rule.js';

/** The way forward for a hand-written DROP COLUMN. */
const FIX =
  'Contract in steps: stop reading and writing the column in code and deploy; copy the values aside (a backup table keyed by primary key) so down can restore them; drop the column in a later migration.';

/** How a builder's `down` brings back a column its `up` drops, and the option that takes the decision left. */
interface Restoring {
  readonly restored: string;
  readonly decide: (column: string) => string;
}

/**
 * The builders whose `down` brings a dropped column's values back, by the
 * name that marks their lint comments (generated-lint-comments.ts). For
 * their DROP COLUMN the data is not the risk, code still using the column
 * is: saying "gone for good" would send the reviewer after a backup that
 * already exists. The finding stays an error either way; the builder's
 * `unusedBecause` is what suppresses it.
 */
const RESTORING_BUILDERS: ReadonlyMap<string, Restoring> = new Map([
  [
    'dropColumnWithBackup',
    {
      restored: 'the values are kept in its backup table and down restores them',
      decide: (column) => `pass unusedBecause: '<why nothing uses ${column} any more>' to dropColumnWithBackup`,
    },
  ],
  [
    'expandColumn',
    {
      restored: 'the values live on in the new column and down re-creates this one from it',
      decide: (column) => `pass { unusedBecause: '<why nothing uses ${column} any more>' } to contract(…)`,
    },
  ],
]);

/** Dropping a column loses its data (unless a builder keeps it) and breaks running code that still names it. */
export const dropColumn: LintRule = {
  id: 'drop-column',
  summary: 'DROP COLUMN destroys data and breaks old code still using the column',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    const size = scope.sizeOf(statement.table);
    if (size === 'new') return [];
    const down = scope.direction === 'down';
    const builder = generatedBy(statement, 'drop-column');
    const restoring = builder === undefined ? undefined : RESTORING_BUILDERS.get(builder);
    return statement.actions.flatMap((action) => {
      if (action.type !== 'drop-column') return [];
      const column = `${statement.table}.${action.column}`;
      const severity = down || size === 'empty' ? ('info' as const) : ('error' as const);
      if (down) {
        return [{ severity, message: `DROP COLUMN ${column} in down: values written since up are lost`, fix: FIX }];
      }
      if (builder !== undefined && restoring !== undefined) {
        return [
          {
            severity,
            message: `DROP COLUMN ${column} (${scope.describeSize(statement.table)}) by ${builder}: ${restoring.restored}; the danger left is application code still selecting or inserting the column, which fails from here on`,
            fix: `Once no deployed code reads or writes ${column}, ${restoring.decide(action.column)}; that text becomes the reason of this finding's suppression. Until then, leave the migration out of the deploy.`,
          },
        ];
      }
      return [
        {
          severity,
          message: `DROP COLUMN ${column} (${scope.describeSize(statement.table)}): the values are gone for good (down can only re-add an empty column), and application code still selecting or inserting it fails`,
          fix: FIX,
        },
      ];
    });
  },
};
