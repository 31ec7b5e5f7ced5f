import type { LintRule } from '../lint-rule.js';

/**
 * `CREATE/DROP INDEX CONCURRENTLY` and `REINDEX CONCURRENTLY` cannot run in
 * a transaction block (SQLSTATE 25001). A migration entry holding several
 * statements is one implicit transaction under the simple query protocol,
 * so it fails there too.
 */
export const concurrentInTransaction: LintRule = {
  id: 'concurrent-in-transaction',
  summary: 'CONCURRENTLY (or REINDEX SCHEMA/DATABASE/SYSTEM) inside a transaction (transactional migration, or several statements in one entry) fails with 25001',
  check(statement, scope) {
    const concurrent =
      ((statement.kind === 'create-index' || statement.kind === 'drop-index') && statement.concurrently) ||
      (statement.kind === 'other' && statement.concurrently && statement.keyword.startsWith('REINDEX'));
    // REINDEX SCHEMA/DATABASE/SYSTEM commit per table, so PostgreSQL refuses
    // them in a transaction block like a CONCURRENTLY build (checked on 15).
    const target = statement.kind === 'rewrite-command' ? statement.target?.kind : undefined;
    if (target !== undefined && target !== 'INDEX' && (scope.settings.transactional || statement.sharesEntry)) {
      return [
        {
          severity: 'error',
          message: `REINDEX ${target} ${scope.settings.transactional ? 'in a transactional migration' : 'in a migration entry that holds several statements (one implicit transaction)'}: PostgreSQL refuses it inside a transaction block (SQLSTATE 25001), so the migration always fails`,
          fix: 'Do not rebuild a whole schema or database in a migration; REINDEX the one index or table CONCURRENTLY, in its own entry of a transactional: false migration.',
        },
      ];
    }
    if (!concurrent) return [];
    if (scope.settings.transactional) {
      return [
        {
          severity: 'error',
          message: `${statement.kind === 'other' ? 'REINDEX' : statement.kind === 'create-index' ? 'CREATE INDEX' : 'DROP INDEX'} CONCURRENTLY in a transactional migration: PostgreSQL refuses it inside a transaction block (SQLSTATE 25001), so the migration always fails`,
          fix: 'Move it to its own migration with transactional: false and make it idempotent (IF NOT EXISTS / IF EXISTS).',
        },
      ];
    }
    if (statement.sharesEntry) {
      return [
        {
          severity: 'error',
          message: 'CONCURRENTLY in a migration entry that holds several statements: they are sent as one query string, which PostgreSQL runs as one implicit transaction, so it fails with 25001',
          fix: 'Put each CONCURRENTLY statement in its own array entry.',
        },
      ];
    }
    return [];
  },
};
