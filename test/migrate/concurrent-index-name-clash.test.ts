import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { plainColumns } from '../../src/migrate/concurrent-index-runner.js';
import { concurrentIndex, expandColumn, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * `CREATE INDEX CONCURRENTLY IF NOT EXISTS` skips the build when any index of
 * that name exists in the schema, whatever it indexes. The step then counted
 * as done with the index it promised missing: queries that needed it ran as
 * scans, silently. Names collide more easily than it seems: expandColumn's
 * default `<table>_<column>_idx` is `a_b_c_idx` both for table `a_b`, column
 * `c` and for table `a`, column `b_c`. An index of that name that is not the
 * one the step builds is now an error, before anything is dropped or built.
 */
const tables: Migration = {
  version: 1,
  name: 'tables',
  up: ({ schema: s }) => [
    `create table ${s}.a (id int primary key, b_c int, note text)`,
    `create table ${s}.a_b (id int primary key, c int)`,
    `insert into ${s}.a_b select g, g from generate_series(1, 50) g`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.a`, `drop table ${s}.a_b`],
};

const indexOn = (version: number, options: { table: string; columns: string; unique?: boolean }): Migration => ({
  version,
  name: `index-${version}`,
  up: ({ schema: s }) => [concurrentIndex({ name: 'a_b_c_idx', table: `${s}.${options.table}`, columns: options.columns, ...(options.unique ? { unique: true } : {}) })],
  down: ({ schema: s }) => [`drop index if exists ${s}.a_b_c_idx`],
});

async function indexDefinition(db: ScratchDatabase['database']['db'], schema: string): Promise<string | undefined> {
  const { rows } = await sql<{ def: string }>`
    select pg_get_indexdef(c.oid) as def from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ${schema} and c.relname = 'a_b_c_idx'`.execute(db);
  return rows[0]?.def;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: an index name another index holds`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it.each([
      ['on another table', { table: 'a_b', columns: 'c' }, 'already exists on'],
      ['on other columns of the same table', { table: 'a', columns: 'note' }, '(b_c)'],
      ['not unique where the step builds a unique one', { table: 'a', columns: 'b_c', unique: true }, 'not unique'],
    ] as const)('%s: the migration fails naming both, unrecorded, and the other index is left as it was', async (_what, wanted, says) => {
      const db = scratch.database.db;
      const schema = `clash_${wanted.table}_${wanted.columns}_${'unique' in wanted ? 'u' : 'p'}`;
      const migrator = new Migrator({ db, schema, migrations: [tables, indexOn(2, wanted)] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`create index a_b_c_idx on ${schema}.a (b_c)`).execute(db);
      const before = await indexDefinition(db, schema);

      const failed = await migrator.up();
      expect(failed.error?.code).toBe('CK_MIGRATION_FAILED');
      expect(failed.error?.message).toContain(`An index named ${schema}.a_b_c_idx already exists`);
      expect(failed.error?.message).toContain(says);
      expect(failed.error?.message).toContain('Give the index another name');
      expect((await migrator.status()).current).toBe(1);
      expect(await indexDefinition(db, schema)).toBe(before);
    });

    it('the same index already there (a re-run, or built by hand) is taken as built', async () => {
      const db = scratch.database.db;
      const schema = 'clash_same';
      const migrator = new Migrator({ db, schema, migrations: [tables, indexOn(2, { table: 'a', columns: 'B_C' })] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`create index a_b_c_idx on ${schema}.a (b_c)`).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      expect((await migrator.status()).current).toBe(2);
    });

    it("an invalid leftover of another table's index is not dropped as if it were the step's own", async () => {
      const db = scratch.database.db;
      const schema = 'clash_invalid';
      const migrator = new Migrator({ db, schema, migrations: [tables, indexOn(2, { table: 'a_b', columns: 'c' })] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`create index a_b_c_idx on ${schema}.a (b_c)`).execute(db);
      // What an interrupted build of that other index leaves behind.
      await sql.raw(`update pg_index set indisvalid = false where indexrelid = '${schema}.a_b_c_idx'::regclass`).execute(db);
      const failed = await migrator.up();
      expect(failed.error?.message).toContain('already exists on');
      expect(await indexDefinition(db, schema)).toContain('(b_c)');
    });

    it('a hand-written CREATE INDEX CONCURRENTLY IF NOT EXISTS in a non-transactional migration gets the same check', async () => {
      const db = scratch.database.db;
      const schema = 'clash_plain';
      const plain: Migration = {
        version: 2,
        name: 'plain-index',
        transactional: false,
        up: ({ schema: s }) => [`create unique index concurrently if not exists a_b_c_idx on ${s}.a_b (c)`],
        down: ({ schema: s }) => [`drop index concurrently if exists ${s}.a_b_c_idx`],
      };
      const migrator = new Migrator({ db, schema, migrations: [tables, plain] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`create index a_b_c_idx on ${schema}.a (b_c)`).execute(db);
      const failed = await migrator.up();
      expect(failed.error?.message).toContain(`An index named ${schema}.a_b_c_idx already exists on`);
      expect(failed.error?.message).toContain('this step builds a unique index on');
      expect((await migrator.status()).current).toBe(1);
    });

    it("expandColumn's default index name taken by another table's index: a clear failure instead of a column left unindexed", async () => {
      const db = scratch.database.db;
      const schema = 'clash_expand';
      const change = expandColumn({ table: 'a_b', key: ['id'], from: { column: 'c', type: 'int' }, to: { column: 'c2' }, index: true });
      const migrator = new Migrator({ db, schema, migrations: [tables, change.expand(2, 'expand-c')] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`create index a_b_c2_idx on ${schema}.a (b_c)`).execute(db);
      const failed = await migrator.up();
      expect(failed.error?.code).toBe('CK_MIGRATION_FAILED');
      expect(failed.error?.message).toContain(`An index named ${schema}.a_b_c2_idx already exists on`);
    });
  });
}

describe('plainColumns: the key columns compared, when the list is plain names', () => {
  it('folds unquoted names as PostgreSQL does and keeps quoted ones exactly', () => {
    expect(plainColumns('user_id, Created_At')).toEqual({ columns: ['user_id', 'created_at'] });
    expect(plainColumns('"Mixed Case", "a""b"')).toEqual({ columns: ['Mixed Case', 'a"b'] });
  });

  it('compares nothing for expressions, orderings or operator classes', () => {
    for (const list of ['lower(email)', 'created_at desc', 'body text_pattern_ops', '(a + b)', 'a, lower(b)']) expect(plainColumns(list), list).toEqual({});
  });
});
