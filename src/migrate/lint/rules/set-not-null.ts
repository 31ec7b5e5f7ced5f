import { finding, severityBySize, type LintRule } from '../lint-rule.js';

/**
 * SET NOT NULL scans the whole table under ACCESS EXCLUSIVE, unless a
 * validated CHECK (col IS NOT NULL) already proves it (PostgreSQL 12+,
 * ALTER TABLE manual: "the scan is skipped if a valid CHECK constraint is
 * found which proves no NULL can exist").
 */
export const setNotNull: LintRule = {
  id: 'set-not-null',
  summary: 'SET NOT NULL scans the table under ACCESS EXCLUSIVE unless a validated CHECK (col IS NOT NULL) exists',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    return statement.actions.flatMap((action) => {
      if (action.type !== 'set-not-null') return [];
      const validatedHere = [...scope.validated].some((v) => v.startsWith(`${statement.table}:`));
      const where = `${statement.table}.${action.column} (${scope.describeSize(statement.table)})`;
      if (validatedHere) {
        return finding(
          scope.sizeOf(statement.table) === 'new' ? undefined : 'info',
          `SET NOT NULL on ${where} follows a VALIDATE CONSTRAINT on the table; the scan is skipped only if that constraint is CHECK (${action.column} IS NOT NULL)`,
          'Drop the helper CHECK constraint after SET NOT NULL.',
        );
      }
      return finding(
        severityBySize(scope.sizeOf(statement.table)),
        `SET NOT NULL on ${where}: PostgreSQL scans every row to prove there is no NULL while holding ACCESS EXCLUSIVE, blocking reads and writes for the scan`,
        `In one migration ADD CONSTRAINT … CHECK (${action.column} IS NOT NULL) NOT VALID; in a later one VALIDATE CONSTRAINT (no write-blocking lock), then SET NOT NULL (no scan, PostgreSQL 12+) and drop the CHECK. If an earlier migration already validated such a CHECK, suppress with -- lint-ignore: set-not-null <reason>.`,
      );
    });
  },
};
