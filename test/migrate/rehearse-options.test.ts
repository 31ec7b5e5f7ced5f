import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { SerializedPGliteDialect } from '../../src/db/serialized-pglite-dialect.js';
import {
  Migrator,
  pgliteClone,
  postgresDumpCopy,
  rehearse,
  type Migration,
} from '../../src/migrate/index.js';
import { libpqArgs } from '../../src/migrate/rehearse/pg-tools.js';
import { BACKENDS, PG_DUMP_SKIP } from '../support/backends.js';
import { rehearsalRole } from '../support/rehearsal-role.js';
import { caught } from '../support/store-fixture.js';
import { migratedPgDatabase, notesMigration } from './fixtures/rehearsal-databases.js';

/**
 * What a rehearsal (docs/rehearse.md) checks and says besides the lock
 * times: its numeric options are refused before any copy is made, the
 * migrations the real `up` would refuse for lint errors are named — unless
 * allowLintErrors accepts them, as the real `up` would — and the copy tools
 * never see a password on their command line.
 */
const migrations: Migration[] = [
  notesMigration,
  {
    version: 2,
    name: 'notes-renamed',
    up: ({ schema: s }) => [`alter table ${s}.notes rename to jottings`],
    down: ({ schema: s }) => [`alter table ${s}.jottings rename to notes`],
  },
];

describe('pglite: rehearse options and notes', () => {
  let pglite: PGlite;
  let db: Kysely<any>;
  beforeAll(async () => {
    pglite = await PGlite.create();
    db = new Kysely<any>({ dialect: new SerializedPGliteDialect({ pglite }) });
    expect(
      (await new Migrator({ db, schema: 'app', migrations }).up({ to: 1 })).error,
    ).toBeUndefined();
  });
  afterAll(() => db?.destroy());

  it.each([
    [{ maxLockMs: -1 }, 'maxLockMs'],
    [{ maxLockMs: 1.5 }, 'maxLockMs'],
    [{ sampleIntervalMs: 0 }, 'sampleIntervalMs'],
  ])('refuses %o with CK_CONFIG naming the field', async (options, field) => {
    const attempt = rehearse({
      copy: pgliteClone(pglite),
      migrator: { schema: 'app', migrations },
      ...options,
    });
    await expect(attempt).rejects.toMatchObject({ code: 'CK_CONFIG', details: { field } });
  });

  it('names a migration the real up refuses for its lint errors, and none that allowLintErrors accepts', async () => {
    const refused = await rehearse({
      copy: pgliteClone(pglite),
      migrator: { schema: 'app', migrations },
    });
    expect(refused.error).toBeUndefined();
    expect(refused.notes.filter((n) => n.includes('refuses migration'))).toEqual([
      expect.stringContaining(
        'The real `up` refuses migration 2 notes-renamed for its lint errors (rename-table)',
      ),
    ]);
    for (const allowLintErrors of [true, ['rename-table']] as const) {
      const allowed = await rehearse({
        copy: pgliteClone(pglite),
        migrator: { schema: 'app', migrations, allowLintErrors },
      });
      expect(
        allowed.notes.filter((n) => n.includes('refuses migration')),
        JSON.stringify(allowLintErrors),
      ).toEqual([]);
    }
  });
});

const postgres = BACKENDS[1]!;

describe.skipIf(postgres.skip || PG_DUMP_SKIP)('postgres: a copy that fails part-way', () => {
  it('is reported without the row it was copying (rows are chat messages, STYLE 9), and leaves no copy database behind', async () => {
    // A role of its own, so the databases it created can be told from any other run's.
    const sandbox = await rehearsalRole(`ck_copy_fail_${process.pid}`);
    const asRole = await openDatabase({ url: sandbox.url });
    try {
      const owner = await openDatabase({ url: sandbox.source.url });
      await sql.raw(`grant create on schema public to ${sandbox.role}`).execute(owner.db);
      await owner.close();
      // The check reads another table, which pg_dump restores after this one: the row is refused on the way in.
      for (const statement of [
        `create table public.z_listed (item text)`,
        `create function public.listed(v text) returns boolean language sql stable as $$ select exists (select 1 from public.z_listed where item = v) $$`,
        `create table public.a_messages (content text check (public.listed(content)))`,
        `insert into public.z_listed values ('I could not sleep: a secret diary entry')`,
        `insert into public.a_messages values ('I could not sleep: a secret diary entry')`,
      ]) {
        await sql.raw(statement).execute(asRole.db);
      }
      const failed = await caught(() =>
        rehearse({ copy: postgresDumpCopy(sandbox.url), migrator: { migrations } }),
      );
      expect(failed).toMatchObject({
        code: 'CK_CONFIG',
        message: expect.stringContaining('violates check constraint'),
      });
      expect(failed.message).not.toContain('secret diary');
      expect((await sandbox.leftBehind()).databases).toEqual([]);
    } finally {
      await asRole.close();
      await sandbox.remove();
    }
  });
});

describe('rehearse: the copy tools’ connection settings', () => {
  it('moves the password out of the URL into PGPASSWORD, and names the session', () => {
    const { dbname, env } = libpqArgs(
      'postgres://rehearser:s%40cret@db.example:5433/app?sslmode=require',
    );
    expect(dbname).toBe('postgres://rehearser@db.example:5433/app?sslmode=require');
    expect(env['PGPASSWORD']).toBe('s@cret');
    expect(env['PGAPPNAME']).toBe('chatkeep-rehearsal-copy');
    // The query form libpq and node-postgres accept too; it wins over the user part, as in libpq.
    const query = libpqArgs('postgres://rehearser:old@db.example/app?password=s3cret%21&sslmode=require');
    expect(query.dbname).toBe('postgres://rehearser@db.example/app?sslmode=require');
    expect(query.env['PGPASSWORD']).toBe('s3cret!');
  });
});

describe.skipIf(postgres.skip || PG_DUMP_SKIP)('postgres: a copy that cannot lock the target', () => {
  it('gives up after lockWaitMs with a clear CK_CONFIG, instead of waiting for ever behind a lock held on the target', async () => {
    const source = await migratedPgDatabase(migrations);
    const holder = new pg.Client({ connectionString: source.url });
    await holder.connect();
    try {
      // A migration or DDL in progress on the target: pg_dump's ACCESS SHARE waits for it.
      await holder.query('begin');
      await holder.query('lock table app.notes in access exclusive mode');
      const started = performance.now();
      const outcome = await Promise.race([
        rehearse({ copy: postgresDumpCopy(source.url, { lockWaitMs: 1_000 }), migrator: { schema: 'app', migrations } }).then(
          () => 'completed',
          (error: unknown) => error,
        ),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 15 s'), 15_000)),
      ]);
      expect(outcome, String(outcome)).toMatchObject({ code: 'CK_CONFIG', message: expect.stringContaining('waited 1000 ms for a lock') });
      expect(performance.now() - started).toBeLessThan(15_000);
      await holder.query('rollback');
    } finally {
      await holder.end();
      await source.drop();
    }
  }, 40_000);
});
