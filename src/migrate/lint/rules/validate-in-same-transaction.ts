import type { LintRule } from '../lint-rule.js';

/**
 * `ADD … NOT VALID` then `VALIDATE` in the same transaction gains nothing:
 * the ADD's lock (ACCESS EXCLUSIVE for CHECK, SHARE ROW EXCLUSIVE for a
 * foreign key) is held until commit, so the validating scan runs under it.
 * A non-transactional migration runs each entry on its own, but an entry
 * holding both statements is one implicit transaction: the same thing.
 * (The scope's NOT VALID list starts afresh with each transaction.)
 */
export const validateInSameTransaction: LintRule = {
  id: 'validate-in-same-transaction',
  summary: 'VALIDATE CONSTRAINT in the same transaction as its ADD … NOT VALID scans under the ADD\'s lock',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    return statement.actions.flatMap((action) =>
      action.type === 'validate-constraint' && scope.addedNotValid.has(`${statement.table}:${action.name}`)
        ? [
            {
              severity: 'warning' as const,
              message: `VALIDATE CONSTRAINT ${action.name} on ${statement.table} runs in the same transaction that added it NOT VALID: the ADD's lock is held until commit, so the scan still blocks writes`,
              fix: 'Move the VALIDATE CONSTRAINT to a later migration.',
            },
          ]
        : [],
    );
  },
};
