import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Migrator, nonTransactional, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase } from '../support/backends.js';

const notes: Migration = {
  version: 1,
  name: 'notes',
  up: ({ schema: s }) => [`create table ${s}.notes (id int primary key, body text)`],
  down: ({ schema: s }) => [`drop table ${s}.notes`],
};

/** The same drop, as a phased migration: its failure is reported by the phased runner. */
const notesPhased: Migration = {
  ...notes,
  down: ({ schema: s }) => [nonTransactional(`select 1`), `drop table ${s}.notes`],
};

/**
 * A `down` that cannot drop a table because a host object depends on it
 * (SQLSTATE 2BP01) names the dependent objects: PostgreSQL's DETAIL holds
 * catalogue names only. It once said only "because other objects depend on
 * it", leaving the person running `down` to find out which.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a down blocked by dependent objects`, () => {
    let db: Kysely<any>;
    useScratchDatabase(backend.name, (s) => (db = s.database.db));

    for (const [label, migration] of [
      ['in one transaction', notes],
      ['phased', notesPhased],
    ] as const) {
      it(`names them (${label})`, async () => {
        const schema = `mig_dep_${label === 'phased' ? 'phased' : 'tx'}`;
        const migrator = new Migrator({ db, schema, migrations: [migration] });
        expect((await migrator.up()).error).toBeUndefined();
        await sql.raw(`create view public.${schema}_report as select count(*) from ${schema}.notes`).execute(db);
        try {
          const { error } = await migrator.down({ to: 0 });
          expect(error?.code).toBe('CK_MIGRATION_FAILED');
          expect(error?.details['sqlState']).toBe('2BP01');
          expect(error?.message).toContain(
            `because other objects depend on it (view ${schema}_report depends on table ${schema}.notes; drop or change them first) (SQLSTATE 2BP01)`,
          );
        } finally {
          await sql.raw(`drop view public.${schema}_report`).execute(db);
        }
        expect((await migrator.down({ to: 0 })).error).toBeUndefined();
      });
    }
  });
}
