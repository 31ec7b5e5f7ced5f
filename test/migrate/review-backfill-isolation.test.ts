import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { backfill, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { waitingLocks } from '../support/pg-locks.js';

/**
 * A backfill batch relies on READ COMMITTED: an UPDATE that meets a row
 * another session changed meanwhile re-checks its `where` on the new version
 * (docs/expand-contract.md, "Trigger semantics"). The Migrator takes any
 * Kysely, and a host's pool may default to REPEATABLE READ (`ALTER DATABASE
 * … SET default_transaction_isolation`, or the pool's `options`): there the
 * same UPDATE fails with a serialization error (40001), and a backfill of a
 * busy table fails again on every run.
 */
const postgres = BACKENDS[1]!;

const migrations: Migration[] = [
  {
    version: 1,
    name: 'items',
    up: ({ schema: s }) => [`create table ${s}.items (id int primary key, a int not null, b int)`, `insert into ${s}.items select g, g from generate_series(1, 50) g`],
    down: ({ schema: s }) => [`drop table ${s}.items`],
  },
  {
    version: 2,
    name: 'fill-b',
    up: ({ schema: s }) => [backfill({ table: `${s}.items`, key: ['id'], set: 'b = a * 2', where: 'b is null', batchSize: 100 })],
    down: ({ schema: s }) => [`update ${s}.items set b = null`],
  },
];

describe.skipIf(postgres.skip)('postgres: a backfill on a connection that defaults to REPEATABLE READ', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('postgres', (s) => (scratch = s));

  it('a row written by the application while its batch waits keeps the application\'s value, and the backfill completes', async () => {
    const schema = 'rv_backfill_rr';
    // A host's own pool, as `new Migrator({ db })` accepts it.
    const pool = new pg.Pool({ connectionString: scratch.url, options: '-c default_transaction_isolation=repeatable\\ read' });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    const writer = new pg.Client({ connectionString: scratch.url });
    await writer.connect();
    try {
      const migrator = new Migrator({ db, schema, migrations });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await writer.query('begin');
      await writer.query(`update ${schema}.items set b = 999 where id = 7`);
      const filling = migrator.up();
      await waitingLocks(writer); // the batch is queued behind the writer's row lock
      await writer.query('commit');
      expect((await filling).error?.message).toBeUndefined();
      const { rows } = await sql<{ id: number; b: number }>`select id, b from ${sql.table(`${schema}.items`)} where b is distinct from a * 2 order by id`.execute(db);
      expect(rows).toEqual([{ id: 7, b: 999 }]);
    } finally {
      await writer.end();
      await db.destroy();
    }
  });
});
