import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { backfill, Migrator, rowCountPreserved, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * A phased migration stores its invariants' before-values before its first
 * phase, so a run resumed after a kill compares with the table as it was.
 * But a run that failed before any phase was journaled changed nothing, and
 * the application kept writing until the retry: comparing with the old
 * values then failed a correct migration (and ran its `down`), or, with
 * `allowGrowth`, let new rows hide lost ones. Such values are measured again
 * when the first phase commits its work with its journal entry; a first
 * phase outside a transaction may have committed work without one, so its
 * stored values are kept.
 */
const notes: Migration = {
  version: 1,
  name: 'notes',
  up: ({ schema: s }) => [`create table ${s}.notes (id int primary key, body text not null)`, `insert into ${s}.notes select g, 'note ' || g from generate_series(1, 10) g`],
  down: ({ schema: s }) => [`drop table ${s}.notes`],
};

/** Fails in its first phase until the test creates `audit`. */
function shout(transactional: boolean): Migration {
  return {
    version: 2,
    name: 'shout',
    transactional,
    up: ({ schema: s }) => [`insert into ${s}.audit values (1)`, backfill({ table: `${s}.notes`, key: ['id'], set: 'body = upper(body)', where: 'body <> upper(body)' })],
    down: ({ schema: s }) => [`update ${s}.notes set body = lower(body)`, `delete from ${s}.audit`],
    invariants: ({ schema: s }) => [rowCountPreserved(`${s}.notes`)],
  };
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: before-values of a run that failed before its first phase was done`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    async function failThenGrow(schema: string, migration: Migration) {
      const db = scratch.database.db;
      const migrator = new Migrator({ db, schema, migrations: [notes, migration] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      const failed = await migrator.up();
      expect(failed.error?.details).toMatchObject({ sqlState: '42P01' });
      // The application writes on while the failure is looked into; then the cause is fixed.
      await sql.raw(`insert into ${schema}.notes select g, 'later ' || g from generate_series(11, 15) g`).execute(db);
      await sql.raw(`create table ${schema}.audit (id int)`).execute(db);
      return migrator.up();
    }

    it('a first phase in a transaction: the retry measures again and the migration passes its invariant', async () => {
      const retried = await failThenGrow('retry_tx', shout(true));
      expect(retried.error).toBeUndefined();
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from retry_tx.notes where body = upper(body)`.execute(scratch.database.db);
      expect(rows[0]!.n).toBe(15);
    });

    it('a first phase outside a transaction: the stored values are kept, since its work may have committed unjournaled', async () => {
      const retried = await failThenGrow('retry_outside', shout(false));
      expect(retried.error?.code).toBe('CK_MIGRATION_INVARIANT');
      expect(retried.error?.message).toContain('expected 10 rows (as before up), observed 15 rows');
    });
  });
}
