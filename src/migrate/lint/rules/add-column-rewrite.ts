import { defaultVolatility } from '../default-volatility.js';
import { finding, severityBySize, type LintRule } from '../lint-rule.js';

/**
 * ADD COLUMN rewrites the table only when every row needs its own value: a
 * volatile default, a serial, an identity or a stored generated column.
 * A constant or stable default (`false`, `now()`) is catalogue-only since
 * PostgreSQL 11; test/migrate/lint.test.ts checks both on a real server
 * (pg_class.relfilenode stays the same / changes).
 */
export const addColumnRewrite: LintRule = {
  id: 'add-column-rewrite',
  summary: 'ADD COLUMN whose value is computed per row (volatile default, serial, identity, stored generated) rewrites the table',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    return statement.actions.flatMap((action) => {
      if (action.type !== 'add-column') return [];
      const where = `${statement.table}.${action.column} (${scope.describeSize(statement.table)})`;
      const fix =
        'Add the column without a default (or with a constant one), set the default for new rows with ALTER COLUMN … SET DEFAULT, and backfill existing rows in keyset batches.';
      if (action.generated !== undefined) {
        return finding(
          severityBySize(scope.sizeOf(statement.table)),
          `ADD COLUMN ${where} is ${action.generated === 'identity' ? 'an identity column' : 'a stored generated column'}: PostgreSQL computes it for every existing row, rewriting the table under ACCESS EXCLUSIVE (no reads or writes) for the whole rewrite`,
          fix,
        );
      }
      const domain = action.userType === undefined ? false : scope.constrainedDomain(action.userType);
      const domainFindings =
        domain === true
          ? finding(
              severityBySize(scope.sizeOf(statement.table)),
              `ADD COLUMN ${where} of domain ${action.userType}, which has constraints: PostgreSQL checks them against every existing row's value (NULL or the default) by rewriting the table under ACCESS EXCLUSIVE (no reads or writes), even without a DEFAULT`,
              `Add the column with the domain's base type (or a domain without constraints), backfill in keyset batches, then add the check as CHECK (…) NOT VALID and VALIDATE CONSTRAINT in a later migration.`,
            )
          : domain === undefined && scope.sizeOf(statement.table) !== 'new'
            ? finding(
                'info',
                `ADD COLUMN ${where} of type ${action.userType}, which is not a built-in type: if it is a domain with a CHECK or NOT NULL constraint, PostgreSQL rewrites the table under ACCESS EXCLUSIVE to check every row (an enum, composite or unconstrained domain rewrites nothing); the lint cannot tell which`,
                `Check pg_type/pg_constraint for ${action.userType}; if it is a domain with constraints, add the column with its base type, backfill in batches, then add the check NOT VALID and VALIDATE it in a later migration.`,
              )
            : [];
      const volatility = defaultVolatility(action.defaultExpr, action.dataType);
      if (volatility.kind === 'non-volatile') return domainFindings;
      const size = severityBySize(scope.sizeOf(statement.table));
      if (volatility.kind === 'volatile') {
        return finding(
          size,
          `ADD COLUMN ${where} with default ${volatility.cause}: a volatile default is evaluated per row, so the table is rewritten under ACCESS EXCLUSIVE (a constant or stable default would be catalogue-only)`,
          fix,
        );
      }
      if (domain === true) return domainFindings;
      return [
        ...finding(
          size === 'error' ? 'warning' : size,
          `ADD COLUMN ${where} with default ${volatility.cause}: the lint cannot tell whether this function is volatile; if it is, the table is rewritten under ACCESS EXCLUSIVE`,
          `Check pg_proc.provolatile for ${volatility.cause}; if 'v', ${fix.charAt(0).toLowerCase()}${fix.slice(1)}`,
        ),
        ...domainFindings,
      ];
    });
  },
};
