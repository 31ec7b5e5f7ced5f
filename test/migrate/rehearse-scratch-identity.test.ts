import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { Migrator, postgresScratch, rehearse, type Migration } from '../../src/migrate/index.js';
import { BACKENDS } from '../support/backends.js';
import { migratedPgDatabase, notesMigration, SCHEMA } from './fixtures/rehearsal-databases.js';

/**
 * `postgresScratch` (`--rehearse-url`) must refuse the target itself however
 * the URL reaches it (docs/rehearse.md): a rehearsal migrates the database
 * it runs on, so a scratch URL that is really the target would migrate
 * production while the report says "the target was not changed". Sessions
 * differ in more than host names: a `TimeZone` from the URL's `options`, or
 * one set on the role (ALTER ROLE … SET timezone), changes how timestamps
 * print.
 */
const migrations: Migration[] = [
  notesMigration,
  {
    version: 2,
    name: 'notes-body',
    up: ({ schema: s }) => [`alter table ${s}.notes add column body text`],
    down: ({ schema: s }) => [`alter table ${s}.notes drop column body`],
  },
];

const postgres = BACKENDS[1]!;

describe.skipIf(postgres.skip)('postgres: postgresScratch refuses the target itself', () => {
  let target: Awaited<ReturnType<typeof migratedPgDatabase>>;
  let database: Database;

  beforeAll(async () => {
    target = await migratedPgDatabase(migrations);
    database = await openDatabase({ url: target.url });
  });
  afterAll(async () => {
    await database?.close();
    await target?.drop();
  });

  /** The target's URL, with a session time zone of its own (libpq's and node-postgres's `options`). */
  const inTimeZone = (zone: string): string => {
    const url = new URL(target.url);
    url.searchParams.set('options', `-c TimeZone=${zone}`);
    return url.toString();
  };

  it.each([
    ['its URL', () => target.url],
    ['its open connection', () => database.db],
  ] as const)('when the scratch URL sets another session time zone (target given as %s)', async (_, given) => {
    const attempt = rehearse({
      copy: postgresScratch(inTimeZone('Pacific/Chatham'), { target: given() }),
      migrator: { schema: SCHEMA, migrations },
    }).then(
      (report) => `ran on the target: ${report.migrations.map((m) => `${m.version} ${m.status}`).join(', ')}`,
      (error: unknown) => error,
    );
    expect(await attempt).toMatchObject({ code: 'CK_CONFIG', message: expect.stringContaining('is the target database itself') });
    expect((await new Migrator({ db: database.db, schema: SCHEMA, migrations }).status()).current).toBe(1);
  });
});
