import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { backfill, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * A backfill with several workers and a pause between batches: while one
 * worker pauses, the others' batches must still commit in milliseconds.
 * A batch that waited for another worker's pause inside its transaction
 * would hold its rows' locks for the whole pause, and the application's
 * writes to those rows would stall behind it.
 */
const [, postgres] = BACKENDS;

const migrations: Migration[] = [
  {
    version: 1,
    name: 'items',
    up: ({ schema: s }) => [`create table ${s}.items (id integer primary key, title text not null, hits integer not null default 0)`],
    down: ({ schema: s }) => [`drop table ${s}.items`],
  },
  {
    version: 2,
    name: 'items-slug',
    up: ({ schema: s }) => [
      `alter table ${s}.items add column slug text`,
      backfill({ table: `${s}.items`, key: ['id'], set: 'slug = lower(title)', where: 'slug is null', batchSize: 100, pauseMs: 1200, concurrency: 2 }),
    ],
    down: ({ schema: s }) => [`alter table ${s}.items drop column slug`],
  },
];

describe.skipIf(postgres!.skip)('postgres: a paced backfill with two workers', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('postgres', (s) => (scratch = s));

  it("never keeps a batch's row locks across another worker's pause: an application writer with lock_timeout 300ms never times out", async () => {
    const database = await openDatabase({ url: scratch.url!, poolSize: 4 });
    const app = new pg.Client({ connectionString: scratch.url });
    await app.connect();
    try {
      const db = database.db;
      const s = 'rv_ec_pause';
      const migrator = new Migrator({ db, schema: s, migrations });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(`insert into ${s}.items (id, title) select g, 'Item ' || g from generate_series(1, 600) g`).execute(db);
      await app.query(`set lock_timeout = '300ms'`);
      let running = true;
      const failures: string[] = [];
      let writes = 0;
      const writer = (async () => {
        for (let id = 1; running; id = (id % 600) + 1) {
          try {
            await app.query(`update ${s}.items set hits = hits + 1 where id = $1`, [id]);
            writes++;
          } catch (error) {
            failures.push(`id ${id}: ${(error as Error).message}`);
          }
        }
      })();
      const result = await migrator.up();
      running = false;
      await writer;
      expect(result.error).toBeUndefined();
      expect(writes).toBeGreaterThan(100);
      expect(failures).toEqual([]);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`${s}.items`)} where slug is distinct from lower(title)`.execute(db);
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await app.end();
      await database.close();
    }
  });
});
