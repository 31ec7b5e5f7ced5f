import type pg from 'pg';

/**
 * Makes a lost connection fail the next query of whoever holds it, never the
 * process. `pg` emits 'error' on a client whose connection ends or is killed
 * (a restart, a failover, `pg_terminate_backend`); an 'error' without a
 * listener is an uncaught exception. pg-pool listens on its idle clients
 * (and re-emits on the pool) but takes that listener off a client it lends
 * out, so a connection that died between two statements of a transaction
 * ended the host process.
 */
export function survivingLostConnections(pool: pg.Pool): pg.Pool {
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
