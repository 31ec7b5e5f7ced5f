import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { Migrator, postgresScratch, rehearse, type Migration } from '../../src/migrate/index.js';
import { BACKENDS } from '../support/backends.js';
import { caught } from '../support/store-fixture.js';
import { migratedPgDatabase, SCHEMA } from './fixtures/rehearsal-databases.js';

/**
 * The lock monitor's sampling interval (docs/rehearse.md, "How lock time is
 * measured") against the budget and the rehearsal's own length: an interval
 * longer than the budget could let a write-blocking lock held past the budget
 * fall between two samples and the step pass as within budget, so it is
 * refused; and stopping the monitor must not wait out the rest of an interval.
 */
const migrations: Migration[] = [
  {
    version: 1,
    name: 'items',
    up: ({ schema: s }) => [`create table ${s}.items (id int primary key)`],
    down: ({ schema: s }) => [`drop table ${s}.items`],
  },
  {
    version: 2,
    name: 'items-held',
    // ACCESS EXCLUSIVE on an existing table for ~600 ms: over a 200 ms budget.
    up: ({ schema: s }) => [`lock table ${s}.items in access exclusive mode`, `select pg_sleep(0.6)`],
    down: () => [`select 1`],
  },
];

const postgres = BACKENDS[1]!;

describe.skipIf(postgres.skip)('postgres: rehearse sampling interval', () => {
  let target: Awaited<ReturnType<typeof migratedPgDatabase>>;
  let scratch: Awaited<ReturnType<typeof migratedPgDatabase>>;
  let scratchDb: Database;

  /** Both databases at version 1, the scratch one freshly so for each test (a rehearsal leaves it migrated). */
  beforeEach(async () => {
    target ??= await migratedPgDatabase(migrations);
    scratch = await migratedPgDatabase(migrations);
    scratchDb = await openDatabase({ url: scratch.url });
  });
  afterEach(async () => {
    await scratchDb?.close();
    await scratch?.drop();
  });
  afterAll(() => target?.drop());

  it('refuses a sampling interval longer than the budget (CK_CONFIG) before touching the copy, instead of passing an unsampled lock as within budget', async () => {
    const started = performance.now();
    const refused = await caught(() =>
      rehearse({
        copy: postgresScratch(scratch.url, { target: target.url }),
        migrator: { schema: SCHEMA, migrations },
        maxLockMs: 200,
        sampleIntervalMs: 5_000,
      }),
    );
    expect(refused).toMatchObject({ code: 'CK_CONFIG', details: { field: 'sampleIntervalMs' } });
    expect(performance.now() - started).toBeLessThan(3_000);
    // Nothing ran on the scratch database.
    expect((await new Migrator({ db: scratchDb.db, schema: SCHEMA, migrations }).status()).current).toBe(1);
  });

  it('stops the monitor as soon as the plan has run, without waiting out the rest of a long interval', async () => {
    const started = performance.now();
    const report = await rehearse({
      copy: postgresScratch(scratch.url, { target: target.url }),
      migrator: { schema: SCHEMA, migrations },
      maxLockMs: 20_000,
      sampleIntervalMs: 20_000,
    });
    const elapsed = performance.now() - started;
    expect(report.error).toBeUndefined();
    expect(report.migrations.map((m) => [m.version, m.status])).toEqual([[2, 'applied']]);
    // The plan takes ~0.6 s; the old monitor slept out its 20 s interval before stopping.
    expect(elapsed).toBeLessThan(8_000);
  }, 40_000);
});
