import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Migrator, verify, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * A migration's `lockTimeout` and `statementTimeout` hold for its own
 * statements only (src/migrate/run-phased.ts): its transactions set them
 * locally, so the pooled sessions it ran on go back to the application with
 * the server's settings — not with a 300 ms lock_timeout that would make the
 * application's own statements fail.
 */
const phased: Migration = {
  version: 1,
  name: 'notes',
  lockTimeout: '300ms',
  statementTimeout: '45s',
  up: ({ schema: s }) => [
    `create table ${s}.notes (id int primary key)`,
    verify('notes is empty', `select not exists (select 1 from ${s}.notes)`),
  ],
  down: ({ schema: s }) => [`drop table ${s}.notes`],
};

/** Each of the pool's sessions answers for itself: both are held at once. */
async function sessionSettings(db: Kysely<any>, sessions: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: sessions }, () =>
      db.connection().execute(async (conn) => {
        const { rows } = await sql<{
          s: string;
        }>`select current_setting('lock_timeout') || ' ' || current_setting('statement_timeout') as s, pg_sleep(0.05)`.execute(
          conn,
        );
        return rows[0]!.s;
      }),
    ),
  );
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a migration's timeouts stay inside it`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('after a phased up and down, every pooled session has the server’s lock_timeout and statement_timeout', async () => {
      const db = scratch.database.db;
      // PGlite is one session; the PostgreSQL scratch pool has many, two of which are checked at once.
      const sessions = backend.name === 'pglite' ? 1 : 2;
      const server = await sessionSettings(db, sessions);
      const migrator = new Migrator({ db, schema: 'timeouts_phased', migrations: [phased] });
      expect((await migrator.up()).error).toBeUndefined();
      expect(await sessionSettings(db, sessions)).toEqual(server);
      expect((await migrator.down({ to: 0 })).error).toBeUndefined();
      expect(await sessionSettings(db, sessions)).toEqual(server);
    });
  });
}
