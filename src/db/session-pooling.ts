import pg from 'pg';
import { ChatkeepError, SESSION_STATE } from '../errors/index.js';

/**
 * Refuses a `url` that reaches PostgreSQL through a pooler in transaction or
 * statement mode, before anything is written through it.
 *
 * Two sessions open at the same time directly on PostgreSQL never share a
 * server process. Behind such a pooler, the second session's first statement
 * usually runs on the server process the first session's statement just gave
 * back (PgBouncer reuses the most recently used one), so the same
 * `pg_backend_pid()` in both proves it. Different pids prove nothing; the
 * errors of a lost or shared prepared statement (errors/driver-error.ts) are
 * the second net. A probe that cannot open its second session says nothing
 * either: the pool's own connections will report what is wrong.
 *
 * @param first a connection of the store's pool, held while the probe runs
 * @param second how to open one more session like it
 */
export async function assertOwnSessions(first: pg.PoolClient, second: pg.ClientConfig, description: string): Promise<void> {
  const pid = async (client: pg.ClientBase) => (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
  const firstPid = await pid(first);
  // A session-mode pooler with every server session taken would hold the
  // probe's query until its own wait limit (PgBouncer: 120 s); the probe
  // gives up as soon as a connection attempt would, and proves nothing.
  const other = new pg.Client({ ...second, query_timeout: second.connectionTimeoutMillis ?? 5000 });
  // An 'error' after connect (the server going away) would otherwise crash the host process.
  other.on('error', () => undefined);
  let otherPid: number | undefined;
  try {
    await other.connect();
    otherPid = await pid(other);
  } catch {
    return;
  } finally {
    await other.end().catch(() => undefined);
  }
  if (firstPid !== undefined && firstPid === otherPid) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `url: ${description} looks like a connection pooler in transaction or statement mode: two open sessions ran on the same server process (pid ${firstPid}). ${SESSION_STATE}.`,
      { field: 'url' },
    );
  }
}
