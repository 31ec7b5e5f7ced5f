import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { fingerprint, Migrator, verify, type Migration, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * A phased migration stopped part-way is "in flight". Resuming it in its own
 * direction is covered by phased.test.ts; these tests are about a run in the
 * OTHER direction, which must neither step over the half-done work (reverting
 * the versions beneath an in-flight up, building on a half-reverted
 * migration) nor wedge the database.
 */
const base: Migration = {
  version: 1,
  name: 'base',
  up: ({ schema: s }) => [`create table ${s}.base (id int primary key)`, `insert into ${s}.base values (1), (2)`],
  down: ({ schema: s }) => [`drop table ${s}.base`],
};

/** Its up stops at a gate while `<schema>.blockers` has rows; child depends on base, so base cannot go first. */
const gatedUp: Migration = {
  version: 2,
  name: 'child',
  up: ({ schema: s }) => [
    `create table ${s}.child (id int primary key, base_id int not null references ${s}.base (id))`,
    verify('no blockers left', `select not exists (select 1 from ${s}.blockers)`),
    `insert into ${s}.child values (10, 1)`,
  ],
  down: ({ schema: s }) => [`drop table if exists ${s}.child`],
};

/** Its down stops at a gate while `<schema>.blockers` has rows, after dropping the index. */
const gatedDown: Migration = {
  version: 2,
  name: 'child',
  up: ({ schema: s }) => [
    `create table ${s}.child (id int primary key, base_id int not null references ${s}.base (id))`,
    `create index child_base_idx on ${s}.child (base_id)`,
  ],
  down: ({ schema: s }) => [
    `drop index ${s}.child_base_idx`,
    verify('no blockers left', `select not exists (select 1 from ${s}.blockers)`),
    `drop table ${s}.child`,
  ],
};

async function count(db: Kysely<any>, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(db);
  return rows[0]!.n;
}

async function tableExists(db: Kysely<any>, name: string): Promise<boolean> {
  const { rows } = await sql<{ t: string | null }>`select to_regclass(${name})::text as t`.execute(db);
  return rows[0]!.t !== null;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a run in the other direction of a migration in flight`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    async function setUp(schema: string, blocked: boolean): Promise<void> {
      const db = scratch.database.db;
      await sql.raw(`create schema ${schema}`).execute(db);
      await sql.raw(`create table ${schema}.blockers (id int)`).execute(db);
      if (blocked) await sql.raw(`insert into ${schema}.blockers values (1)`).execute(db);
    }

    it('down past an up in flight undoes it with its down first, then reverts what is beneath; up then starts it afresh', async () => {
      const db = scratch.database.db;
      const schema = 'inflight_up_down';
      await setUp(schema, true);
      const before = await fingerprint(db, [schema]);
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({ db, schema, migrations: [base, gatedUp], onEvent: (e) => events.push(e) });

      const stopped = await migrator.up();
      expect(stopped.error?.message).toContain('no blockers left');
      expect((await migrator.status()).inFlight).toMatchObject([{ version: 2, direction: 'up', phasesDone: 1 }]);
      expect(await tableExists(db, `${schema}.child`)).toBe(true);

      // The plan says what down will do about it, and changes nothing.
      const plan = await migrator.plan({ direction: 'down', to: 0 });
      expect(plan.map((p) => [p.version, p.direction, p.inFlightUp ?? false])).toEqual([[2, 'down', true], [1, 'down', false]]);
      // The lint reviews what down will run, the in-flight migration's down included.
      expect((await migrator.lint({ direction: 'down', to: 0 })).map((l) => l.version)).toEqual([2, 1]);
      expect((await migrator.status()).inFlight).toHaveLength(1);

      events.length = 0;
      const down = await migrator.down({ to: 0 });
      expect(down.error).toBeUndefined();
      expect(down.results.map((r) => [r.version, r.status, r.inFlightUp ?? false])).toEqual([[2, 'reverted', true], [1, 'reverted', false]]);
      expect(events.filter((e) => e.type === 'migration-end').map((e) => [e.version, e.direction])).toEqual([[2, 'down'], [1, 'down']]);
      const status = await migrator.status();
      expect([status.current, status.inFlight]).toEqual([0, []]);
      // Everything the migrations made is gone (the migrator's own bookkeeping stays); what was there before is as it was.
      const ours = (lines: readonly string[]) => lines.filter((l) => !l.includes('schema_migrations'));
      expect(ours((await fingerprint(db, [schema])).lines)).toEqual(ours(before.lines));

      // Up again: the gate holds, so version 2 starts from its first phase, not where it once stopped.
      await sql.raw(`delete from ${schema}.blockers`).execute(db);
      events.length = 0;
      expect((await migrator.up()).error).toBeUndefined();
      expect(events.filter((e) => e.type === 'phase-skipped')).toEqual([]);
      expect(await count(db, `${schema}.child`)).toBe(1);
      expect((await migrator.status()).current).toBe(2);
    });

    it('down to the version beneath an up in flight undoes only that one', async () => {
      const db = scratch.database.db;
      const schema = 'inflight_up_down_one';
      await setUp(schema, true);
      const migrator = new Migrator({ db, schema, migrations: [base, gatedUp] });
      expect((await migrator.up()).error).toBeDefined();
      const down = await migrator.down({ to: 1 });
      expect(down.error).toBeUndefined();
      expect(down.results.map((r) => [r.version, r.status, r.inFlightUp ?? false])).toEqual([[2, 'reverted', true]]);
      expect(await tableExists(db, `${schema}.child`)).toBe(false);
      expect(await count(db, `${schema}.base`)).toBe(2);
      const status = await migrator.status();
      expect([status.current, status.inFlight]).toEqual([1, []]);
      // down to the in-flight version itself keeps it: resuming it is up's job.
      expect((await migrator.up()).error).toBeDefined();
      expect((await migrator.down({ to: 2 })).results).toEqual([]);
      expect((await migrator.status()).inFlight).toMatchObject([{ version: 2, direction: 'up' }]);
    });

    /** Both migrations applied, then a down to 1 that stops at its gate after dropping the index. */
    async function halfReverted(schema: string, events?: MigrationEvent[]): Promise<Migrator> {
      const db = scratch.database.db;
      await setUp(schema, false);
      const migrator = new Migrator({ db, schema, migrations: [base, gatedDown], ...(events ? { onEvent: (e: MigrationEvent) => events.push(e) } : {}) });
      expect((await migrator.up()).error).toBeUndefined();
      await sql.raw(`insert into ${schema}.blockers values (1)`).execute(db);
      const stopped = await migrator.down({ to: 1 });
      expect(stopped.error?.message).toContain('no blockers left');
      return migrator;
    }

    it('a down in flight is not stepped over: up refuses, names the migration and how to finish, and writes nothing', async () => {
      const db = scratch.database.db;
      const schema = 'inflight_down_up';
      const events: MigrationEvent[] = [];
      const migrator = await halfReverted(schema, events);
      let status = await migrator.status();
      expect(status.current).toBe(2);
      expect(status.inFlight).toMatchObject([{ version: 2, direction: 'down', phasesDone: 1 }]);
      const halfway = await fingerprint(db, [schema]);
      expect(halfway.lines.some((l) => l.includes('child_base_idx'))).toBe(false);

      const refused = await migrator.up();
      expect(refused.error?.code).toBe('CK_MIGRATION_HISTORY');
      expect(refused.error?.message).toContain('Migration 2 child is half-reverted');
      expect(refused.error?.message).toContain('migrate down --to 1');
      expect(refused.error?.details).toMatchObject({ version: 2, problem: 'half-reverted', phasesDone: 1 });
      expect(refused.results).toEqual([]);
      await expect(migrator.plan({ direction: 'up' })).rejects.toMatchObject({ code: 'CK_MIGRATION_HISTORY' });
      // Up to the half-reverted version itself would take it for applied: refused too.
      const toIt = await migrator.up({ to: 2 });
      expect([toIt.error?.code, toIt.results]).toEqual(['CK_MIGRATION_HISTORY', []]);
      expect((await fingerprint(db, [schema])).lines).toEqual(halfway.lines);
      status = await migrator.status();
      expect(status.inFlight).toMatchObject([{ version: 2, direction: 'down', phasesDone: 1 }]);

      // Finishing the down resumes it after its finished phase; then up builds version 2 afresh.
      await sql.raw(`delete from ${schema}.blockers`).execute(db);
      events.length = 0;
      expect((await migrator.down({ to: 1 })).error).toBeUndefined();
      expect(events.filter((e) => e.type === 'phase-skipped').map((e) => [e.direction, e.phase])).toEqual([['down', 0]]);
      expect(await tableExists(db, `${schema}.child`)).toBe(false);
      expect((await migrator.up()).error).toBeUndefined();
      status = await migrator.status();
      expect([status.current, status.inFlight]).toEqual([2, []]);
      expect((await fingerprint(db, [schema])).lines.some((l) => l.includes('child_base_idx'))).toBe(true);
    });

    it('up to a version below a half-reverted migration is not refused: it does not build on it', async () => {
      const db = scratch.database.db;
      const schema = 'inflight_down_up_below';
      const migrator = await halfReverted(schema);
      const before = await fingerprint(db, [schema]);
      const up = await migrator.up({ to: 1 });
      expect(up.error).toBeUndefined();
      expect(up.results).toEqual([]);
      // Nothing was done to the half-reverted one either: it is still in flight, as it was.
      expect((await fingerprint(db, [schema])).lines).toEqual(before.lines);
      expect((await migrator.status()).inFlight).toMatchObject([{ version: 2, direction: 'down' }]);
    });

    it('an up in flight whose migration left the list: down refuses to step over it and names it', async () => {
      const db = scratch.database.db;
      const schema = 'inflight_missing';
      await setUp(schema, true);
      expect((await new Migrator({ db, schema, migrations: [base, gatedUp] }).up()).error).toBeDefined();
      const without = new Migrator({ db, schema, migrations: [base] });
      const refused = await without.down({ to: 0 });
      expect(refused.error?.code).toBe('CK_MIGRATION_HISTORY');
      expect(refused.error?.message).toContain('Migration 2 is in flight');
      expect(refused.error?.details).toMatchObject({ version: 2, problem: 'in-flight-missing' });
      expect(await count(db, `${schema}.base`)).toBe(2);
      expect((await without.status()).current).toBe(1);
    });
  });
}

/** A non-transactional migration of plain SQL: its second statement fails while `<schema>.blockers` has rows. */
const indexes: Migration = {
  version: 2,
  name: 'indexes',
  transactional: false,
  up: ({ schema: s }) => [
    `create index concurrently if not exists base_id_desc_idx on ${s}.base (id desc)`,
    `do $$ begin if exists (select 1 from ${s}.blockers) then raise exception 'blocked'; end if; end $$`,
  ],
  down: ({ schema: s }) => [`drop index concurrently if exists ${s}.base_id_desc_idx`],
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a non-transactional migration stopped between statements`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('is in flight like a phased one, and a down past it undoes its committed statement', async () => {
      const db = scratch.database.db;
      const schema = 'inflight_nontx';
      await sql.raw(`create schema ${schema}`).execute(db);
      await sql.raw(`create table ${schema}.blockers (id int)`).execute(db);
      await sql.raw(`insert into ${schema}.blockers values (1)`).execute(db);
      const migrator = new Migrator({ db, schema, migrations: [base, indexes] });
      const stopped = await migrator.up();
      expect(stopped.error?.message).toContain('failed at statement 2 of 2');
      expect((await migrator.status()).inFlight).toMatchObject([{ version: 2, direction: 'up', phasesDone: 1 }]);
      const indexExists = async () => (await fingerprint(db, [schema])).lines.some((l) => l.startsWith(`index ${schema}.base_id_desc_idx `));
      expect(await indexExists()).toBe(true);

      const down = await migrator.down({ to: 1 });
      expect(down.error).toBeUndefined();
      expect(down.results.map((r) => [r.version, r.status, r.inFlightUp ?? false])).toEqual([[2, 'reverted', true]]);
      expect(await indexExists()).toBe(false);
      expect((await migrator.status()).inFlight).toEqual([]);
      expect(await tableExists(db, `${schema}.schema_migrations_steps`)).toBe(false);
    });
  });
}
