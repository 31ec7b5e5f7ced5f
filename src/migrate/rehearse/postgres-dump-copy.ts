import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { redactUrl } from '../../db/index.js';
import { ChatkeepError, sqlState } from '../../errors/index.js';
import { openPostgres } from './open-postgres.js';
import { assertTool, dumpInto } from './pg-tools.js';
import { isStopped, rehearsalStopped } from './rehearsal-stopped.js';
import type { RehearsalCopy } from './rehearsal-copy.js';

/** Prefix of the databases this module creates, so a leftover (the process was killed) is easy to find and drop. */
export const REHEARSAL_DATABASE_PREFIX = 'ck_rehearse_';

/** How long pg_dump waits for a table's lock on the target before the copy fails, unless told otherwise. */
export const DEFAULT_DUMP_LOCK_WAIT_MS = 10_000;

export interface PostgresDumpCopyOptions {
  /**
   * How long pg_dump may wait for its ACCESS SHARE lock on a table of the
   * target (pg_dump's `--lock-wait-timeout`) before the copy fails with
   * CK_CONFIG; default 10,000. Only an ACCESS EXCLUSIVE lock (DDL, a
   * migration in progress) makes it wait.
   */
  readonly lockWaitMs?: number;
}

/**
 * A fresh copy of a PostgreSQL database on the same server, made with
 * `pg_dump | psql` into a new database (`ck_rehearse_<random>`) that is
 * dropped afterwards. Needs `pg_dump` and `psql` on PATH (same major version
 * as the server or newer) and the CREATEDB privilege.
 *
 * Why a dump and not `CREATE DATABASE … TEMPLATE <target>`: a template copy
 * is a fast file copy, but PostgreSQL refuses it while any other session is
 * connected to the target (SQLSTATE 55006), so it cannot copy a live
 * database. The dump reads the target through one ordinary session: it takes
 * ACCESS SHARE on every table (blocking only DDL) and holds one snapshot for
 * as long as it runs (VACUUM cannot remove rows deleted meanwhile), and it
 * costs the server a full read of every table — run it where that is
 * acceptable, or restore a snapshot elsewhere and use {@link postgresScratch}.
 *
 * @example
 * rehearse({ copy: postgresDumpCopy(process.env.DATABASE_URL!), migrator: { migrations }, plan: { direction: 'up' } })
 */
export function postgresDumpCopy(sourceUrl: string, options: PostgresDumpCopyOptions = {}): RehearsalCopy {
  const where = redactUrl(sourceUrl);
  const lockWaitMs = options.lockWaitMs ?? DEFAULT_DUMP_LOCK_WAIT_MS;
  if (!Number.isSafeInteger(lockWaitMs) || lockWaitMs < 1) {
    throw new ChatkeepError('CK_CONFIG', 'lockWaitMs: expected an integer >= 1', { field: 'lockWaitMs' });
  }
  return {
    description: `pg_dump copy of PostgreSQL at ${where}`,
    async open({ applicationName, log, signal }) {
      await assertTool('pg_dump');
      await assertTool('psql');
      const name = `${REHEARSAL_DATABASE_PREFIX}${randomBytes(6).toString('hex')}`;
      const copyUrl = withDatabase(sourceUrl, name);
      const admin = await openPostgres(sourceUrl, { applicationName: 'chatkeep-rehearsal-admin' });
      let created = false;
      let db: Kysely<any> | undefined;
      // Stopped while copying or analysing: dropping the copy WITH (FORCE)
      // ends psql's and ANALYZE's sessions at once (pg_dump and psql are
      // killed through `signal` too), so nothing waits for a full copy.
      let dropping: Promise<void> | undefined;
      const onAbort = () => {
        if (created) dropping ??= dropDatabase(admin, name).catch(() => undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        if (signal !== undefined && isStopped(signal)) throw rehearsalStopped(signal);
        await createLike(admin, name);
        created = true;
        // Aborted while CREATE DATABASE ran: the listener saw nothing to drop yet.
        if (signal !== undefined && isStopped(signal)) throw rehearsalStopped(signal);
        await dumpInto(sourceUrl, copyUrl, { lockWaitMs, ...(signal !== undefined ? { signal } : {}) });
        const notes = await copySettings(admin, name);
        db = await openPostgres(copyUrl, { applicationName, ...(log !== undefined ? { log } : {}) });
        // A restore leaves no statistics; the planner (a backfill's batch
        // queries, a verify step) should see the target's data as it is.
        // VACUUM too: a freshly loaded table is due for autovacuum (its
        // insert threshold), whose SHARE UPDATE EXCLUSIVE a step's DDL would
        // wait behind (up to deadlock_timeout) while holding its other
        // locks; and its pages lack the hint bits and visibility map of the
        // long-lived target, so the first step to scan each table would pay
        // for writing them.
        await sql`vacuum (analyze)`.execute(db);
        if (signal !== undefined && isStopped(signal)) throw rehearsalStopped(signal);
        const opened = db;
        return {
          kind: 'postgres',
          disposable: true,
          description: `pg_dump copy of PostgreSQL at ${where} (database ${name}, dropped afterwards)`,
          db: opened,
          url: copyUrl,
          notes,
          discard: async () => {
            try {
              await opened.destroy();
              await dropDatabase(admin, name);
            } finally {
              await admin.destroy();
            }
          },
        };
      } catch (error) {
        await db?.destroy().catch(() => undefined);
        await dropping;
        if (created) await dropDatabase(admin, name).catch(() => undefined);
        await admin.destroy();
        // Whatever failed once the rehearsal was stopped (a killed pg_dump, a terminated ANALYZE) failed because of the stop.
        throw signal !== undefined && isStopped(signal) ? rehearsalStopped(signal) : error;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
  };
}

/** An empty database with the source's encoding and locale (template0: nothing from template1 that the dump would collide with). */
async function createLike(admin: Kysely<any>, name: string): Promise<void> {
  const { rows } = await sql<{ encoding: string; collate: string; ctype: string; provider: string | null; icu: string | null }>`
    select pg_encoding_to_char(d.encoding) as encoding, d.datcollate as collate, d.datctype as ctype,
           to_jsonb(d) ->> 'datlocprovider' as provider, to_jsonb(d) ->> 'daticulocale' as icu
      from pg_database d where d.datname = current_database()`.execute(admin);
  const source = rows[0];
  const icu = source?.provider === 'i' && source.icu !== null ? sql` locale_provider = icu icu_locale = ${sql.lit(source.icu)}` : sql``;
  const locale =
    source === undefined
      ? sql``
      : sql` encoding = ${sql.lit(source.encoding)} lc_collate = ${sql.lit(source.collate)} lc_ctype = ${sql.lit(source.ctype)}${icu}`;
  try {
    await sql`create database ${sql.id(name)} template template0${locale}`.execute(admin);
  } catch (cause) {
    const denied = sqlState(cause) === '42501';
    throw new ChatkeepError(
      'CK_CONFIG',
      `Cannot create the rehearsal database ${name}: ${cause instanceof Error ? cause.message : String(cause)}${denied ? ' (the role needs CREATEDB)' : ''}; or give a copy you made yourself (--rehearse-url)`,
      { field: 'rehearse' },
      { cause },
    );
  }
}

/**
 * Gives the copy the target's own defaults — `ALTER DATABASE <target> SET …`,
 * and `ALTER ROLE <this role> IN DATABASE <target> SET …` — which pg_dump
 * leaves out (it writes them only with --create). The migration runs under
 * them on the target: a `search_path` that unqualified names rely on, a
 * `maintenance_work_mem` that index builds take their time from. The admin
 * session is connected to the target, so it runs under them too, and `SET …
 * FROM CURRENT` copies each value as the server holds it (list values such
 * as search_path keep their quoting). A setting the role may not set (a
 * superuser-only one) is named in a note instead of failing the rehearsal.
 */
async function copySettings(admin: Kysely<any>, name: string): Promise<string[]> {
  const { rows } = await sql<{ setting: string; perRole: boolean }>`
    select split_part(c, '=', 1) as setting, s.setrole <> 0 as "perRole"
      from pg_db_role_setting s, unnest(s.setconfig) c
     where s.setdatabase = (select oid from pg_database where datname = current_database())
       and s.setrole in (0, (select oid from pg_roles where rolname = current_user))
     order by s.setrole, 1`.execute(admin);
  const skipped: string[] = [];
  for (const { setting, perRole } of rows) {
    const target = perRole ? sql`alter role current_user in database ${sql.id(name)}` : sql`alter database ${sql.id(name)}`;
    try {
      await sql`${target} set ${sql.id(...setting.split('.'))} from current`.execute(admin);
    } catch (cause) {
      skipped.push(`${setting} (${cause instanceof Error ? cause.message : String(cause)})`);
    }
  }
  return skipped.length === 0
    ? []
    : [`The target's own setting${skipped.length === 1 ? '' : 's'} ${skipped.join(', ')} could not be given to the copy, which runs with the server's default instead.`];
}

async function dropDatabase(admin: Kysely<any>, name: string): Promise<void> {
  // WITH (FORCE) (PostgreSQL 13+): a session the rehearsal left behind must not keep the copy alive.
  await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin);
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
