import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * `pool` as Kysely draws from it, with its connections handed out by
 * `connect` (which wraps or prepares the pool's own). The rest is passed
 * through: Kysely opens a control client of the pool's `Client` class, with
 * its options, to cancel a query, and ends the pool on destroy.
 */
export function poolWithConnect(pool: PostgresPool | pg.Pool, connect: () => Promise<PostgresPoolClient>): PostgresPool {
  return {
    Client: (pool as unknown as { Client: unknown }).Client,
    options: pool.options,
    end: () => pool.end(),
    connect,
  } as PostgresPool;
}
