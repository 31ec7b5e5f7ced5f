import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { indexState } from '../../src/migrate/concurrent-index-runner.js';
import { backfill, concurrentIndex, Migrator, verify, type Migration, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, processTarget, useScratchDatabase, type BackendName, type ScratchDatabase } from '../support/backends.js';
import { killAfter, runScript } from '../support/child-runner.js';
import { itemsMigrations, seedItems } from './fixtures/phased-migrations.js';
import { migrateUninterrupted } from './fixtures/uninterrupted-items.js';

/**
 * Phased migrations (issue 4): steps that know their locks, journaled phase
 * by phase, so a run that is killed or fails resumes where it stopped.
 */
const runner = fileURLToPath(new URL('./fixtures/run-phased.ts', import.meta.url));

async function itemsState(db: Kysely<any>, schema: string) {
  const { rows } = await sql<{ n: number | string; missing: number | string; wrong: number | string; digest: string }>`
    select count(*) as n, count(*) filter (where slug is null) as missing,
           count(*) filter (where slug <> lower(replace(title, ' ', '-'))) as wrong,
           md5(string_agg(owner || ':' || id || ':' || coalesce(slug, '-'), ',' order by owner, id)) as digest
      from ${sql.table(`${schema}.items`)}`.execute(db);
  const r = rows[0]!;
  return { n: Number(r.n), missing: Number(r.missing), wrong: Number(r.wrong), digest: r.digest };
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: phased migrations`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('add column, backfill, concurrent index, verify: progress reported, plan shows each step, nothing left in flight', async () => {
      const db = scratch.database.db;
      const schema = 'phased_basic';
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({ db, schema, migrations: itemsMigrations(), onEvent: (e) => events.push(e) });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(seedItems(schema, 1000)).execute(db);
      const [plan] = await migrator.plan({ direction: 'up' });
      expect(plan).toMatchObject({ version: 2, phased: true });
      expect(plan!.statements[1]).toContain('-- backfill in batches of 100 by (owner, id)');
      expect(plan!.statements[2]).toBe(`create index concurrently if not exists items_slug_idx on ${schema}.items (owner, slug)`);

      const { error } = await migrator.up();
      expect(error).toBeUndefined();
      expect(events.filter((e) => e.type === 'phase-end').map((e) => e.phase)).toEqual([0, 1, 2, 3]);
      const progress = events.filter((e) => e.type === 'backfill-progress');
      expect(progress).toHaveLength(10);
      expect(progress.map((e) => e.rowsDone)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
      expect(progress.every((e) => e.rowsTotal === 1000 && typeof e.rowsPerSecond === 'number')).toBe(true);
      expect(await itemsState(db, schema)).toMatchObject({ n: 1000, missing: 0, wrong: 0 });
      expect(await indexState(db, schema, 'items_slug_idx')).toBe('valid');
      const status = await migrator.status();
      expect([status.current, status.inFlight]).toEqual([2, []]);
      // And back: down is plain SQL here, and removes what up added.
      expect((await migrator.down({ to: 1 })).error).toBeUndefined();
      expect(await indexState(db, schema, 'items_slug_idx')).toBe('missing');
    });

    it('a failing verification stops the migration unrecorded; the next run skips the finished phases and resumes', async () => {
      const db = scratch.database.db;
      const schema = 'phased_verify';
      for (const statement of [`create schema ${schema}`, `create table ${schema}.blockers (id int)`, `insert into ${schema}.blockers values (1)`]) {
        await sql.raw(statement).execute(db);
      }
      const migrations: Migration[] = [
        ...itemsMigrations(),
        {
          version: 3,
          name: 'gated',
          up: ({ schema: s }) => [
            `create table ${s}.audit (id int)`,
            verify('no blockers left', `select not exists (select 1 from ${s}.blockers)`),
            `insert into ${s}.audit values (1)`,
          ],
          down: ({ schema: s }) => [`drop table ${s}.audit`],
        },
      ];
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({ db, schema, migrations, onEvent: (e) => events.push(e) });
      const failed = await migrator.up();
      expect(failed.error?.code).toBe('CK_MIGRATION_FAILED');
      expect(failed.error?.message).toContain('Invariant failed: no blockers left');
      expect(failed.error?.message).toContain('in phase 2 of 3');
      const status = await migrator.status();
      expect(status.current).toBe(2);
      expect(status.inFlight).toMatchObject([{ version: 3, name: 'gated', direction: 'up', phasesDone: 1 }]);

      await sql.raw(`delete from ${schema}.blockers`).execute(db);
      events.length = 0;
      expect((await migrator.up()).error).toBeUndefined();
      expect(events.filter((e) => e.type === 'phase-skipped').map((e) => e.phase)).toEqual([0]);
      expect((await sql.raw<{ n: number }>(`select count(*)::int as n from ${schema}.audit`).execute(db)).rows[0]?.n).toBe(1);
      expect((await migrator.status()).inFlight).toEqual([]);
    });

    it('rows the application wrote behind a finished backfill fail the verification only until the next run: the resumed run walks the backfill again', async () => {
      const db = scratch.database.db;
      const schema = 'phased_behind';
      const [items] = itemsMigrations();
      const slugs: Migration = {
        version: 2,
        name: 'items-slug',
        up: ({ schema: s }) => [
          `alter table ${s}.items add column slug text`,
          // Stands in for the application: while the batches are at owner-3, it adds an
          // item for owner-0, whose keys the backfill has walked already.
          `create function ${s}.slug_of(owner text, title text) returns text language plpgsql as $$
           begin
             if owner = 'owner-3' and not exists (select 1 from ${s}.items where id = 100000) then
               insert into ${s}.items (owner, id, title) values ('owner-0', 100000, 'Late Item');
             end if;
             return lower(replace(title, ' ', '-'));
           end $$`,
          backfill({ table: `${s}.items`, key: ['owner', 'id'], set: `slug = ${s}.slug_of(owner, title)`, where: 'slug is null', batchSize: 50 }),
          verify('every item has a slug', `select not exists (select 1 from ${s}.items where slug is null)`),
        ],
        down: ({ schema: s }) => [`alter table ${s}.items drop column if exists slug`, `drop function if exists ${s}.slug_of(text, text)`],
      };
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({ db, schema, migrations: [items!, slugs], onEvent: (e) => events.push(e) });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(seedItems(schema, 350)).execute(db);

      const first = await migrator.up();
      expect(first.error?.message).toContain('Invariant failed: every item has a slug');
      expect(await itemsState(db, schema)).toMatchObject({ n: 351, missing: 1 });

      // "Fix the cause and run up again": nothing else writes such rows now.
      events.length = 0;
      const second = await migrator.up();
      expect(second.error).toBeUndefined();
      expect(await itemsState(db, schema)).toMatchObject({ n: 351, missing: 0, wrong: 0 });
      expect(events.filter((e) => e.type === 'phase-skipped').map((e) => e.phase)).toEqual([0]);
      expect(events.filter((e) => e.type === 'backfill-progress').at(-1)).toMatchObject({ rowsDone: 351 });
      expect((await migrator.status()).inFlight).toEqual([]);
    });

    it('an invalid index left by a failed concurrent build is detected, dropped and rebuilt', async () => {
      const db = scratch.database.db;
      const schema = 'phased_index';
      const migrations: Migration[] = [
        { version: 1, name: 'codes', up: ({ schema: s }) => [`create table ${s}.codes (id int primary key, code text)`], down: ({ schema: s }) => [`drop table ${s}.codes`] },
        {
          version: 2,
          name: 'codes-unique',
          up: ({ schema: s }) => [concurrentIndex({ name: 'codes_code_key', table: `${s}.codes`, columns: 'code', unique: true })],
          down: ({ schema: s }) => [`drop index ${s}.codes_code_key`],
        },
      ];
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({ db, schema, migrations, onEvent: (e) => events.push(e) });
      await migrator.up({ to: 1 });
      await sql.raw(`insert into ${schema}.codes values (1, 'a'), (2, 'a'), (3, 'b')`).execute(db);
      const failed = await migrator.up();
      expect(failed.error?.message).toMatch(/23505|duplicate/);
      expect(await indexState(db, schema, 'codes_code_key')).toBe('invalid');

      await sql.raw(`delete from ${schema}.codes where id = 2`).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      expect(events.some((e) => e.type === 'index-rebuilt' && e.index === 'codes_code_key')).toBe(true);
      expect(await indexState(db, schema, 'codes_code_key')).toBe('valid');
    });
  });

  describe.skipIf(backend.skip)(`${backend.name}: kill -9 during a phased migration`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const c of cleanups) await c();
    });

    const target = (name: BackendName) => processTarget(name, cleanups);
    const open = (t: string) => openDatabase(t.startsWith('postgres') ? { url: t } : { dataDir: t });

    const run = (t: string, schema: string, rate: number) => runScript(runner, [t, schema, String(rate)]);

    // Seven PGlite processes start one after another: ~15 s on an idle 2-core machine, 45-55 s on a busy one.
    it('killed at random moments six times, the next run resumes and ends exactly like an uninterrupted one', { timeout: 120_000 }, async () => {
      const t = await target(backend.name);
      const schema = 'phased_kill';
      const rows = 3000;
      let database = await open(t);
      await new Migrator({ db: database.db, schema, migrations: itemsMigrations() }).up({ to: 1 });
      await sql.raw(seedItems(schema, rows)).execute(database.db);
      await database.close();

      let resumedFrom = 0;
      for (let attempt = 0; attempt < 6; attempt++) {
        const victim = run(t, schema, 1500);
        // Wait until the run is really in the middle of something, then kill at a random moment.
        await killAfter(victim, '"type":"phase-start"', { min: 50, jitter: 600 });
        if (attempt > 0) resumedFrom = Math.max(resumedFrom, victim.output().includes('"type":"phase-skipped"') ? 1 : 0);
      }
      const finisher = run(t, schema, 1_000_000);
      expect(await finisher.exited, finisher.output()).toBe(0);

      database = await open(t);
      try {
        const state = await itemsState(database.db, schema);
        expect(state).toMatchObject({ n: rows, missing: 0, wrong: 0 });
        const migrator = new Migrator({ db: database.db, schema, migrations: itemsMigrations() });
        const status = await migrator.status();
        expect([status.current, status.inFlight, status.problems]).toEqual([2, [], []]);
        expect(await indexState(database.db, schema, 'items_slug_idx')).toBe('valid');
        // The same end state as a run that was never interrupted, on a fresh copy.
        const control = 'phased_control';
        await migrateUninterrupted(database.db, control, rows);
        expect((await itemsState(database.db, control)).digest).toBe(state.digest);
      } finally {
        await database.close();
      }
      expect(resumedFrom).toBe(1);
    });
  });
}

describe.skipIf(BACKENDS[1]!.skip)('postgres: lock_timeout and retries', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('postgres', (s) => (scratch = s));

  it('DDL that cannot get its lock gives up after lock_timeout, backs off, and succeeds once the blocker ends', async () => {
    const db = scratch.database.db;
    const schema = 'phased_locks';
    const events: MigrationEvent[] = [];
    const migrations: Migration[] = [
      { version: 1, name: 'notes', up: ({ schema: s }) => [`create table ${s}.notes (id int)`], down: ({ schema: s }) => [`drop table ${s}.notes`] },
      {
        version: 2,
        name: 'notes-body',
        lockTimeout: '100ms',
        up: ({ schema: s }) => [`alter table ${s}.notes add column body text`, verify('ok', 'select true')],
        down: ({ schema: s }) => [`alter table ${s}.notes drop column body`],
      },
    ];
    const holder = new pg.Client({ connectionString: scratch.url });
    // The blocker ends once the DDL has given up on it: a timer could end it before a busy run even got there.
    let released: Promise<unknown> | undefined;
    const onEvent = (e: MigrationEvent) => {
      events.push(e);
      if (e.type === 'lock-retry') released ??= holder.query('commit');
    };
    const migrator = new Migrator({ db, schema, migrations, onEvent });
    await migrator.up({ to: 1 });
    await holder.connect();
    await holder.query('begin');
    await holder.query(`select * from ${schema}.notes`); // ACCESS SHARE until commit: blocks ALTER TABLE
    try {
      const { error } = await migrator.up();
      expect(error).toBeUndefined();
      expect(events.filter((e) => e.type === 'lock-retry').length).toBeGreaterThanOrEqual(1);
    } finally {
      await released;
      await holder.query('rollback').catch(() => undefined);
      await holder.end();
    }
  });
});
