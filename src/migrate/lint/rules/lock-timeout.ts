import { tableLocks } from '../table-locks.js';
import type { LintRule } from '../lint-rule.js';

/** Above this a waiting ALTER stalls the application's queries on the table for too long. */
const LONG_LOCK_TIMEOUT_MS = 10_000;

/**
 * A DDL statement waiting for its lock sits in the lock queue, and every
 * later query on the table queues behind it. The runner sets lock_timeout
 * per migration (docs/migrations.md, "Timeouts"); this rule checks the value
 * in force at each locking statement, including a migration's own `SET`.
 */
export const lockTimeout: LintRule = {
  id: 'lock-timeout',
  summary: 'A locking statement runs without lock_timeout (or with a long one), so it can stall every query on the table',
  check(statement, scope) {
    const locks = tableLocks(statement).filter((l) => scope.sizeOf(l.table) !== 'new');
    if (locks.length === 0) return [];
    const ms = scope.lockTimeoutMs;
    const tables = locks.map((l) => `${l.table} (${l.mode})`).join(', ');
    if (ms === 0) {
      return [
        {
          severity: 'error',
          message: `Takes ${tables} with no lock_timeout: if a long transaction holds the table, this statement waits indefinitely and every application query on the table queues behind it`,
          fix: "Keep the runner's lock_timeout (default '5s'; Migration.lockTimeout) and do not SET/RESET lock_timeout in the migration; a 55P03 failure is safe to retry.",
          once: 'none',
        },
      ];
    }
    if (ms === undefined || ms > LONG_LOCK_TIMEOUT_MS) {
      return [
        {
          severity: 'warning',
          message: `Takes ${tables} with lock_timeout ${ms === undefined ? '(unreadable)' : `${ms} ms`}: while it waits for the lock, application queries on the table queue behind it for up to that long`,
          fix: "Use a short lock_timeout (a few seconds; the runner's default is '5s') and retry the migration when it fails with 55P03.",
          once: 'long',
        },
      ];
    }
    return [];
  },
};
