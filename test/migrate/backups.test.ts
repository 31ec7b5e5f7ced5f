import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { backupSchemaName, cleanupBackups, dropColumnWithBackup, dropTableWithBackup } from '../../src/migrate/backups/index.js';
import { fingerprint, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { configErrorOf } from '../support/config-error.js';
import { waitingLocks } from '../support/pg-locks.js';

/**
 * Backups for destructive steps (issue 4, R-MIG-4): a dropped table or column
 * is kept aside until a later cleanup, so `down` restores data, not just
 * structure — proven by the schema fingerprint and an md5 of every row.
 */
async function rowsDigest(db: Kysely<any>, table: string): Promise<{ n: number; md5: string | null }> {
  const { rows } = await sql<{ n: number; md5: string | null }>`
    select count(*)::int as n, md5(string_agg(t::text, '|' order by t::text)) as md5 from ${sql.table(table)} t`.execute(db);
  return rows[0]!;
}

/** The fingerprint of the schema's own objects; the migrator's bookkeeping (its step journal appears with the first phased run) is left out. */
async function schemaLines(db: Kysely<any>, schema: string): Promise<string[]> {
  return (await fingerprint(db, [schema])).lines.filter((line) => !line.includes(`${schema}.schema_migrations`));
}

async function exists(db: Kysely<any>, name: string): Promise<boolean> {
  // A dotted name is a table, a plain one a schema.
  const { rows } = name.includes('.')
    ? await sql<{ ok: boolean }>`select to_regclass(${name}) is not null as ok`.execute(db)
    : await sql<{ ok: boolean }>`select exists (select 1 from pg_namespace where nspname = ${name}) as ok`.execute(db);
  return rows[0]!.ok;
}

/**
 * Dropping a table or column, even with a backup, breaks code still using
 * it: the builders leave that decision to `unusedBecause`, scoped to the one
 * call (test/migrate/builder-lint.test.ts), and suppress the rest of what
 * they trip themselves, so these migrations run without allowLintErrors.
 */
const UNUSED = 'no deployed code uses it since the test host 2.0';

const legacyTables: Migration = {
  version: 1,
  name: 'legacy',
  up: ({ schema: s }) => [
    `create table ${s}.owners (id int primary key)`,
    `create table ${s}.legacy (
       id int generated always as identity primary key,
       owner_id int not null references ${s}.owners (id) on delete cascade,
       parent_id int references ${s}.legacy (id),
       body text not null check (body <> ''),
       created_at timestamptz not null default now())`,
    `create index legacy_owner_idx on ${s}.legacy (owner_id, created_at)`,
    `create function ${s}.legacy_touch() returns trigger language plpgsql as $$ begin new.body := trim(new.body); return new; end $$`,
    `create trigger legacy_touch before insert or update on ${s}.legacy for each row execute function ${s}.legacy_touch()`,
    `create table ${s}.replies (id serial primary key, legacy_id int not null constraint replies_legacy_fk references ${s}.legacy (id) on delete cascade)`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.replies`, `drop table ${s}.legacy`, `drop function ${s}.legacy_touch()`, `drop table ${s}.owners`],
};

const dropLegacy = (s: string) =>
  dropTableWithBackup({
    table: `${s}.legacy`,
    version: 2,
    referencedBy: [{ table: `${s}.replies`, name: 'replies_legacy_fk', definition: `foreign key (legacy_id) references ${s}.legacy (id) on delete cascade` }],
    unusedBecause: UNUSED,
  });

const notesTable: Migration = {
  version: 1,
  name: 'notes',
  up: ({ schema: s }) => [
    `create table ${s}.notes (
       id int primary key,
       body text,
       score int constraint notes_score_range check (score between 0 and 100),
       mood text not null default 'ok' constraint notes_mood_check check (mood <> ''))`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.notes`],
};

const notesColumns = (s: string) => [
  dropColumnWithBackup({
    table: `${s}.notes`,
    column: 'score',
    key: ['id'],
    version: 2,
    definition: { type: 'integer', checks: [{ name: 'notes_score_range', expression: 'score between 0 and 100' }] },
    batchSize: 700,
    unusedBecause: UNUSED,
  }),
  dropColumnWithBackup({
    table: `${s}.notes`,
    column: 'mood',
    key: ['id'],
    version: 2,
    definition: { type: 'text', default: `'ok'`, notNull: true, checks: [{ name: 'notes_mood_check', expression: `mood <> ''` }] },
    unusedBecause: UNUSED,
  }),
];

/** tags.label: nullable, with a default; one row in four has no label. */
const tagsTable: Migration = {
  version: 1,
  name: 'tags',
  up: ({ schema: s }) => [
    `create table ${s}.tags (id int primary key, label text default 'none')`,
    `insert into ${s}.tags select g, case when g % 4 = 0 then null else 'tag ' || g end from generate_series(1, 300) g`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.tags`],
};

const dropLabel = (s: string) =>
  dropColumnWithBackup({ table: `${s}.tags`, column: 'label', key: ['id'], version: 2, definition: { type: 'text', default: `'none'` }, batchSize: 70, unusedBecause: UNUSED });

const tagMigrations: Migration[] = [
  tagsTable,
  { version: 2, name: 'drop-label', up: ({ schema: s }) => dropLabel(s).up, down: ({ schema: s }) => dropLabel(s).down },
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: backups for destructive steps`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('dropTableWithBackup: down brings back the table with its rows, indexes, trigger, identity and foreign keys in and out', async () => {
      const db = scratch.database.db;
      const schema = 'bk_table';
      const backup = backupSchemaName(schema, 2);
      const migrations: Migration[] = [
        legacyTables,
        { version: 2, name: 'drop-legacy', up: ({ schema: s }) => dropLegacy(s).up, down: ({ schema: s }) => dropLegacy(s).down },
        { version: 3, name: 'drop-legacy-backup', up: ({ schema: s }) => cleanupBackups({ schema: s, version: 2 }).up, down: ({ schema: s }) => cleanupBackups({ schema: s, version: 2 }).down },
      ];
      const migrator = new Migrator({ db, schema, migrations });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`insert into ${schema}.owners select g from generate_series(1, 20) g`).execute(db);
      await sql.raw(`insert into ${schema}.legacy (owner_id, body) select 1 + g % 20, ' note ' || g from generate_series(1, 300) g`).execute(db);
      await sql.raw(`update ${schema}.legacy set parent_id = id - 1 where id % 3 = 0`).execute(db);
      await sql.raw(`insert into ${schema}.replies (legacy_id) select id from ${schema}.legacy where id % 2 = 0`).execute(db);
      const before = await schemaLines(db, schema);
      const legacyRows = await rowsDigest(db, `${schema}.legacy`);
      const replyRows = await rowsDigest(db, `${schema}.replies`);
      expect(legacyRows.n).toBe(300);

      for (let round = 0; round < 2; round++) {
        expect((await migrator.up({ to: 2 })).error).toBeUndefined();
        expect(await exists(db, `${schema}.legacy`)).toBe(false);
        expect(await rowsDigest(db, `${backup}.legacy`)).toEqual(legacyRows);
        expect((await schemaLines(db, schema)).some((l) => l.includes('replies_legacy_fk'))).toBe(false);
        // The application goes on without the table: replies no longer check legacy ids.
        await sql.raw(`insert into ${schema}.replies (legacy_id) values (999999)`).execute(db);
        await sql.raw(`delete from ${schema}.replies where legacy_id = 999999`).execute(db);

        expect((await migrator.down({ to: 1 })).error).toBeUndefined();
        expect(await schemaLines(db, schema)).toEqual(before);
        expect(await rowsDigest(db, `${schema}.legacy`)).toEqual(legacyRows);
        expect(await rowsDigest(db, `${schema}.replies`)).toEqual(replyRows);
        expect(await exists(db, backup)).toBe(false);
      }
      // Identity and trigger still work on the restored table.
      await sql.raw(`insert into ${schema}.legacy (owner_id, body) values (1, '  x  ')`).execute(db);
      const { rows } = await sql.raw<{ id: number; body: string }>(`select id, body from ${schema}.legacy order by id desc limit 1`).execute(db);
      expect(rows[0]).toEqual({ id: 301, body: 'x' });

      // Cleanup: the backup goes, and going back past it is refused.
      expect((await migrator.up()).error).toBeUndefined();
      expect(await exists(db, backup)).toBe(false);
      const refused = await migrator.down({ to: 2 });
      expect(refused.error?.message).toContain(`the backups in ${backup} were deleted by cleanupBackups and cannot be restored`);
      expect((await migrator.status()).current).toBe(3);
    });

    it('dropTableWithBackup refuses, naming them, foreign keys not listed in referencedBy and dependent views; nothing changes', async () => {
      const db = scratch.database.db;
      const schema = 'bk_refuse';
      const bare = (s: string) => dropTableWithBackup({ table: `${s}.legacy`, version: 2, unusedBecause: UNUSED });
      const migrations: Migration[] = [legacyTables, { version: 2, name: 'drop-legacy', up: ({ schema: s }) => bare(s).up, down: ({ schema: s }) => bare(s).down }];
      const migrator = new Migrator({ db, schema, migrations });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      const before = await schemaLines(db, schema);
      const fk = await migrator.up();
      expect(fk.error?.message).toContain('referenced by foreign keys not listed in referencedBy: replies_legacy_fk on bk_refuse.replies');

      await sql.raw(`alter table ${schema}.replies drop constraint replies_legacy_fk`).execute(db);
      await sql.raw(`create view ${schema}.recent as select id, body from ${schema}.legacy`).execute(db);
      const view = await migrator.up();
      expect(view.error?.message).toContain('views depend on bk_refuse.legacy: bk_refuse.recent');
      expect(await exists(db, `${schema}.legacy`)).toBe(true);
      expect((await schemaLines(db, schema)).filter((l) => !before.includes(l)).every((l) => l.includes('recent'))).toBe(true);
    });

    it('dropColumnWithBackup: 5,000 rows with NULLs, a NOT NULL + CHECK column; down restores values, type, default, constraints; up/down twice', async () => {
      const db = scratch.database.db;
      const schema = 'bk_column';
      const backup = backupSchemaName(schema, 2);
      const migrations: Migration[] = [
        notesTable,
        {
          version: 2,
          name: 'drop-score-and-mood',
          up: ({ schema: s }) => notesColumns(s).flatMap((c) => c.up),
          // Re-added columns go to the end of the table: restore them in their original order.
          down: ({ schema: s }) => notesColumns(s).flatMap((c) => c.down),
        },
        { version: 3, name: 'drop-notes-backups', up: ({ schema: s }) => cleanupBackups({ schema: s, version: 2 }).up, down: ({ schema: s }) => cleanupBackups({ schema: s, version: 2 }).down },
      ];
      const migrator = new Migrator({ db, schema, migrations });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`
        insert into ${schema}.notes (id, body, score, mood)
        select g, case when g % 7 = 0 then null else 'note ' || g end,
               case when g % 5 = 0 then null else g % 101 end,
               case when g % 3 = 0 then 'ok' else 'mood-' || (g % 11) end
          from generate_series(1, 5000) g`).execute(db);
      const before = await schemaLines(db, schema);
      const rows = await rowsDigest(db, `${schema}.notes`);
      expect(rows.n).toBe(5000);

      for (let round = 0; round < 2; round++) {
        expect((await migrator.up({ to: 2 })).error).toBeUndefined();
        const dropped = await schemaLines(db, schema);
        expect(dropped.some((l) => l.includes('notes.score') || l.includes('notes.mood'))).toBe(false);
        expect((await rowsDigest(db, `${backup}.notes__score`)).n).toBe(5000);
        // A row written while the columns are gone gets mood's default on the way back.
        await sql.raw(`insert into ${schema}.notes (id, body) values (5001, 'late')`).execute(db);

        expect((await migrator.down({ to: 1 })).error).toBeUndefined();
        expect(await schemaLines(db, schema)).toEqual(before);
        const late = await sql.raw<{ score: number | null; mood: string }>(`select score, mood from ${schema}.notes where id = 5001`).execute(db);
        expect(late.rows[0]).toEqual({ score: null, mood: 'ok' });
        await sql.raw(`delete from ${schema}.notes where id = 5001`).execute(db);
        expect(await rowsDigest(db, `${schema}.notes`)).toEqual(rows);
        expect(await exists(db, backup)).toBe(false);
      }
      // The restored constraints hold.
      await expect(sql.raw(`insert into ${schema}.notes (id, score) values (6000, 101)`).execute(db)).rejects.toThrow(/notes_score_range/);
      await expect(sql.raw(`insert into ${schema}.notes (id, mood) values (6000, null)`).execute(db)).rejects.toThrow(/null/);
      await expect(sql.raw(`insert into ${schema}.notes (id, mood) values (6000, '')`).execute(db)).rejects.toThrow(/notes_mood_check/);

      expect((await migrator.up()).error).toBeUndefined();
      expect(await exists(db, backup)).toBe(false);
      expect((await migrator.status()).current).toBe(3);
    });

    it('dropColumnWithBackup down: a value that was NULL comes back NULL, not the default; only rows added while the column was gone get it', async () => {
      const db = scratch.database.db;
      const schema = 'bk_null_default';
      const migrator = new Migrator({ db, schema, migrations: tagMigrations });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      const rows = await rowsDigest(db, `${schema}.tags`);
      expect((await migrator.up()).error).toBeUndefined();
      await sql.raw(`insert into ${schema}.tags (id) values (301)`).execute(db);

      expect((await migrator.down({ to: 1 })).error).toBeUndefined();
      const { rows: labels } = await sql.raw<{ nulls: number; late: string }>(
        `select count(*) filter (where label is null)::int as nulls, (select label from ${schema}.tags where id = 301) as late from ${schema}.tags`,
      ).execute(db);
      expect(labels[0]).toEqual({ nulls: 75, late: 'none' });
      await sql.raw(`delete from ${schema}.tags where id = 301`).execute(db);
      expect(await rowsDigest(db, `${schema}.tags`)).toEqual(rows);
    });

    // The race the SHARE lock in dropColumnWithBackup's up guards: a write
    // committed after the backup's copy but before the drop would be in
    // neither. PGlite has one session, so no write can run alongside.
    it.skipIf(backend.name === 'pglite' && 'PGlite has a single session: no concurrent writer')(
      'dropColumnWithBackup up: a write in flight when it starts waits, and its value is in the backup (down restores it)',
      () => backupSeesWriteInFlight(scratch, scratch.database.db, 'bk_concurrent_write'),
    );

    // A host's own Kysely may default to REPEATABLE READ: the migration's
    // snapshot was then its first statement's, taken before the SHARE lock
    // the copy waits for, so the write was missing from the backup and the
    // drop lost it for good. Each migration's transaction now runs READ COMMITTED.
    it.skipIf(backend.name === 'pglite' && 'PGlite has a single session: no concurrent writer')(
      'the same on a Migrator whose connection defaults to REPEATABLE READ',
      async () => {
        const pool = new pg.Pool({ connectionString: scratch.url, options: '-c default_transaction_isolation=repeatable\\ read' });
        const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
        try {
          await backupSeesWriteInFlight(scratch, db, 'bk_repeatable_read');
        } finally {
          await db.destroy();
        }
      },
    );
  });
}

/**
 * Migrates `schema` to version 1 of tagMigrations, then runs the column drop
 * while another session holds an uncommitted update of row 7 and commits it
 * once the migration waits: its value must be in the backup, and `down`
 * must bring it back.
 */
async function backupSeesWriteInFlight(scratch: ScratchDatabase, db: Kysely<any>, schema: string): Promise<void> {
  const migrator = new Migrator({ db, schema, migrations: tagMigrations });
  expect((await migrator.up({ to: 1 })).error).toBeUndefined();
  const writer = new pg.Client({ connectionString: scratch.url });
  await writer.connect();
  try {
    await writer.query('begin');
    await writer.query(`update ${schema}.tags set label = 'written meanwhile' where id = 7`);
    const dropping = migrator.up();
    await waitingLocks(writer); // the migration is queued behind the writer's row lock
    await writer.query('commit');
    expect((await dropping).error).toBeUndefined();
  } finally {
    await writer.end();
  }
  const { rows } = await sql.raw<{ v: string }>(`select __ck_v as v from ${backupSchemaName(schema, 2)}.tags__label where __ck_k0 = 7`).execute(db);
  expect(rows[0]?.v).toBe('written meanwhile');
  expect((await migrator.down({ to: 1 })).error).toBeUndefined();
  const restored = await sql.raw<{ label: string }>(`select label from ${schema}.tags where id = 7`).execute(db);
  expect(restored.rows[0]?.label).toBe('written meanwhile');
}

describe('backup builders validate their arguments', () => {
  const field = (fn: () => unknown): unknown => configErrorOf(fn).details['field'];
  const definition = { type: 'text' };

  it('refuses bad identifiers and arguments, naming the field', () => {
    expect(field(() => dropTableWithBackup({ table: 'legacy', version: 2 }))).toBe('table');
    expect(field(() => dropTableWithBackup({ table: 'app.Legacy', version: 2 }))).toBe('table');
    expect(field(() => dropTableWithBackup({ table: 'app.legacy; drop table x', version: 2 }))).toBe('table');
    expect(field(() => dropTableWithBackup({ table: 'a.b.c', version: 2 }))).toBe('table');
    expect(field(() => dropTableWithBackup({ table: 'app.legacy', version: 0 }))).toBe('version');
    expect(field(() => dropTableWithBackup({ table: 'app.legacy', version: 1.5 }))).toBe('version');
    expect(field(() => dropTableWithBackup({ table: 'app.legacy', version: 2, referencedBy: [{ table: 'app.replies', name: 'bad name', definition: 'foreign key (x) references app.legacy' }] }))).toBe('referencedBy[0].name');
    expect(field(() => dropTableWithBackup({ table: 'app.legacy', version: 2, referencedBy: [{ table: 'app.legacy', name: 'self_fk', definition: 'foreign key (x) references app.legacy' }] }))).toBe('referencedBy[0].table');
    expect(field(() => dropTableWithBackup({ table: `${'s'.repeat(60)}.legacy`, version: 2 }))).toBe('schema');
    expect(field(() => dropColumnWithBackup({ table: 'app.notes', column: 'Mood', key: ['id'], version: 2, definition }))).toBe('column');
    expect(field(() => dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: [], version: 2, definition }))).toBe('key');
    expect(field(() => dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: ['id', 'x-y'], version: 2, definition }))).toBe('key[1]');
    expect(field(() => dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: ['mood'], version: 2, definition }))).toBe('key');
    expect(field(() => dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: ['id'], version: 2, definition: { type: ' ' } }))).toBe('definition.type');
    expect(field(() => dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: ['id'], version: 2, definition: { type: 'text', checks: [{ name: 'Bad', expression: 'true' }] } }))).toBe('definition.checks[0].name');
    expect(field(() => cleanupBackups({ schema: 'App', version: 2 }))).toBe('schema');
  });

  it('renders the same SQL from the same arguments (a stable checksum)', () => {
    const a = dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: ['id'], version: 2, definition });
    const b = dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: ['id'], version: 2, definition });
    expect(a).toEqual(b);
    expect(a.up).toContain('create table app__ck_backup_v2.notes__mood as select id as __ck_k0, mood as __ck_v from app.notes');
  });
});
