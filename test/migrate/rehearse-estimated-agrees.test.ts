import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerializedPGliteDialect } from '../../src/db/serialized-pglite-dialect.js';
import { Migrator, pgliteClone, postgresScratch, rehearse, type Migration, type RehearsalReport } from '../../src/migrate/index.js';
import { BACKENDS } from '../support/backends.js';
import { migratedPgDatabase, SCHEMA } from './fixtures/rehearsal-databases.js';

/**
 * Statements whose write-blocking lock the lint's table-lock reading has no
 * entry for: a plain `DROP INDEX` (ACCESS EXCLUSIVE on the index and its
 * table), `CREATE TRIGGER` (SHARE ROW EXCLUSIVE), `CREATE POLICY` (ACCESS
 * EXCLUSIVE) and `REFRESH MATERIALIZED VIEW` (ACCESS EXCLUSIVE), each held
 * until commit. A rehearsal must report the lock and flag the step over the
 * budget whether the locks are measured (PostgreSQL) or estimated from the
 * statements (PGlite), instead of "no lock that blocks the application" on
 * PGlite.
 */
const migrations: Migration[] = [
  {
    version: 1,
    name: 'items',
    up: ({ schema: s }) => [
      `create table ${s}.items (id int primary key, v text not null)`,
      `insert into ${s}.items select g, md5(g::text) from generate_series(1, 2000) g`,
      `create index items_v_idx on ${s}.items (v)`,
      `create function ${s}.touch() returns trigger language plpgsql as $$ begin return new; end $$`,
      `create materialized view ${s}.items_mv as select id, v from ${s}.items`,
    ],
    down: ({ schema: s }) => [`drop materialized view ${s}.items_mv`, `drop function ${s}.touch()`, `drop table ${s}.items`],
  },
  {
    version: 2,
    name: 'drop-items-v-index',
    // The sleep keeps the transaction, and so the lock, open past the budget.
    up: ({ schema: s }) => [`drop index ${s}.items_v_idx`, `select pg_sleep(0.4)`],
    down: ({ schema: s }) => [`create index items_v_idx on ${s}.items (v)`],
  },
  {
    version: 3,
    name: 'items-trigger',
    up: ({ schema: s }) => [`create trigger items_touch before update on ${s}.items for each row execute function ${s}.touch()`, `select pg_sleep(0.4)`],
    down: ({ schema: s }) => [`drop trigger items_touch on ${s}.items`],
  },
  {
    version: 4,
    name: 'items-policy',
    up: ({ schema: s }) => [`create policy items_all on ${s}.items using (true)`, `select pg_sleep(0.4)`],
    down: ({ schema: s }) => [`drop policy items_all on ${s}.items`],
  },
  {
    version: 5,
    name: 'items-mv-refresh',
    up: ({ schema: s }) => [`refresh materialized view ${s}.items_mv`, `select pg_sleep(0.4)`],
    down: () => [`select 1`],
  },
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: rehearsing statements the lint reads no table lock from`, () => {
    let report: RehearsalReport;
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      if (backend.name === 'pglite') {
        const pglite = await PGlite.create();
        const db = new Kysely<any>({ dialect: new SerializedPGliteDialect({ pglite }) });
        cleanups.push(() => db.destroy());
        expect((await new Migrator({ db, schema: SCHEMA, migrations }).up({ to: 1 })).error).toBeUndefined();
        report = await rehearse({ copy: pgliteClone(pglite), migrator: { schema: SCHEMA, migrations }, maxLockMs: 100 });
      } else {
        const target = await migratedPgDatabase(migrations);
        cleanups.push(target.drop);
        const scratch = await migratedPgDatabase(migrations);
        cleanups.push(scratch.drop);
        report = await rehearse({ copy: postgresScratch(scratch.url, { target: target.url }), migrator: { schema: SCHEMA, migrations }, maxLockMs: 100 });
      }
    });
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it.each([
      [2, 'DROP INDEX', 'items_v_idx', 'ACCESS EXCLUSIVE'],
      [3, 'CREATE TRIGGER', 'items', 'SHARE ROW EXCLUSIVE'],
      [4, 'CREATE POLICY', 'items', 'ACCESS EXCLUSIVE'],
      [5, 'REFRESH MATERIALIZED VIEW', 'items_mv', 'ACCESS EXCLUSIVE'],
    ] as const)('migration %i (%s): reports %s held in %s past the budget, and flags the step', (version, _, relation, mode) => {
      expect(report.error).toBeUndefined();
      const step = report.migrations.find((m) => m.version === version)?.steps[0];
      const lock = step?.locks.find((l) => l.relation === `${SCHEMA}.${relation}` && l.mode === mode);
      expect(lock, JSON.stringify(step)).toMatchObject({ blocksWrites: true, newRelation: false });
      expect(lock!.heldMs).toBeGreaterThan(100);
      expect(step!.flagged).toBe(true);
    });
  });
}
