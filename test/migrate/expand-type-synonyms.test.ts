import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { canonicalType } from '../../src/migrate/expand-contract/type-names.js';
import { expandColumn, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * A rename with `to.type` spelt differently from `from.type` (`int` and
 * `integer`) was taken for a type change and refused without conversions.
 * Spellings are now compared as PostgreSQL names the type; the database
 * itself is the judge in the test below.
 */
const SAME = [
  ['int', 'integer'],
  ['int4', 'integer'],
  ['int8', 'bigint'],
  ['int2', 'smallint'],
  ['bool', 'boolean'],
  ['float8', 'double precision'],
  ['float4', 'real'],
  ['decimal(10,2)', 'numeric(10, 2)'],
  ['varchar(20)', 'character varying(20)'],
  ['char(3)', 'character(3)'],
  ['timestamptz', 'timestamp with time zone'],
  ['timestamptz(3)', 'timestamp(3) with time zone'],
  ['timestamp', 'timestamp without time zone'],
  ['timetz', 'time with time zone'],
  ['int[]', 'integer[]'],
] as const;

const DIFFERENT = [
  ['varchar(20)', 'varchar(30)'],
  ['timestamp', 'timestamptz'],
  ['integer', 'bigint'],
  ['numeric(10,2)', 'numeric(12,2)'],
  ['int', 'int[]'],
] as const;

describe('canonicalType', () => {
  it.each(SAME)('%s and %s are one type', (a, b) => {
    expect(canonicalType(a)).toBe(canonicalType(b));
  });

  it.each(DIFFERENT)('%s and %s are not', (a, b) => {
    expect(canonicalType(a)).not.toBe(canonicalType(b));
  });

  it('a rename spelt with a synonym needs no conversions; a real change still does', () => {
    expect(() => expandColumn({ table: 'notes', from: { column: 'n', type: 'int' }, to: { column: 'm', type: 'integer' } })).not.toThrow();
    expect(() => expandColumn({ table: 'notes', from: { column: 'n', type: 'int' }, to: { column: 'm', type: 'bigint' } })).toThrow(/convert and convertBack are required/);
  });
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the database agrees`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('format_type names each pair alike exactly when canonicalType does', async () => {
      const db = scratch.database.db;
      const pairs = [...SAME, ...DIFFERENT];
      const columns = pairs.flatMap(([a, b], i) => [`a${i} ${a}`, `b${i} ${b}`]);
      await sql.raw(`create table public.type_names (${columns.join(', ')})`).execute(db);
      const { rows } = await sql<{ attname: string; t: string }>`
        select attname, format_type(atttypid, atttypmod) as t from pg_attribute
         where attrelid = 'public.type_names'::regclass and attnum > 0`.execute(db);
      const typeOf = new Map(rows.map((r) => [r.attname, r.t]));
      pairs.forEach(([a, b], i) => {
        const database = typeOf.get(`a${i}`) === typeOf.get(`b${i}`);
        expect(canonicalType(a) === canonicalType(b), `${a} / ${b}`).toBe(database);
        expect(canonicalType(a), a).toBe(typeOf.get(`a${i}`));
      });
    });

    it('an expand that renames int to integer applies and syncs', async () => {
      const db = scratch.database.db;
      const change = expandColumn({ table: 'counters', from: { column: 'n', type: 'int' }, to: { column: 'hits', type: 'integer' } });
      const table: Migration = {
        version: 1,
        name: 'counters',
        up: ({ schema: s }) => [`create table ${s}.counters (id int primary key, n int)`, `insert into ${s}.counters values (1, 7)`],
        down: ({ schema: s }) => [`drop table ${s}.counters`],
      };
      const migrator = new Migrator({ db, schema: 'synonyms', migrations: [table, change.expand(2, 'rename-n')] });
      expect((await migrator.up()).error).toBeUndefined();
      await sql`update synonyms.counters set n = 8 where id = 1`.execute(db);
      expect((await sql<{ hits: number }>`select hits from synonyms.counters`.execute(db)).rows).toEqual([{ hits: 8 }]);
    });
  });
}
