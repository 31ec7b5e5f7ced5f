import { finding, severityBySize, type LintRule } from '../lint-rule.js';
import { alterDomainFindings } from './alter-domain-constraint.js';
import { attachPartitionFindings } from './attach-partition.js';

/**
 * ADD CHECK scans every row under ACCESS EXCLUSIVE; NOT VALID + VALIDATE
 * moves the scan to a lock that allows writes. The same scan-while-locked
 * happens for a partition's bound (ATTACH PARTITION) and a domain's
 * constraint (ALTER DOMAIN), reported here too.
 */
export const addCheckWithoutNotValid: LintRule = {
  id: 'add-check-without-not-valid',
  summary: 'ADD CHECK without NOT VALID (or ATTACH PARTITION, or ALTER DOMAIN ADD CONSTRAINT) checks every row while writes are blocked',
  check(statement, scope) {
    if (statement.kind === 'alter-domain') return alterDomainFindings(statement, scope);
    if (statement.kind !== 'alter-table') return [];
    const checks = statement.actions.flatMap((action) => {
      const check =
        (action.type === 'add-constraint' && action.constraint === 'check' && !action.notValid) ||
        (action.type === 'add-column' && action.check);
      if (!check) return [];
      const what = action.type === 'add-column' ? `ADD COLUMN ${action.column} … CHECK` : `ADD CONSTRAINT ${action.type === 'add-constraint' ? (action.name ?? '') : ''} CHECK`;
      return finding(
        severityBySize(scope.sizeOf(statement.table)),
        `${what} on ${statement.table} (${scope.describeSize(statement.table)}) without NOT VALID: every row is checked while the table is locked ACCESS EXCLUSIVE (no reads or writes)`,
        'ADD CONSTRAINT … CHECK (…) NOT VALID (instant; new rows are checked), then VALIDATE CONSTRAINT in a later migration (SHARE UPDATE EXCLUSIVE: reads and writes go on).',
      );
    });
    return [...checks, ...attachPartitionFindings(statement, scope)];
  },
};
