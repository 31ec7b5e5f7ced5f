import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { backupSchemaName, dropColumnWithBackup } from '../../src/migrate/backups/index.js';
import { Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { waitingLocks } from '../support/pg-locks.js';

/**
 * A host's own Kysely may default to REPEATABLE READ. The migration's
 * snapshot was then taken by its first statement, before the SHARE lock
 * the backup copy waits for: a write committed while it waited was missing
 * from the backup, and dropping the column lost it for good. The engine now
 * runs each migration's transaction READ COMMITTED.
 */
const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: dropColumnWithBackup on a Migrator whose connection defaults to REPEATABLE READ', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('postgres', (s) => (scratch = s));
  it('a write committed while up waits for its SHARE lock is in the backup', async () => {
    const schema = 'p_rr';
    const change = (s: string) => dropColumnWithBackup({ table: `${s}.tags`, column: 'label', key: ['id'], version: 2, definition: { type: 'text' }, unusedBecause: 'x' });
    const migrations: Migration[] = [
      { version: 1, name: 't', up: ({ schema: s }) => [`create table ${s}.tags (id int primary key, label text)`, `insert into ${s}.tags select g, 'tag ' || g from generate_series(1, 10) g`], down: ({ schema: s }) => [`drop table ${s}.tags`] },
      { version: 2, name: 'drop', up: ({ schema: s }) => change(s).up, down: ({ schema: s }) => change(s).down },
    ];
    const pool = new pg.Pool({ connectionString: scratch.url, options: '-c default_transaction_isolation=repeatable\\ read' });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    try {
      const m = new Migrator({ db, schema, migrations });
      expect((await m.up({ to: 1 })).error).toBeUndefined();
      const writer = new pg.Client({ connectionString: scratch.url });
      await writer.connect();
      try {
        await writer.query('begin');
        await writer.query(`update ${schema}.tags set label = 'written meanwhile' where id = 7`);
        const dropping = m.up();
        await waitingLocks(writer);
        await writer.query('commit');
        expect((await dropping).error).toBeUndefined();
      } finally {
        await writer.end();
      }
      const { rows } = await sql.raw<{ v: string }>(`select __ck_v as v from ${backupSchemaName(schema, 2)}.tags__label where __ck_k0 = 7`).execute(db);
      expect(rows[0]?.v).toBe('written meanwhile');
    } finally {
      await db.destroy();
    }
  });
});
