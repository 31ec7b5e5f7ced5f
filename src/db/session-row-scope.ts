import type { PostgresPool } from 'kysely';
import { poolWithConnect } from './pool-with-connect.js';
import { ROW_SCOPE_SQL, rowScopeParams } from './row-scope.js';

/**
 * The pool Kysely draws from directly on PostgreSQL, with the call's row
 * scope (row-scope.ts) set on every connection it hands out while
 * `enforced()` (the store turns it on when the policies bind its role).
 *
 * Kysely's own reservation hook (`onReserveConnection`) is not used because
 * a connection whose hook fails is never released (kysely 0.29
 * postgres-driver.js: the hook runs after `pool.connect()`, outside any
 * try), and setting the scope is exactly what fails on a connection the
 * server ended while it sat idle (a restart, a failover,
 * pg_terminate_backend) but whose end the driver had not read yet. Each
 * such connection was lost to the pool for good: after poolSize of them
 * every call waited connectTimeoutMs for a free one and failed, and close()
 * waited forever. Here a connection that fails its scope is destroyed, and
 * the call fails with the driver's error (CK_DB_UNAVAILABLE for a lost
 * connection), which a retry answers on a new connection.
 */
export function sessionScopedPool(pool: PostgresPool, enforced: () => boolean): PostgresPool {
  return poolWithConnect(pool, async () => {
    const client = await pool.connect();
    if (!enforced()) return client;
    try {
      await client.query(ROW_SCOPE_SQL, rowScopeParams());
    } catch (error) {
      client.release(true);
      throw error;
    }
    return client;
  });
}
