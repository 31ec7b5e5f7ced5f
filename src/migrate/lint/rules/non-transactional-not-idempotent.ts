import type { LintRule } from '../lint-rule.js';

/**
 * A statement outside a transaction commits before the journal records it
 * (docs/migrations.md): a run killed between the two runs it again, so it
 * must be a no-op the second time: `IF NOT EXISTS` / `IF EXISTS`.
 */
export const nonTransactionalNotIdempotent: LintRule = {
  id: 'non-transactional-not-idempotent',
  summary: 'A statement of a non-transactional migration is not idempotent (no IF [NOT] EXISTS), so a run resumed after a kill can fail on it',
  check(statement, scope) {
    if (scope.settings.transactional) return [];
    const guarded =
      statement.kind === 'create-index' || statement.kind === 'create-table'
        ? statement.ifNotExists
        : statement.kind === 'drop-index' || statement.kind === 'drop-table'
          ? statement.ifExists
          : true;
    if (guarded) return [];
    return [
      {
        severity: 'warning',
        message: `${statement.kind.replace('-', ' ').toUpperCase()} without ${statement.kind.startsWith('create') ? 'IF NOT EXISTS' : 'IF EXISTS'} in a non-transactional migration: it commits before the journal records it, so a run killed between the two runs it again on resume, and fails on it`,
        fix: `Write it ${statement.kind.startsWith('create') ? 'CREATE … IF NOT EXISTS' : 'DROP … IF EXISTS'}. For CREATE INDEX CONCURRENTLY, also check for an INVALID index left by an interrupted build (IF NOT EXISTS skips it).`,
      },
    ];
  },
};
