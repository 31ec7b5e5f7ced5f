import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { indexState } from '../../src/migrate/concurrent-index-runner.js';
import { Migrator, type Migration, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { notesBodyIndex, notesWithRows as notes } from './fixtures/notes-index-migrations.js';

/**
 * `CREATE INDEX CONCURRENTLY` enters the index in the catalogue (invalid)
 * before it waits for the transactions writing to the table. When that wait
 * hits `lock_timeout` (55P03), the statement fails and leaves the invalid
 * index behind; the runner's lock retry then re-runs the statement, and its
 * `IF NOT EXISTS` skips the leftover. The retry must rebuild the index, not
 * count the invalid leftover as done.
 */
const plainIndex: Migration = {
  version: 2,
  name: 'notes-body-index',
  transactional: false,
  lockTimeout: '200ms',
  up: ({ schema: s }) => [`create index concurrently if not exists notes_body_idx on ${s}.notes (body)`],
  down: ({ schema: s }) => [`drop index concurrently if exists ${s}.notes_body_idx`],
};

/** The same build as a concurrentIndex step, under the same short lock_timeout. */
const stepIndex: Migration = { ...notesBodyIndex, lockTimeout: '200ms' };

for (const backend of BACKENDS.filter((b) => b.name === 'postgres')) {
  describe.skipIf(backend.skip)(`${backend.name}: a concurrent index build retried after lock_timeout`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    /**
     * Runs `index` while another session holds an open write transaction on
     * the table, committed as soon as the runner announces its first lock
     * retry: the first build fails in its wait for writers, the retry runs
     * with the way clear.
     */
    async function buildBehindWriter(schema: string, index: Migration) {
      const db = scratch.database.db;
      expect((await new Migrator({ db, schema, migrations: [notes] }).up()).error).toBeUndefined();
      const writer = new pg.Client({ connectionString: scratch.url });
      await writer.connect();
      try {
        await writer.query('begin');
        await writer.query(`insert into ${schema}.notes values (1000, 'written by the app')`);
        let released: Promise<unknown> = Promise.resolve();
        const events: MigrationEvent[] = [];
        const run = new Migrator({
          db,
          schema,
          migrations: [notes, index],
          onEvent: (e) => {
            events.push(e);
            if (e.type === 'lock-retry' && events.filter((x) => x.type === 'lock-retry').length === 1) {
              released = writer.query('commit');
            }
          },
        }).up();
        const result = await run;
        await released;
        return { result, events };
      } finally {
        await writer.end();
      }
    }

    it('transactional: false — the retried CREATE INDEX CONCURRENTLY IF NOT EXISTS leaves a valid index, not the invalid leftover', async () => {
      const schema = 'cic_retry_plain';
      const { result, events } = await buildBehindWriter(schema, plainIndex);
      expect(events.some((e) => e.type === 'lock-retry')).toBe(true);
      expect(events.filter((e) => e.type === 'index-rebuilt').map((e) => e.index)).toEqual(['notes_body_idx']);
      // Either it rebuilt the index, or it failed saying so; never "applied" with an unusable index.
      expect(result.error).toBeUndefined();
      expect(await indexState(scratch.database.db, schema, 'notes_body_idx')).toBe('valid');
    });

    it('concurrentIndex step — the retry drops the invalid leftover and builds it again in the same run', async () => {
      const schema = 'cic_retry_step';
      const { result, events } = await buildBehindWriter(schema, stepIndex);
      expect(events.some((e) => e.type === 'lock-retry')).toBe(true);
      expect(result.error).toBeUndefined();
      expect(await indexState(scratch.database.db, schema, 'notes_body_idx')).toBe('valid');
    });
  });
}



/**
 * The same leftover from a build that failed outright (a unique index over
 * duplicates): a plain `transactional: false` migration that builds it again
 * once the duplicates are gone must not be recorded with the invalid index.
 */
const uniqueBody: Migration = {
  version: 2,
  name: 'notes-body-unique',
  transactional: false,
  up: ({ schema: s }) => [`create unique index concurrently if not exists "Notes_Body_Key" on ${s}."notes" (body)`],
  down: ({ schema: s }) => [`drop index concurrently if exists ${s}."Notes_Body_Key"`],
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a plain concurrent index build over an invalid leftover`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('drops the invalid index and builds it again, instead of IF NOT EXISTS skipping it', async () => {
      const db = scratch.database.db;
      const schema = 'cic_leftover';
      const migrator = new Migrator({ db, schema, migrations: [notes, uniqueBody] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`insert into ${schema}.notes values (1000, 'note 1')`).execute(db);
      // An earlier attempt (by hand, or a run of an earlier version) failed on the duplicate.
      await expect(sql.raw(`create unique index concurrently "Notes_Body_Key" on ${schema}.notes (body)`).execute(db)).rejects.toThrow();
      expect(await indexState(db, schema, 'Notes_Body_Key')).toBe('invalid');
      await sql.raw(`delete from ${schema}.notes where id = 1000`).execute(db);

      const events: MigrationEvent[] = [];
      const { error } = await new Migrator({ db, schema, migrations: [notes, uniqueBody], onEvent: (e) => events.push(e) }).up();
      expect(error).toBeUndefined();
      expect(await indexState(db, schema, 'Notes_Body_Key')).toBe('valid');
      expect(events.filter((e) => e.type === 'index-rebuilt').map((e) => e.index)).toEqual(['Notes_Body_Key']);
    });
  });
}
