import { describe, expect, it } from 'vitest';
import { Migrator, tableChecksum, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * `tableChecksum` hashes each row's text. A table with a column named like
 * the alias the digest query gives the table (`t`) must still be hashed
 * whole: a bare `t` there means the column, not the row.
 */
const base: Migration = {
  version: 1,
  name: 'host',
  up: ({ schema: s }) => [
    `create table ${s}.marks (id int primary key, t text not null, note text not null)`,
    `insert into ${s}.marks select g, 'mark ' || g, 'note ' || g from generate_series(1, 20) g`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.marks`],
};

const touchesNote: Migration = {
  version: 2,
  name: 'touches-note',
  up: ({ schema: s }) => [`update ${s}.marks set note = 'changed' where id = 7`],
  down: () => ['select 1'],
  invariants: ({ schema: s }) => [tableChecksum(`${s}.marks`)],
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: tableChecksum of a table with a column named t`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('a change to another column of a row fails the invariant, and the migration is rolled back', async () => {
      const db = scratch.database.db;
      const migrator = new Migrator({ db, schema: 'rv_ec_sum', migrations: [base, touchesNote] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      const { error, results } = await migrator.up();
      expect(error?.code).toBe('CK_MIGRATION_INVARIANT');
      expect(error?.message).toContain('invariant "checksum of rv_ec_sum.marks unchanged" failed');
      expect(results.at(-1)).toMatchObject({ version: 2, status: 'failed', rollback: 'transaction' });
    });
  });
}
