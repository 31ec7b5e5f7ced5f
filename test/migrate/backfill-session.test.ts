import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { backfill, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { withPlainRole } from '../support/plain-role.js';

/**
 * A backfill's batches run with settings that keep millions of updated rows
 * from stalling the application's commits (bench/README.md, "Online
 * migration"): `backend_flush_after` so the backfill's evicted pages are
 * written back as they come instead of in one burst at a checkpoint's fsync,
 * and compressed full-page images when the role may set `wal_compression`.
 * The backfill records, in every row it updates, the settings its
 * transaction saw.
 */
const migrationsWith = (tuneSession?: boolean): Migration[] => [
  {
    version: 1,
    name: 'notes',
    up: ({ schema: s }) => [`create table ${s}.notes (id integer primary key, body text not null)`],
    down: ({ schema: s }) => [`drop table ${s}.notes`],
  },
  {
    version: 2,
    name: 'notes-seen',
    up: ({ schema: s }) => [
      `alter table ${s}.notes add column seen text`,
      backfill({
        table: `${s}.notes`,
        key: ['id'],
        set: `seen = current_setting('wal_compression') || ' ' || current_setting('backend_flush_after') || ' ' || current_setting('synchronous_commit')`,
        where: 'seen is null',
        batchSize: 40,
        ...(tuneSession !== undefined ? { tuneSession } : {}),
      }),
    ],
    down: ({ schema: s }) => [`alter table ${s}.notes drop column seen`],
  },
];

async function migrateAndRead(db: Kysely<any>, schema: string, tuneSession?: boolean): Promise<string[]> {
  const migrator = new Migrator({ db, schema, migrations: migrationsWith(tuneSession) });
  expect((await migrator.up({ to: 1 })).error).toBeUndefined();
  await sql.raw(`insert into ${schema}.notes select g, 'note ' || g from generate_series(1, 200) g`).execute(db);
  expect((await migrator.up()).error).toBeUndefined();
  const { rows } = await sql<{ seen: string }>`select distinct seen from ${sql.table(`${schema}.notes`)} order by seen`.execute(db);
  return rows.map((r) => r.seen);
}

async function sessionSettings(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ s: string }>`select current_setting('wal_compression') || ' ' || current_setting('backend_flush_after') || ' ' || current_setting('synchronous_commit') as s`.execute(db);
  return rows[0]!.s;
}

const [pglite, postgres] = BACKENDS;

describe.skipIf(postgres!.skip)('postgres: the settings of a backfill batch', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('postgres', (s) => (scratch = s));

  it('a superuser backfill writes back its pages as it goes and compresses its full-page images; the pooled sessions keep their settings', async () => {
    const db = scratch.database.db;
    const before = await sessionSettings(db);
    expect(before).toBe('off 0 on');
    expect(await migrateAndRead(db, 'backfill_tuned')).toEqual(['lz4 256kB off']);
    expect(await sessionSettings(db)).toBe(before);
  });

  it('tuneSession: false leaves the server\'s settings alone; batches still commit asynchronously', async () => {
    expect(await migrateAndRead(scratch.database.db, 'backfill_untuned', false)).toEqual(['off 0 off']);
  });

  it('a role that may not set wal_compression still backfills, with the server\'s compression', async () => {
    await withPlainRole(scratch, 'ck_plain', async (url) => {
      const database = await openDatabase({ url });
      try {
        expect(await migrateAndRead(database.db, 'backfill_plain')).toEqual(['off 256kB off']);
      } finally {
        await database.close();
      }
    });
  });

  it('a server that already compresses its WAL keeps its own method', async () => {
    const db = scratch.database.db;
    const database = scratch.database;
    // A database-level default stands in for the server's configuration.
    const name = new URL(scratch.url!).pathname.slice(1);
    await sql.raw(`alter database "${name}" set wal_compression = pglz`).execute(db);
    const reopened = await openDatabase({ url: scratch.url! });
    try {
      expect(await migrateAndRead(reopened.db, 'backfill_pglz')).toEqual(['pglz 256kB off']);
    } finally {
      await reopened.close();
      await sql.raw(`alter database "${name}" reset wal_compression`).execute(database.db);
    }
  });
});

describe.skipIf(pglite!.skip)('pglite: the settings of a backfill batch', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('pglite', (s) => (scratch = s));

  it('only synchronous_commit changes: PGlite has no checkpoint burst to smooth', async () => {
    const db = scratch.database.db;
    const [compression, flush] = (await sessionSettings(db)).split(' ');
    expect(await migrateAndRead(db, 'backfill_pglite_settings')).toEqual([`${compression} ${flush} off`]);
  });
});
