import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { redactUrl } from '../../db/index.js';
import { ChatkeepError, sqlState } from '../../errors/index.js';
import { openPostgres } from './open-postgres.js';
import { assertTool, dumpInto } from './pg-tools.js';
import type { RehearsalCopy } from './rehearsal-copy.js';

/** Prefix of the databases this module creates, so a leftover (the process was killed) is easy to find and drop. */
export const REHEARSAL_DATABASE_PREFIX = 'ck_rehearse_';

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
export function postgresDumpCopy(sourceUrl: string): RehearsalCopy {
  const where = redactUrl(sourceUrl);
  return {
    description: `pg_dump copy of PostgreSQL at ${where}`,
    async open({ applicationName, log }) {
      await assertTool('pg_dump');
      await assertTool('psql');
      const name = `${REHEARSAL_DATABASE_PREFIX}${randomBytes(6).toString('hex')}`;
      const copyUrl = withDatabase(sourceUrl, name);
      const admin = await openPostgres(sourceUrl, { applicationName: 'chatkeep-rehearsal-admin' });
      let created = false;
      try {
        await createLike(admin, name);
        created = true;
        await dumpInto(sourceUrl, copyUrl);
        const db = await openPostgres(copyUrl, { applicationName, ...(log !== undefined ? { log } : {}) });
        // A restore leaves no statistics; the planner (a backfill's batch
        // queries, a verify step) should see the target's data as it is.
        await sql`analyze`.execute(db);
        return {
          kind: 'postgres',
          disposable: true,
          description: `pg_dump copy of PostgreSQL at ${where} (database ${name}, dropped afterwards)`,
          db,
          url: copyUrl,
          discard: async () => {
            try {
              await db.destroy();
              await dropDatabase(admin, name);
            } finally {
              await admin.destroy();
            }
          },
        };
      } catch (error) {
        if (created) await dropDatabase(admin, name).catch(() => undefined);
        await admin.destroy();
        throw error;
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

async function dropDatabase(admin: Kysely<any>, name: string): Promise<void> {
  // WITH (FORCE) (PostgreSQL 13+): a session the rehearsal left behind must not keep the copy alive.
  await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin);
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
