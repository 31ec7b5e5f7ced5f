import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { expandColumn, type ExpandColumnSpec } from '../../src/migrate/expand-contract/index.js';
import { Migrator, type BackfillStep, type Migration, type VerifyStep } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * Contract's `down` re-creates the old column (NULL in every row) and
 * re-installs the sync trigger before its backfill fills the old column
 * from the new one. New code keeps running meanwhile: its writes to other
 * columns of a row the backfill has not reached yet must not wipe the new
 * column, which at that moment is the only copy of the value.
 */
const products: Migration = {
  version: 1,
  name: 'products',
  up: ({ schema: s }) => [`create table ${s}.products (id bigint primary key, title text not null default '', price_cents integer)`],
  down: ({ schema: s }) => [`drop table ${s}.products`],
};

const spec = {
  table: 'products',
  from: { column: 'price_cents', type: 'integer' },
  to: { column: 'price', type: 'numeric(10,2)' },
  convert: (cents) => `${cents} / 100.0`,
  convertBack: (price) => `round(${price} * 100)`,
  backfill: { batchSize: 10 },
} satisfies ExpandColumnSpec;
const price = expandColumn(spec);
const NO_OLD_CODE = 'the test host reads and writes price only';

async function rows<T>(db: Kysely<any>, query: string): Promise<T[]> {
  return (await sql.raw<T>(query).execute(db)).rows;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: contract's down while new code writes`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('a new-code write of another column before the down backfill reaches the row keeps the new value, and both columns end filled', async () => {
      const db = scratch.database.db;
      const s = 'rv_ec_cdown';
      const migrator = new Migrator({ db, schema: s, migrations: [products, price.expand(2, 'e'), price.contract(3, 'c', { unusedBecause: NO_OLD_CODE })] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`insert into ${s}.products (id, title, price_cents) select i, 't' || i, i * 100 from generate_series(1, 40) as i`).execute(db);
      expect((await migrator.up()).error).toBeUndefined();

      // Contract's down, statement by statement (PGlite is one session: the
      // migrator would hold it for the whole run), with new code writing
      // between every two backfill batches, and once before the first.
      const exec = async (q: string) => void (await sql.raw(q).execute(db));
      const newCode = async (id: number) => {
        await exec(`update ${s}.products set title = 'edited by new code' where id = ${id}`);
        await exec(`update ${s}.products set price = price where id = ${id + 1}`);
      };
      let writes = 0;
      for (const statement of price.statements(s, { unusedBecause: NO_OLD_CODE }).contract.down) {
        if (typeof statement === 'string') await exec(statement);
        else if (statement.kind === 'backfill') {
          const step: BackfillStep = statement;
          for (;;) {
            // the batches walk the key upwards; new code writes rows ahead of them
            await newCode(40 - writes * 2);
            writes++;
            const { rows: done } = await sql.raw<{ id: string }>(
              `update ${step.table} set ${step.set} where id in (select id from ${step.table} where ${step.where} order by id limit ${step.batchSize ?? 100}) returning id`,
            ).execute(db);
            if (done.length === 0) break;
          }
        } else if (statement.kind === 'verify') {
          const v: VerifyStep = statement;
          expect(Object.values((await sql.raw<Record<string, unknown>>(v.query).execute(db)).rows[0]!)[0]).toBe(true);
        }
      }
      expect(writes).toBeGreaterThan(2);
      expect(await rows(db, `select count(*)::int as n from ${s}.products where price is null or price_cents is null`)).toEqual([{ n: 0 }]);
      expect(await rows(db, `select count(*)::int as n from ${s}.products where price_cents <> id * 100 or price <> id`)).toEqual([{ n: 0 }]);
    });

    it('after the down backfill, dual-write still works both ways, NULLs included', async () => {
      const db = scratch.database.db;
      const s = 'rv_ec_cdown2';
      const migrator = new Migrator({ db, schema: s, migrations: [products, price.expand(2, 'e'), price.contract(3, 'c', { unusedBecause: NO_OLD_CODE })] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`insert into ${s}.products (id, title, price_cents) select i, 't' || i, i * 100 from generate_series(1, 30) as i`).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      expect((await migrator.down({ to: 2 })).error).toBeUndefined();
      const exec = async (q: string) => void (await sql.raw(q).execute(db));
      await exec(`update ${s}.products set price_cents = null where id = 1`); // old code clears
      await exec(`update ${s}.products set title = 'x' where id = 1`); // then edits another column
      await exec(`update ${s}.products set price = null where id = 2`); // new code clears
      await exec(`update ${s}.products set title = 'y' where id = 2`);
      await exec(`update ${s}.products set price_cents = 7 where id = 3`);
      await exec(`update ${s}.products set price = 0.5 where id = 4`);
      await exec(`insert into ${s}.products (id, price_cents) values (100, 123)`);
      await exec(`insert into ${s}.products (id, price) values (101, 4.56)`);
      expect(await rows(db, `select id::int, price_cents, price::text from ${s}.products where id in (1, 2, 3, 4, 5, 100, 101) order by id`)).toEqual([
        { id: 1, price_cents: null, price: null },
        { id: 2, price_cents: null, price: null },
        { id: 3, price_cents: 7, price: '0.07' },
        { id: 4, price_cents: 50, price: '0.50' },
        { id: 5, price_cents: 500, price: '5.00' },
        { id: 100, price_cents: 123, price: '1.23' },
        { id: 101, price_cents: 456, price: '4.56' },
      ]);
    });
  });
}
