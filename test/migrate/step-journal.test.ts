import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  backfill,
  Migrator,
  verify,
  type Migration,
  type MigrationEvent,
} from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * The step journal (src/migrate/step-journal.ts) as `status` reports it: a
 * migration in flight counts the phases it finished — a backfill that
 * stopped part-way is not one of them — and the rows its backfills did.
 */
const readings: Migration = {
  version: 1,
  name: 'readings',
  up: ({ schema: s }) => [
    `create table ${s}.readings (id int primary key, raw int not null)`,
    `insert into ${s}.readings select g, g from generate_series(1, 300) g`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.readings`],
};

/** Its backfill divides by zero at id 150: the batches of ids 1–50 and 51–100 commit, the third fails. */
const scaled: Migration = {
  version: 2,
  name: 'readings-scaled',
  up: ({ schema: s }) => [
    `alter table ${s}.readings add column scaled int`,
    backfill({
      table: `${s}.readings`,
      key: ['id'],
      set: `scaled = 1000 / (${s}.gate() - id)`,
      where: 'scaled is null',
      batchSize: 50,
    }),
  ],
  down: ({ schema: s }) => [`alter table ${s}.readings drop column scaled`],
};

/**
 * Not transactional, with a step: its plain SQL runs as phases outside any
 * transaction. The first fails while `<schema>.gate` is empty.
 */
/**
 * Its last statement makes the migrator's own version table refuse rows (as a
 * host's audit trigger or a revoked privilege might): every phase finishes,
 * the recording fails.
 */
const unrecordable: Migration = {
  version: 1,
  name: 'unrecordable',
  up: ({ schema: s }) => [
    `create table ${s}.notes (id int)`,
    verify('notes exists', `select to_regclass('${s}.notes') is not null`),
    `create function ${s}.refuse() returns trigger language plpgsql as $$ begin raise exception 'no new versions today'; end $$`,
    `create trigger refuse before insert on ${s}.schema_migrations for each row execute function ${s}.refuse()`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.notes`, `drop function ${s}.refuse() cascade`],
};

const outsideTransaction: Migration = {
  version: 1,
  name: 'marker',
  transactional: false,
  up: ({ schema: s }) => [
    `create table ${s}.marker as select 1 / (select count(*)::int from ${s}.gate) as x`,
    verify('the marker was made', `select exists (select 1 from ${s}.marker)`),
  ],
  down: ({ schema: s }) => [`drop table if exists ${s}.marker`],
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the journal of a migration in flight`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('a backfill stopped part-way is in flight with the phases before it and the rows it did, and resumes after them', async () => {
      const db = scratch.database.db;
      const schema = 'journal_backfill';
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({
        db,
        schema,
        migrations: [readings, scaled],
        onEvent: (e) => events.push(e),
      });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql
        .raw(`create function ${schema}.gate() returns int language sql as 'select 150'`)
        .execute(db);

      const stopped = await migrator.up();
      expect(stopped.error?.message).toMatch(/division by zero/);
      const { inFlight } = await migrator.status();
      expect(inFlight).toMatchObject([
        { version: 2, direction: 'up', phasesDone: 1, rowsDone: 100 },
      ]);

      await sql
        .raw(
          `create or replace function ${schema}.gate() returns int language sql as 'select 1000'`,
        )
        .execute(db);
      events.length = 0;
      expect((await migrator.up()).error).toBeUndefined();
      expect(events.filter((e) => e.type === 'phase-skipped').map((e) => e.phase)).toEqual([0]);
      // The two committed batches were not run again: they keep what the first run computed.
      const { rows } = await sql<{ first: number; resumed: number }>`
        select count(*) filter (where id <= 100 and scaled = 1000 / (150 - id))::int as first,
               count(*) filter (where id > 100 and scaled = 1000 / (1000 - id))::int as resumed
          from ${sql.table(`${schema}.readings`)}`.execute(db);
      expect(rows[0]).toEqual({ first: 100, resumed: 200 });
      expect((await migrator.status()).inFlight).toEqual([]);
    });

    it('a failure while recording says so, leaves every phase journaled, and the next run only records', async () => {
      const db = scratch.database.db;
      const schema = 'journal_recording';
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({
        db,
        schema,
        migrations: [unrecordable],
        onEvent: (e) => events.push(e),
      });
      const failed = await migrator.up();
      expect(failed.error?.message).toContain(
        'Migration 1 unrecordable (up) failed while recording it: no new versions today',
      );
      expect((await migrator.status()).inFlight).toMatchObject([
        { version: 1, direction: 'up', phasesDone: 3 },
      ]);

      await sql.raw(`drop trigger refuse on ${schema}.schema_migrations`).execute(db);
      events.length = 0;
      expect((await migrator.up()).error).toBeUndefined();
      expect(events.filter((e) => e.type === 'phase-skipped').map((e) => e.phase)).toEqual([
        0, 1, 2,
      ]);
      const status = await migrator.status();
      expect([status.current, status.inFlight]).toEqual([1, []]);
    });

    it('a finished phase edited while its migration is in flight is refused (CK_MIGRATION_CHECKSUM), not skipped and recorded with the new checksum', async () => {
      const db = scratch.database.db;
      const schema = 'journal_edited';
      // The first run adds column a, then its verification fails; the author then
      // "fixes" the migration by editing the finished first phase and the verification.
      let edited = false;
      const columns: Migration = {
        version: 1,
        name: 'columns',
        up: ({ schema: s }) => [
          `create table ${s}.items (id int primary key)`,
          edited ? `alter table ${s}.items add column a int, add column b int` : `alter table ${s}.items add column a int`,
          verify('ready', edited ? 'select true' : 'select false'),
        ],
        down: ({ schema: s }) => [`drop table if exists ${s}.items`],
      };
      const migrator = new Migrator({ db, schema, migrations: [columns] });
      expect((await migrator.up()).error?.message).toMatch(/Invariant failed: ready/);
      expect((await migrator.status()).inFlight).toMatchObject([{ version: 1, phasesDone: 1 }]);

      edited = true;
      const resumed = await migrator.up();
      const { rows } = await sql<{ column_name: string }>`
        select column_name from information_schema.columns
         where table_schema = ${schema} and table_name = 'items' order by column_name`.execute(db);
      // Recorded as applied, its checksum would claim column b exists.
      expect({ error: resumed.error?.code, columns: rows.map((r) => r.column_name) }).toEqual({
        error: 'CK_MIGRATION_CHECKSUM',
        columns: ['a', 'id'],
      });
      expect(resumed.error?.message).toMatch(/Migration 1 columns \(up\) is in flight and its phase 1 of 2, done .*, was edited since/);
      const status = await migrator.status();
      expect([status.current, status.inFlight.length]).toEqual([0, 1]);

      // Undoing the half-done migration (down past it) and running it again is the way out.
      expect((await migrator.down({ to: 0 })).error).toBeUndefined();
      expect((await migrator.up()).error).toBeUndefined();
    });

    it('a phase outside a transaction is journaled once its statements ran, not before: after a failure it runs again', async () => {
      const db = scratch.database.db;
      const schema = 'journal_outside';
      await sql.raw(`create schema ${schema}`).execute(db);
      await sql.raw(`create table ${schema}.gate (id int)`).execute(db);
      const migrator = new Migrator({ db, schema, migrations: [outsideTransaction] });
      expect((await migrator.up()).error?.message).toMatch(/division by zero/);
      expect((await migrator.status()).inFlight).toEqual([]);

      await sql.raw(`insert into ${schema}.gate values (1)`).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      const { rows } = await sql<{
        x: number;
      }>`select x from ${sql.table(`${schema}.marker`)}`.execute(db);
      expect(rows).toEqual([{ x: 1 }]);
    });
  });
}
