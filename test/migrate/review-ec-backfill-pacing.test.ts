import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ChatkeepError } from '../../src/errors/index.js';
import { expandColumn, type ExpandColumnSpec } from '../../src/migrate/expand-contract/index.js';
import { Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * expandColumn's backfill pacing is part of the spec: a value the backfill
 * cannot run with is refused when the builder is called, with CK_CONFIG
 * naming the field, like every other field — not found out by the backfill
 * after expand's first phase (the column and the trigger) has committed.
 */
const base: ExpandColumnSpec = { table: 'products', from: { column: 'title', type: 'text' }, to: { column: 'name' } };

describe('expandColumn: backfill pacing is validated with the spec', () => {
  it.each([
    ['a fractional batchSize', { batchSize: 2.5 }, 'expandColumn.backfill.batchSize'],
    ['a zero batchSize', { batchSize: 0 }, 'expandColumn.backfill.batchSize'],
    ['a negative rowsPerSecond', { rowsPerSecond: -5 }, 'expandColumn.backfill.rowsPerSecond'],
    ['an infinite rowsPerSecond', { rowsPerSecond: Infinity }, 'expandColumn.backfill.rowsPerSecond'],
    ['a negative pauseMs', { pauseMs: -1 }, 'expandColumn.backfill.pauseMs'],
    ['a pauseMs that is not a number', { pauseMs: '10' }, 'expandColumn.backfill.pauseMs'],
  ] as const)('refuses %s with CK_CONFIG naming the field', (_label, pacing, field) => {
    let thrown: unknown;
    try {
      expandColumn({ ...base, backfill: pacing as NonNullable<ExpandColumnSpec['backfill']> });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ChatkeepError);
    expect((thrown as ChatkeepError).code).toBe('CK_CONFIG');
    expect((thrown as ChatkeepError).details).toMatchObject({ field });
  });
});

const products: Migration = {
  version: 1,
  name: 'products',
  up: ({ schema: s }) => [`create table ${s}.products (id bigint primary key, title text)`],
  down: ({ schema: s }) => [`drop table ${s}.products`],
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a generic backfill with a fractional batchSize`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('is refused before anything runs, or runs to the end: never fails half-way with a SQL error', async () => {
      const db = scratch.database.db;
      const s = 'rv_ec_pacing';
      const change = {
        version: 2,
        name: 'name',
        up: ({ schema }: { schema: string }) => [
          `alter table ${schema}.products add column name text`,
          { kind: 'backfill' as const, table: `${schema}.products`, key: ['id'], set: 'name = title', where: 'name is null and title is not null', batchSize: 2.5 },
        ],
        down: ({ schema }: { schema: string }) => [`alter table ${schema}.products drop column if exists name`],
      } satisfies Migration;
      const migrator = new Migrator({ db, schema: s, migrations: [products, change] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`insert into ${s}.products select g, 't' || g from generate_series(1, 10) g`).execute(db);
      const { error } = await migrator.up();
      const inFlight = (await migrator.status()).inFlight;
      if (error !== undefined) {
        expect(error.code).toBe('CK_CONFIG');
        expect(inFlight).toEqual([]);
      } else {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`${s}.products`)} where name is distinct from title`.execute(db);
        expect(rows).toEqual([{ n: 0 }]);
      }
    });
  });
}
