import { finding, severityBySize, type LintRule } from '../lint-rule.js';
import { couldBeWidening, isSafeWidening, typeText } from '../type-change.js';

/** ALTER COLUMN TYPE rewrites the table and every index on it, except for binary-coercible widenings. */
export const alterColumnType: LintRule = {
  id: 'alter-column-type',
  summary: 'ALTER COLUMN … TYPE rewrites the table and its indexes under ACCESS EXCLUSIVE unless it is a safe widening',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    return statement.actions.flatMap((action) => {
      if (action.type !== 'alter-column-type') return [];
      const size = scope.sizeOf(statement.table);
      const to = typeText(action.dataType);
      const from = scope.columnType(statement.table, action.column);
      const where = `${statement.table}.${action.column} to ${to} (${scope.describeSize(statement.table)})`;
      const fix =
        'Expand/contract: add a new column of the new type, keep it in sync with a trigger, backfill in batches, switch readers, then drop the old column in a later migration. Widening varchar(n) to varchar(m > n) or text, or raising numeric precision, needs no rewrite.';
      if (!action.using && from !== undefined && isSafeWidening(from, to)) {
        // The table is not rewritten, but a collation that differs from the
        // current one makes every index on the column invalid for the new
        // ordering, so PostgreSQL rebuilds them inside the ALTER (checked on a
        // real server: the index's relfilenode changes). The lint does not
        // know the current collation; an unchanged one can be suppressed.
        if (!action.collate) return [];
        return finding(
          severityBySize(size),
          `ALTER COLUMN ${where} from ${from} with COLLATE: the table is not rewritten, but if the collation changes every index on the column is rebuilt under ACCESS EXCLUSIVE, blocking reads and writes for the whole build`,
          `If queries only need the new ordering, build an index on (${action.column} COLLATE …) CONCURRENTLY instead of changing the column; otherwise expand/contract with a new column in the new collation. If the collation does not change, suppress with -- lint-ignore: alter-column-type <reason>.`,
        );
      }
      if (!action.using && from === undefined && couldBeWidening(to)) {
        const severity = severityBySize(size);
        return finding(
          severity === 'error' ? 'warning' : severity,
          `ALTER COLUMN ${where}: no rewrite only if this widens the current type (varchar(n) → varchar(m ≥ n)/text, numeric precision up); any other change rewrites the table and its indexes under ACCESS EXCLUSIVE. The current type is unknown to the lint`,
          `Pass columnType to the lint, or confirm the old type. ${fix}`,
        );
      }
      return finding(
        severityBySize(size),
        `ALTER COLUMN ${where}${from === undefined ? '' : ` from ${from}`}${action.using ? ' USING …' : ''}: the table and all its indexes are rewritten under ACCESS EXCLUSIVE, blocking reads and writes for the whole rewrite, and code expecting the old type breaks`,
        fix,
      );
    });
  },
};
