import { finding, severityBySize, type LintRule } from '../lint-rule.js';

/** CREATE INDEX without CONCURRENTLY holds SHARE on the table for the whole build: reads go on, writes wait. */
export const addIndexNonConcurrent: LintRule = {
  id: 'add-index-non-concurrent',
  summary: 'CREATE INDEX without CONCURRENTLY blocks writes to an existing table for the whole build',
  check(statement, scope) {
    if (statement.kind !== 'create-index' || statement.concurrently) return [];
    return finding(
      severityBySize(scope.sizeOf(statement.table)),
      `CREATE INDEX ${statement.indexName ?? ''} on ${statement.table} (${scope.describeSize(statement.table)}) without CONCURRENTLY: the build holds a SHARE lock, so every INSERT, UPDATE and DELETE on the table waits until it finishes`,
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS … in its own migration with transactional: false.',
    );
  },
};
