import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { postgresScratch, rehearse, type Migration } from '../../src/migrate/index.js';
import { BACKENDS } from '../support/backends.js';
import { migratedPgDatabase, SCHEMA } from './fixtures/rehearsal-databases.js';

/**
 * A scratch database (`--rehearse-url`) at the target's version but with a
 * fraction of its data (an empty `createdb` migrated to the same version, a
 * trimmed snapshot) rehearses in no time: every step passes the budget and
 * the command exits 0, while on the target the same index build holds SHARE
 * for seconds. The report must say that the copy's data is not the target's.
 */
const migrations: Migration[] = [
  {
    version: 1,
    name: 'items',
    up: ({ schema: s }) => [`create table ${s}.items (id int primary key, v text not null)`],
    down: ({ schema: s }) => [`drop table ${s}.items`],
  },
  {
    version: 2,
    name: 'items-v-index',
    up: ({ schema: s }) => [`create index items_v_idx on ${s}.items (v)`],
    down: ({ schema: s }) => [`drop index ${s}.items_v_idx`],
  },
];

const postgres = BACKENDS[1]!;

describe.skipIf(postgres.skip)('postgres: a scratch database whose data is not the target\'s', () => {
  const databases: { url: string; drop: () => Promise<void>; database: Database }[] = [];
  const open = async (rows: number) => {
    const created = await migratedPgDatabase(migrations);
    const database = await openDatabase({ url: created.url });
    databases.push({ ...created, database });
    await sql.raw(`insert into ${SCHEMA}.items select g, md5(g::text) from generate_series(1, ${rows}) g`).execute(database.db);
    return created.url;
  };
  let target: string;

  beforeAll(async () => {
    target = await open(100_000);
  });
  afterAll(async () => {
    for (const d of databases) {
      await d.database.close();
      await d.drop();
    }
  });

  it('is named in the notes, with both sizes, when it holds far less than the target', async () => {
    const report = await rehearse({ copy: postgresScratch(await open(0), { target }), migrator: { schema: SCHEMA, migrations } });
    expect(report.error).toBeUndefined();
    expect(report.notes.filter((n) => n.includes('the target holds'))).toEqual([
      expect.stringMatching(/^The scratch database holds .+ of tables and indexes, the target holds .+: durations and lock times grow with the data/),
    ]);
  });

  it('is not, when it holds about as much', async () => {
    const report = await rehearse({ copy: postgresScratch(await open(100_000), { target }), migrator: { schema: SCHEMA, migrations } });
    expect(report.error).toBeUndefined();
    expect(report.notes.filter((n) => n.includes('the target holds'))).toEqual([]);
  });
});
