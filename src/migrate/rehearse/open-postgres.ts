import { Kysely, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import { applySessionSettings, CHATKEEP_TYPES, redactUrl, survivingLostConnections } from '../../db/index.js';
import { ChatkeepError } from '../../errors/index.js';

/**
 * A Kysely instance on one PostgreSQL database for the rehearsal: its
 * sessions carry `applicationName`, which is how the lock monitor finds
 * them in `pg_stat_activity`, and it is checked to answer before use.
 */
export async function openPostgres(
  url: string,
  options: { readonly applicationName: string; readonly log?: (event: LogEvent) => void },
): Promise<Kysely<any>> {
  // The migrator runs a migration on one session; a small pool still lets a
  // read it makes meanwhile through `db` proceed instead of waiting for that
  // session forever. The monitor watches every session of the pool.
  const pool = survivingLostConnections(
    new pg.Pool({ connectionString: url, max: 3, connectionTimeoutMillis: 5000, application_name: options.applicationName, types: CHATKEEP_TYPES, onConnect: applySessionSettings }),
  );
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }), ...(options.log !== undefined ? { log: options.log } : {}) });
  try {
    await sql`select 1`.execute(db);
  } catch (cause) {
    await db.destroy().catch(() => undefined);
    throw unreachable(url, cause);
  }
  return db;
}

/** CK_DB_UNAVAILABLE naming the database (password masked). */
export function unreachable(url: string, cause: unknown): ChatkeepError {
  const reason = cause instanceof Error ? cause.message || ((cause as NodeJS.ErrnoException).code ?? '') : String(cause);
  return new ChatkeepError('CK_DB_UNAVAILABLE', `Cannot reach PostgreSQL at ${redactUrl(url)}: ${reason}`, { field: 'rehearse' }, { cause });
}

/**
 * Who a database is: the server instance (its start time, which two servers
 * share only by accident of the same microsecond, and its port) and the
 * database's oid and name. Two URLs with the same identity reach the same
 * database, whatever host names or users they spell.
 *
 * Every part must read the same from any session: the start time is taken
 * as integer microseconds since the epoch, because `timestamptz::text`
 * follows the session's TimeZone (and DateStyle), which a URL's `options` or
 * `ALTER ROLE … SET timezone` change — the target itself, reached that way,
 * would pass for another database and be migrated by the rehearsal.
 */
export async function databaseIdentity(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ identity: string }>`
    select concat_ws('/', (extract(epoch from pg_postmaster_start_time()) * 1000000)::bigint::text, current_setting('port'), d.oid::text, d.datname) as identity
      from pg_database d where d.datname = current_database()`.execute(db);
  return rows[0]?.identity ?? '';
}
