import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { backfill, Migrator, type Migration, type MigrationEvent } from '../../src/migrate/index.js';
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

/**
 * notes (200 rows) get `seen` in batches of 40. A statement trigger logs
 * each batch's update (the lowest id it changed, or null for an update that
 * found nothing); a row trigger fails the batch that reaches the id in
 * `stop_at`, standing in for a crash mid-backfill.
 */
const pacedMigrations = (rowsPerSecond?: number): Migration[] => [
  {
    version: 1,
    name: 'notes',
    up: ({ schema: s }) => [
      `create table ${s}.notes (id integer primary key, body text not null)`,
      `create table ${s}.batches (n serial primary key, first_id integer)`,
      `create table ${s}.stop_at (id integer)`,
      `create function ${s}.log_batch() returns trigger language plpgsql as $$ begin insert into ${s}.batches (first_id) select min(id) from changed; return null; end $$`,
      `create trigger notes_batches after update on ${s}.notes referencing new table as changed for each statement execute function ${s}.log_batch()`,
      `create function ${s}.stop_at() returns trigger language plpgsql as $$ begin if exists (select 1 from ${s}.stop_at where id = new.id) then raise exception 'stopped at %', new.id; end if; return new; end $$`,
      `create trigger notes_stop before update on ${s}.notes for each row execute function ${s}.stop_at()`,
      `insert into ${s}.notes select g, 'note ' || g from generate_series(1, 200) g`,
    ],
    down: ({ schema: s }) => [`drop table ${s}.notes`, `drop table ${s}.batches`, `drop table ${s}.stop_at`, `drop function ${s}.log_batch()`, `drop function ${s}.stop_at()`],
  },
  {
    version: 2,
    name: 'notes-seen',
    up: ({ schema: s }) => [
      `alter table ${s}.notes add column seen text`,
      backfill({ table: `${s}.notes`, key: ['id'], set: `seen = 'yes'`, where: 'seen is null', batchSize: 40, ...(rowsPerSecond !== undefined ? { rowsPerSecond } : {}) }),
    ],
    down: ({ schema: s }) => [`alter table ${s}.notes drop column seen`],
  },
];

async function batchLog(db: Kysely<any>, schema: string): Promise<(number | null)[]> {
  const { rows } = await sql<{ first_id: number | null }>`select first_id from ${sql.table(`${schema}.batches`)} order by n`.execute(db);
  return rows.map((r) => r.first_id);
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a backfill's pace and its resumption`, () => {
    let db: Kysely<any>;
    useScratchDatabase(backend.name, (s) => (db = s.database.db));

    it('rowsPerSecond holds the backfill to that rate: 200 rows at 200 rows/s take at least a second', async () => {
      const schema = 'backfill_paced';
      const migrator = new Migrator({ db, schema, migrations: pacedMigrations(200) });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      const started = performance.now();
      expect((await migrator.up()).error).toBeUndefined();
      expect(performance.now() - started).toBeGreaterThanOrEqual(950);
      expect(await batchLog(db, schema)).toEqual([1, 41, 81, 121, 161, null]);
    });

    it('a resumed backfill continues from the journalled position: no batch before it is run again, and progress counts on from there', async () => {
      const schema = 'backfill_resumed';
      const migrator = new Migrator({ db, schema, migrations: pacedMigrations() });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`insert into ${schema}.stop_at values (121)`).execute(db);
      const failed = await migrator.up();
      expect(failed.error?.message).toContain('stopped at 121');
      expect(await batchLog(db, schema)).toEqual([1, 41, 81]);

      await sql.raw(`delete from ${schema}.stop_at`).execute(db);
      const events: MigrationEvent[] = [];
      const resumed = await new Migrator({ db, schema, migrations: pacedMigrations(), onEvent: (e) => events.push(e) }).up();
      expect(resumed.error).toBeUndefined();
      expect(await batchLog(db, schema)).toEqual([1, 41, 81, 121, 161, null]);
      expect(events.filter((e) => e.type === 'backfill-progress').map((e) => e.rowsDone)).toEqual([160, 200]);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`${schema}.notes`)} where seen = 'yes'`.execute(db);
      expect(rows[0]?.n).toBe(200);
    });
  });
}
