import { describe, expect, it } from 'vitest';
import { Migrator, verify, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * docs/migrations.md, `verify(name, query)`: "the query's first column must
 * be `true`, or the migration stops there, unrecorded". A count, a 1 or a
 * string is not `true`, however truthy it looks — a check written as
 * `select count(*) …` must not pass by accident.
 */
const withCheck = (query: string): Migration[] => [
  {
    version: 1,
    name: 'notes',
    up: ({ schema: s }) => [
      `create table ${s}.notes (id int primary key)`,
      `insert into ${s}.notes values (1), (2)`,
      verify('the check holds', query),
    ],
    down: ({ schema: s }) => [`drop table ${s}.notes`],
  },
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a verify step`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it.each([
      ['a count', 'select count(*) from verify_{i}.notes'],
      ['the number 1', 'select 1'],
      ["the text 't'", "select 't'::text"],
      ['no row at all', 'select true where false'],
      ['null', 'select null::boolean'],
      ['false', 'select false'],
    ])('stops the migration, unrecorded, when the first column is %s', async (_, query) => {
      const schema = `verify_${Math.random().toString(36).slice(2, 8)}`;
      const migrator = new Migrator({
        db: scratch.database.db,
        schema,
        migrations: withCheck(query.replace('verify_{i}', schema)),
      });
      const { error } = await migrator.up();
      expect([error?.code, error?.message]).toEqual([
        'CK_MIGRATION_FAILED',
        expect.stringContaining('Invariant failed: the check holds'),
      ]);
      expect((await migrator.status()).current).toBe(0);
    });

    it('passes when the first column is true', async () => {
      const migrator = new Migrator({
        db: scratch.database.db,
        schema: 'verify_true',
        migrations: withCheck('select count(*) = 2 from verify_true.notes'),
      });
      expect((await migrator.up()).error).toBeUndefined();
      expect((await migrator.status()).current).toBe(1);
    });
  });
}
