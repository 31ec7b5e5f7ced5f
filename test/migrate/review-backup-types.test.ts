import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { backupSchemaName, dropColumnWithBackup } from '../../src/migrate/backups/index.js';
import { Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * dropColumnWithBackup's `down` must bring back a column of any type, not
 * only of types with an equality operator: `json`, `xml` and `point` have
 * none, so a verify step comparing the values with IS DISTINCT FROM fails
 * with "operator does not exist" and the column can never be restored by
 * `down`, although every value is in the backup.
 */
const UNUSED = 'no deployed code uses it since the review host 2.0';

async function rowsText(db: Kysely<any>, table: string): Promise<string[]> {
  const { rows } = await sql<{ t: string }>`select t::text as t from ${sql.table(table)} t order by id`.execute(db);
  return rows.map((r) => r.t);
}

const columns = [
  // json keeps its text as written: whitespace, key order and duplicate keys.
  { type: 'json', values: [`'{"b": 1,   "a": [1, 2], "a": null}'`, `'[]'`, 'null', `'"x"'`] },
  { type: 'xml', values: [`'<note lang="en">hi &amp; bye</note>'`, 'null', `'<a/>'`] },
  { type: 'point', values: [`'(1.5,-2)'`, 'null', `'(0,0)'`] },
] as const;

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: dropColumnWithBackup restores columns of types without equality`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    for (const { type, values } of columns) {
      it(`a ${type} column: down brings every value back exactly, NULLs included, and removes the backup`, async () => {
        const db = scratch.database.db;
        const schema = `rv_${type}`;
        const change = (s: string) =>
          dropColumnWithBackup({ table: `${s}.docs`, column: 'body', key: ['id'], version: 2, definition: { type }, batchSize: 2, unusedBecause: UNUSED });
        const migrations: Migration[] = [
          {
            version: 1,
            name: 'docs',
            up: ({ schema: s }) => [
              `create table ${s}.docs (id int primary key, body ${type})`,
              `insert into ${s}.docs values ${values.map((v, i) => `(${i + 1}, ${v})`).join(', ')}`,
            ],
            down: ({ schema: s }) => [`drop table ${s}.docs`],
          },
          { version: 2, name: 'drop-body', up: ({ schema: s }) => change(s).up, down: ({ schema: s }) => change(s).down },
        ];
        const migrator = new Migrator({ db, schema, migrations });
        expect((await migrator.up({ to: 1 })).error).toBeUndefined();
        const before = await rowsText(db, `${schema}.docs`);
        expect((await migrator.up()).error).toBeUndefined();

        const down = await migrator.down({ to: 1 });
        expect(down.error?.message).toBeUndefined();
        expect(await rowsText(db, `${schema}.docs`)).toEqual(before);
        const { rows } = await sql<{ left: boolean }>`select exists (select 1 from pg_namespace where nspname = ${backupSchemaName(schema, 2)}) as left`.execute(db);
        expect(rows[0]?.left).toBe(false);
      });
    }

    it('a json column: the verify step still stops down when a backed-up row holds another value than its backup', async () => {
      const db = scratch.database.db;
      const schema = 'rv_json_mismatch';
      // A default that fails: down stops at the backfill giving rows added
      // while the column was gone their default, after the restore, so a
      // value can be changed before the verify step runs on the next try.
      const change = (s: string) =>
        dropColumnWithBackup({ table: `${s}.docs`, column: 'body', key: ['id'], version: 2, definition: { type: 'json', default: `${s}.no_default()` }, unusedBecause: UNUSED });
      const migrations: Migration[] = [
        {
          version: 1,
          name: 'docs',
          up: ({ schema: s }) => [
            `create function ${s}.no_default() returns json language plpgsql as $$ begin raise exception 'no default here'; end $$`,
            `create table ${s}.docs (id int primary key, body json)`,
            `insert into ${s}.docs values (1, '{"a": 1}'), (2, '{"a": 2}')`,
          ],
          down: ({ schema: s }) => [`drop table ${s}.docs`, `drop function ${s}.no_default()`],
        },
        { version: 2, name: 'drop-body', up: ({ schema: s }) => change(s).up, down: ({ schema: s }) => change(s).down },
      ];
      const migrator = new Migrator({ db, schema, migrations });
      expect((await migrator.up()).error).toBeUndefined();
      await sql.raw(`insert into ${schema}.docs values (3)`).execute(db);
      expect((await migrator.down({ to: 1 })).error?.message).toContain('no default here');

      await sql.raw(`delete from ${schema}.docs where id = 3`).execute(db);
      await sql.raw(`update ${schema}.docs set body = '{"a":  2}' where id = 2`).execute(db);
      const refused = await migrator.down({ to: 1 });
      expect(refused.error?.message).toContain(`Invariant failed: every value of ${schema}.docs.body is restored from ${backupSchemaName(schema, 2)}.docs__body`);
      expect((await migrator.status()).current).toBe(2);
    });
  });
}
