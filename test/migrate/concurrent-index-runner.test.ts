import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { indexState } from '../../src/migrate/concurrent-index-runner.js';
import { Migrator, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { notesBodyIndex as bodyIndex, notesWithRows as notes } from './fixtures/notes-index-migrations.js';

/**
 * A concurrentIndex phase (src/migrate/concurrent-index-runner.ts) counts as
 * done only when an index of its name exists and is valid afterwards. Only an
 * invalid leftover is rebuilt (test/migrate/phased.test.ts); a first build
 * rebuilds nothing, and `IF NOT EXISTS` skipping a name that another kind of
 * relation holds is a failure, not an index.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: building an index concurrently`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('a first build rebuilds nothing: no index-rebuilt event, and the index is valid', async () => {
      const db = scratch.database.db;
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({
        db,
        schema: 'index_first',
        migrations: [notes, bodyIndex],
        onEvent: (e) => events.push(e),
      });
      expect((await migrator.up()).error).toBeUndefined();
      expect(events.filter((e) => e.type === 'index-rebuilt')).toEqual([]);
      expect(await indexState(db, 'index_first', 'notes_body_idx')).toBe('valid');
    });

    it('a name already taken by a table is not taken for the index: the phase fails, unrecorded, and resumes once the name is free', async () => {
      const db = scratch.database.db;
      const schema = 'index_name_taken';
      const migrator = new Migrator({ db, schema, migrations: [notes, bodyIndex] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`create table ${schema}.notes_body_idx (id int)`).execute(db);
      const failed = await migrator.up();
      expect(failed.error?.code).toBe('CK_MIGRATION_FAILED');
      expect(failed.error?.message).toContain(
        `Index ${schema}.notes_body_idx was built but is not valid`,
      );
      const status = await migrator.status();
      expect([status.current, status.inFlight]).toEqual([1, []]);
      expect(await indexState(db, schema, 'notes_body_idx')).toBe('missing');

      await sql.raw(`drop table ${schema}.notes_body_idx`).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      expect(await indexState(db, schema, 'notes_body_idx')).toBe('valid');
    });
  });
}
