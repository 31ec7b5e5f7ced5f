import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { concurrentIndex, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { withPlainRole } from '../support/plain-role.js';

/**
 * A concurrent index build logs every page of the new index whole; where the
 * role may, it compresses that WAL for its own session (wal_compression) and
 * gives the session the server's setting back afterwards. The index's
 * expression calls a function that refuses unless the build sees the
 * expected setting (an expression index is evaluated for every row while it
 * is built; PostgreSQL reverts settings made inside a build, so the function
 * cannot simply record what it saw).
 */
const migrationsWith = (expected: string, tuneSession?: boolean): Migration[] => [
  {
    version: 1,
    name: 'notes',
    up: ({ schema: s }) => [
      `create table ${s}.notes (id integer primary key, body text not null)`,
      // Declared immutable so that an index may use it; it only checks what it sees.
      `create function ${s}.build_setting(i integer, expected text) returns integer language plpgsql immutable as $$
         begin
           if current_setting('wal_compression') <> expected then
             raise exception 'the build saw wal_compression = %', current_setting('wal_compression');
           end if;
           return i;
         end $$`,
    ],
    down: ({ schema: s }) => [`drop table ${s}.notes`, `drop function ${s}.build_setting(integer, text)`],
  },
  {
    version: 2,
    name: 'notes-index',
    up: ({ schema: s }) => [
      concurrentIndex({ name: 'notes_built_idx', table: `${s}.notes`, columns: `${s}.build_setting(id, '${expected}')`, ...(tuneSession !== undefined ? { tuneSession } : {}) }),
    ],
    down: ({ schema: s }) => [`drop index ${s}.notes_built_idx`],
  },
];

/**
 * Builds the index expecting `expected` during the build; returns the
 * migration's error message (undefined when the build saw `expected` and the
 * index is valid) and the setting the pooled sessions have afterwards.
 */
async function build(url: string, schema: string, expected: string, tuneSession?: boolean): Promise<{ error: string | undefined; after: string[] }> {
  const database = await openDatabase({ url, poolSize: 2 });
  try {
    const db: Kysely<any> = database.db;
    const migrator = new Migrator({ db, schema, migrations: migrationsWith(expected, tuneSession) });
    expect((await migrator.up({ to: 1 })).error).toBeUndefined();
    await sql.raw(`insert into ${schema}.notes select g, 'note ' || g from generate_series(1, 50) g`).execute(db);
    const result = await migrator.up();
    if (result.error === undefined) {
      const valid = await sql<{ valid: boolean }>`select indisvalid as valid from pg_index where indexrelid = ${`${schema}.notes_built_idx`}::regclass`.execute(db);
      expect(valid.rows[0]?.valid).toBe(true);
    }
    // Both pooled sessions at once, so each answers for itself.
    const after = await Promise.all([0, 1].map(() => db.connection().execute(async (conn) => {
      const { rows } = await sql<{ s: string }>`select current_setting('wal_compression') as s, pg_sleep(0.05)`.execute(conn);
      return rows[0]!.s;
    })));
    return { error: result.error?.message, after };
  } finally {
    await database.close();
  }
}

const [pglite, postgres] = BACKENDS;

describe.skipIf(postgres!.skip)('postgres: the settings of a concurrent index build', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('postgres', (s) => (scratch = s));

  it('a superuser build compresses the WAL it writes, and the sessions keep the server setting after', async () => {
    expect(await build(scratch.url!, 'index_tuned', 'lz4')).toEqual({ error: undefined, after: ['off', 'off'] });
  });

  it('the check is live: expecting the server setting during a tuned build fails the build', async () => {
    const { error } = await build(scratch.url!, 'index_check', 'off');
    expect(error).toMatch(/the build saw wal_compression = lz4/);
  });

  it("tuneSession: false builds with the server's setting", async () => {
    expect(await build(scratch.url!, 'index_untuned', 'off', false)).toEqual({ error: undefined, after: ['off', 'off'] });
  });

  it('a role that may not set wal_compression still builds the index, uncompressed', async () => {
    await withPlainRole(scratch, 'ck_plain_idx', async (url) => {
      expect(await build(url, 'index_plain', 'off')).toEqual({ error: undefined, after: ['off', 'off'] });
    });
  });
});

describe.skipIf(pglite!.skip)('pglite: the settings of a concurrent index build', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('pglite', (s) => (scratch = s));

  it("PGlite builds with its own setting", async () => {
    const db = scratch.database.db;
    const setting = (await sql<{ s: string }>`select current_setting('wal_compression') as s`.execute(db)).rows[0]!.s;
    const migrator = new Migrator({ db, schema: 'index_pglite', migrations: migrationsWith(setting) });
    expect((await migrator.up({ to: 1 })).error).toBeUndefined();
    await sql.raw(`insert into index_pglite.notes select g, 'note ' || g from generate_series(1, 20) g`).execute(db);
    expect((await migrator.up()).error).toBeUndefined();
    expect((await sql<{ s: string }>`select current_setting('wal_compression') as s`.execute(db)).rows[0]!.s).toBe(setting);
  });
});
