import type { LintRule } from '../lint-rule.js';

/** An explicit LOCK holds until the end of the transaction, i.e. for the whole rest of the migration. */
export const lockTable: LintRule = {
  id: 'lock-table',
  summary: 'LOCK TABLE holds a lock for the rest of the migration',
  check(statement, scope) {
    if (statement.kind !== 'lock-table') return [];
    const blocksReads = /ACCESS EXCLUSIVE|^EXCLUSIVE/.test(statement.mode) && statement.mode !== 'ACCESS SHARE';
    return [
      {
        severity: blocksReads && statement.tables.some((t) => scope.sizeOf(t) === 'populated') ? 'error' : 'warning',
        message: `LOCK TABLE ${statement.tables.join(', ')} IN ${statement.mode} MODE: the lock is held until the migration's transaction ends, blocking ${blocksReads ? 'reads and writes' : 'writes'} for every statement after it`,
        fix: 'Let each statement take the lock it needs for as short as it needs; if you must serialise against writers, lock as late as possible and keep the rest of the migration small.',
      },
    ];
  },
};
