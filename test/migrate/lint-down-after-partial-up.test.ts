import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { concurrentIndex, lintMigration, Migrator, nonTransactional, verify, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * `down-assumes-whole-up`: a `down` past a migration whose `up` stopped
 * half-way runs that migration's `down` over what the done phases left
 * (in-flight-rules.ts). A DROP without IF EXISTS of something only a later
 * phase creates fails there. The lint warns before anything runs; the last
 * test shows the failure it warns about, on a real database.
 */
const CONTEXT = { schema: 'app', settings: {} } as const;
const rule = 'down-assumes-whole-up';
const warnings = (migration: Migration, direction: 'up' | 'down' = 'up') =>
  lintMigration(migration, CONTEXT, { direction, defaultSchema: 'app' }).findings.filter((f) => f.rule === rule);

/** A phased migration: the column in phase 1, its index in phase 3 (after a verification). */
function sluggedItems(down: readonly string[]): Migration {
  return {
    version: 2,
    name: 'items-slug',
    up: ({ schema: s }) => [
      `alter table ${s}.items add column slug text`,
      verify('no blockers', `select not exists (select 1 from ${s}.blockers)`),
      concurrentIndex({ name: 'items_slug_idx', table: `${s}.items`, columns: 'slug' }),
    ],
    down: () => down,
  };
}

describe('lint: down-assumes-whole-up', () => {
  it('warns for a DROP INDEX of an index a later phase builds, not for the column the first phase adds', () => {
    const found = warnings(sluggedItems(['drop index app.items_slug_idx', 'alter table app.items drop column slug']));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ severity: 'warning', statementIndex: -1 });
    expect(found[0]!.message).toBe(
      'down statement 1 drops index items_slug_idx without IF EXISTS, but up creates it only in phase 3 of 3: a down past a run of up stopped before that phase fails here and leaves the migration in flight',
    );
    expect(found[0]!.fix).toContain('DROP INDEX IF EXISTS');
    // The lint of the down direction (migrate plan --down, migrate down) says the same.
    expect(warnings(sluggedItems(['drop index app.items_slug_idx', 'alter table app.items drop column slug']), 'down')).toHaveLength(1);
  });

  it('is quiet once the drop says IF EXISTS', () => {
    expect(warnings(sluggedItems(['drop index if exists app.items_slug_idx', 'alter table app.items drop column slug']))).toEqual([]);
  });

  it('non-transactional plain SQL: every statement after the first is a later phase', () => {
    const twoIndexes: Migration = {
      version: 3,
      name: 'two-indexes',
      transactional: false,
      up: () => ['create index concurrently if not exists a_idx on app.t (a)', 'create index concurrently if not exists b_idx on app.t (b)'],
      down: () => ['drop index concurrently b_idx', 'drop index concurrently a_idx'],
    };
    expect(warnings(twoIndexes).map((f) => f.message.slice(0, 48))).toEqual(['down statement 1 drops index b_idx without IF EX']);
  });

  it('tables and columns a later phase creates, in a nonTransactional step; the first phase’s table is safe to drop', () => {
    const migration: Migration = {
      version: 4,
      name: 'tables',
      up: () => ['create table app.a (id int)', nonTransactional('create table app.b (id int)', 'alter table app.a add column x int')],
      down: () => ['drop table app.b', 'alter table app.a drop column x', 'alter table app.a drop column if exists x', 'drop table app.a'],
    };
    expect(warnings(migration).map((f) => f.message.split(' without')[0])).toEqual([
      'down statement 1 drops table app.b',
      'down statement 2 drops column app.a.x',
    ]);
  });

  it('a migration that commits once is never in flight: no warning', () => {
    const plain: Migration = {
      version: 5,
      name: 'plain',
      up: () => ['create table app.a (id int)', 'create index a_idx on app.a (id)'],
      down: () => ['drop index app.a_idx', 'drop table app.a'],
    };
    expect(warnings(plain)).toEqual([]);
  });

  it('a -- lint-ignore: with a reason moves it to suppressed', () => {
    const report = lintMigration(
      sluggedItems(['-- lint-ignore: down-assumes-whole-up this index also exists before the migration\ndrop index app.items_slug_idx']),
      CONTEXT,
      { defaultSchema: 'app' },
    );
    expect(report.findings.filter((f) => f.rule === rule)).toEqual([]);
    expect(report.suppressed).toMatchObject([{ rule, reason: 'this index also exists before the migration' }]);
  });
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: what the warning is about`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('a down past an up stopped before its index phase fails on DROP INDEX and succeeds with IF EXISTS', async () => {
      const db = scratch.database.db;
      const schema = 'partial_up_down';
      const items: Migration = {
        version: 1,
        name: 'items',
        up: ({ schema: s }) => [`create table ${s}.items (id int primary key)`, `create table ${s}.blockers (id int)`, `insert into ${s}.blockers values (1)`],
        down: ({ schema: s }) => [`drop table ${s}.blockers`, `drop table ${s}.items`],
      };
      const fragile = sluggedItems([`drop index ${schema}.items_slug_idx`, `alter table ${schema}.items drop column slug`]);
      const stopped = await new Migrator({ db, schema, migrations: [items, fragile] }).up();
      expect(stopped.error?.message).toContain('Invariant failed: no blockers');
      const wedged = await new Migrator({ db, schema, migrations: [items, fragile] }).down({ to: 1 });
      expect(wedged.error?.message).toMatch(/items_slug_idx.*does not exist/);
      expect((await new Migrator({ db, schema, migrations: [items, fragile] }).status()).inFlight).toMatchObject([{ version: 2, direction: 'up' }]);

      const tolerant = sluggedItems([`drop index if exists ${schema}.items_slug_idx`, `alter table ${schema}.items drop column slug`]);
      const undone = await new Migrator({ db, schema, migrations: [items, tolerant] }).down({ to: 1 });
      expect(undone.error).toBeUndefined();
      const { rows } = await sql<{ n: number | string }>`
        select count(*) as n from information_schema.columns where table_schema = ${schema} and table_name = 'items' and column_name = 'slug'`.execute(db);
      expect(Number(rows[0]!.n)).toBe(0);
    });
  });
}
