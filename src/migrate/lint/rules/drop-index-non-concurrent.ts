import type { LintRule } from '../lint-rule.js';

/** DROP INDEX takes ACCESS EXCLUSIVE on the index's table; short, but it queues behind every open transaction. */
export const dropIndexNonConcurrent: LintRule = {
  id: 'drop-index-non-concurrent',
  summary: 'DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table',
  check(statement, scope) {
    if (statement.kind !== 'drop-index' || statement.concurrently) return [];
    const bounded = (scope.lockTimeoutMs ?? 0) > 0;
    return [
      {
        severity: bounded ? 'info' : 'warning',
        message: `DROP INDEX ${statement.indexes.join(', ')} without CONCURRENTLY takes ACCESS EXCLUSIVE on its table; the drop is quick, but it waits behind open transactions and every query on the table waits behind it${bounded ? ` (bounded by lock_timeout ${scope.lockTimeoutMs} ms)` : ', with no lock_timeout to bound it'}`,
        fix: 'DROP INDEX CONCURRENTLY IF EXISTS … in a migration with transactional: false.',
      },
    ];
  },
};
