import type { PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { isLostConnectionState, sqlState } from '../errors/index.js';
import { typedConnectError } from './connection-errors.js';
import { poolWithConnect } from './pool-with-connect.js';

/**
 * The pool Kysely draws from: chatkeep's `pg` pool, except that a
 * connection whose server refused a write as read-only (25006), or that
 * reported itself lost (class 08, 57P01–57P05: isLostConnectionState), is
 * destroyed when it is released instead of going back to the pool.
 *
 * Behind a pooler such a connection stays open: PgBouncer keeps the client
 * whose server session was killed and answers its next statement with
 * 08P01 "server conn crashed?", so the next call drawing it would fail too.
 *
 * After a failover a connection can be left on the old primary, now a
 * standby that answers reads and refuses every write. `pool.query` (the
 * hot statements) already destroys a client that failed a query; Kysely
 * releases its connections for reuse whatever happened, and the pool hands
 * out the most recently released one first, so the same stale connection
 * would fail every write that Kysely sends until the process restarted.
 */
export function discardingPool(pool: pg.Pool): PostgresPool {
  return poolWithConnect(pool, async () => {
    const client = await pool.connect().catch((error: unknown) => {
      throw typedConnectError(pool, error);
    });
    let unusable = false;
    const wrapped: PostgresPoolClient = {
      get processID() {
        // Undocumented in pg; Kysely asks the server for the pid when it is missing.
        return (client as unknown as { processID: number }).processID;
      },
      query: ((...args: Parameters<pg.PoolClient['query']>) => {
        const result = (client.query as (...a: unknown[]) => unknown)(...args);
        if (result instanceof Promise) {
          result.catch((error: unknown) => {
            const state = sqlState(error);
            if (state === '25006' || isLostConnectionState(state)) unusable = true;
          });
        }
        return result;
      }) as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy === true || unusable),
    };
    return wrapped;
  });
}
