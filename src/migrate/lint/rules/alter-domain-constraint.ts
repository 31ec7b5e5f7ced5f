import type { DdlStatement } from '../ddl-statement.js';
import type { RuleFinding } from '../lint-rule.js';
import type { LintScope } from '../lint-scope.js';

/**
 * ALTER DOMAIN … ADD CONSTRAINT (without NOT VALID), VALIDATE CONSTRAINT and
 * SET NOT NULL check every column of the domain in every table, each table
 * under a SHARE lock (blocks INSERT/UPDATE/DELETE) held until commit. Unlike
 * a table's VALIDATE CONSTRAINT (SHARE UPDATE EXCLUSIVE), a domain's takes
 * SHARE too. ADD … NOT VALID locks no table. Checked on PostgreSQL 15 with
 * pg_locks. Which tables use the domain is not in the SQL, so the lint
 * cannot size it: a warning. Reported as `add-check-without-not-valid`.
 */
export function alterDomainFindings(
  statement: DdlStatement,
  scope: LintScope,
): readonly RuleFinding[] {
  if (statement.kind !== 'alter-domain' || statement.checks === undefined) return [];
  if (scope.typeCreatedHere(statement.domain)) return [];
  const what = {
    'add-constraint': 'ADD CONSTRAINT',
    'validate-constraint': 'VALIDATE CONSTRAINT',
    'set-not-null': 'SET NOT NULL',
  }[statement.checks];
  return [
    {
      severity: 'warning',
      message: `ALTER DOMAIN ${statement.domain} ${what} checks every existing value of every column of type ${statement.domain}, in every table, holding a SHARE lock on each of those tables (every INSERT, UPDATE and DELETE on them waits) until the migration commits; the lint cannot see which tables use the domain or how big they are`,
      fix:
        statement.checks === 'validate-constraint'
          ? "A domain's VALIDATE blocks writes, unlike a table's: put the check on the columns instead (ALTER TABLE … ADD CONSTRAINT … CHECK (…) NOT VALID, then VALIDATE CONSTRAINT in a later migration), or validate when the tables using the domain are small."
          : "Add it NOT VALID (locks no table; new values are checked), and put the check on each column as a table CHECK … NOT VALID + VALIDATE CONSTRAINT in a later migration (writes go on) if the existing values must be proved; a domain's own VALIDATE blocks writes too.",
    },
  ];
}
