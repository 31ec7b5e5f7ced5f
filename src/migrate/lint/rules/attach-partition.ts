import type { DdlStatement } from '../ddl-statement.js';
import { finding, severityBySize, type RuleFinding } from '../lint-rule.js';
import type { LintScope } from '../lint-scope.js';

/**
 * ALTER TABLE … ATTACH PARTITION scans the partition to prove its rows fit
 * the bound, unless a valid CHECK constraint on it already implies the bound
 * (PostgreSQL then logs "partition constraint … is implied by existing
 * constraints" and skips the scan). The scan holds ACCESS EXCLUSIVE on the
 * partition and SHARE UPDATE EXCLUSIVE on the parent (PostgreSQL ≥ 12);
 * a DEFAULT partition of the parent is locked ACCESS EXCLUSIVE and scanned
 * too. All checked on PostgreSQL 15 (pg_locks, DEBUG1 "verifying table").
 * Reported as `add-check-without-not-valid`: the bound is a CHECK that is
 * validated as it is added, and the way out is the same.
 */
export function attachPartitionFindings(
  statement: DdlStatement,
  scope: LintScope,
): readonly RuleFinding[] {
  if (statement.kind !== 'alter-table') return [];
  return statement.actions.flatMap((action) => {
    if (action.type !== 'attach-partition') return [];
    const size = scope.sizeOf(action.partition);
    // A CHECK validated earlier in this migration is most likely the one that implies the bound.
    const proved = [...scope.validated].some((c) => c.startsWith(`${action.partition}:`));
    const severity = proved && size !== 'new' ? 'info' : severityBySize(size);
    return finding(
      severity,
      `ATTACH PARTITION ${action.partition} (${scope.describeSize(action.partition)}) to ${statement.table}: PostgreSQL scans every row of ${action.partition} to check the partition bound, holding ACCESS EXCLUSIVE on it (no reads or writes) and SHARE UPDATE EXCLUSIVE on ${statement.table}, unless a valid CHECK constraint on ${action.partition} already implies the bound${proved ? ' (a constraint on it was validated earlier in this migration; check that it implies the bound, with IS NOT NULL for the key columns)' : ''}; if ${statement.table} has a DEFAULT partition, that one is locked ACCESS EXCLUSIVE and scanned too`,
      `Before attaching, add a CHECK constraint matching the bound (with IS NOT NULL for each key column) NOT VALID, VALIDATE it in a later migration (SHARE UPDATE EXCLUSIVE, writes go on), then ATTACH (no scan) and drop the check; build the parent's indexes on the partition CONCURRENTLY first. Suppress this finding when such a constraint already exists.`,
    );
  });
}
