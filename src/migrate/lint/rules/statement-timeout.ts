import { tableLocks } from '../table-locks.js';
import type { LintRule } from '../lint-rule.js';

/**
 * statement_timeout bounds how long a scan or rewrite can hold its lock;
 * but a CONCURRENTLY build it cancels leaves an INVALID index that
 * `IF NOT EXISTS` then skips (docs/migrations.md).
 */
export const statementTimeout: LintRule = {
  id: 'statement-timeout',
  summary: 'No statement_timeout for locking DDL; or a statement_timeout that can cancel a CONCURRENTLY build and leave an INVALID index',
  check(statement, scope) {
    const ms = scope.statementTimeoutMs;
    if (statement.kind === 'create-index' && statement.concurrently && ms !== undefined && ms > 0) {
      const size = scope.sizeOf(statement.table);
      if (size === 'new' || size === 'empty') return [];
      return [
        {
          severity: 'info',
          message: `CREATE INDEX CONCURRENTLY on ${statement.table} (${scope.describeSize(statement.table)}) runs under statement_timeout ${ms} ms: if the build takes longer it is cancelled and leaves an INVALID index, which IF NOT EXISTS then skips`,
          fix: 'Give this migration a statementTimeout sized for the build (or \'0\'), and check pg_index.indisvalid afterwards; drop and rebuild an invalid index.',
        },
      ];
    }
    const locks = tableLocks(statement).filter((l) => scope.sizeOf(l.table) !== 'new');
    if (locks.length === 0 || ms !== 0) return [];
    return [
      {
        severity: 'warning',
        message: `Takes ${locks.map((l) => l.table).join(', ')} with no statement_timeout: a scan or rewrite holds its lock for as long as it runs, with nothing to stop it`,
        fix: "Keep a statement_timeout (the runner's default is '5min'; Migration.statementTimeout) so a slow locking statement fails and rolls back instead of blocking the application indefinitely.",
        once: 'none',
      },
    ];
  },
};
