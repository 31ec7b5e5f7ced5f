import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { fingerprint, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase } from '../support/backends.js';

/** A set touching most object kinds the fingerprint knows, each with an exact inverse. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'projects',
    up: ({ schema: s }) => [
      `create type ${s}.project_state as enum ('open', 'closed')`,
      `create table ${s}.projects (id bigint generated always as identity primary key, title text not null, state ${s}.project_state not null default 'open')`,
      `create index projects_title_idx on ${s}.projects (title)`,
    ],
    down: ({ schema: s }) => [`drop table ${s}.projects`, `drop type ${s}.project_state`],
  },
  {
    version: 2,
    name: 'project-owner',
    up: ({ schema: s }) => [
      `alter table ${s}.projects add column owner text`,
      `alter table ${s}.projects enable row level security`,
      `create policy projects_owner on ${s}.projects using (owner = current_user)`,
    ],
    down: ({ schema: s }) => [
      `drop policy projects_owner on ${s}.projects`,
      `alter table ${s}.projects disable row level security`,
      `alter table ${s}.projects drop column owner`,
    ],
  },
  {
    version: 3,
    name: 'touch-trigger',
    up: ({ schema: s }) => [
      `alter table ${s}.projects add column updated_at timestamptz not null default now()`,
      `create function ${s}.touch() returns trigger language plpgsql as $$ begin new.updated_at := now(); return new; end $$`,
      `create trigger projects_touch before update on ${s}.projects for each row execute function ${s}.touch()`,
      `create view ${s}.open_projects as select id, title from ${s}.projects where state = 'open'`,
    ],
    down: ({ schema: s }) => [
      `drop view ${s}.open_projects`,
      `drop trigger projects_touch on ${s}.projects`,
      `drop function ${s}.touch()`,
      `alter table ${s}.projects drop column updated_at`,
    ],
  },
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: Migrator down and plan`, () => {
    let db: Kysely<any>;
    useScratchDatabase(backend.name, (s) => (db = s.database.db));

    it('down --to N reverts newest first, each step as exact inverse of its up', async () => {
      const schema = 'mig_test_down_to';
      const migrator = new Migrator({ db, schema, migrations: MIGRATIONS });
      await migrator.up({ to: 1 });
      const atOne = await fingerprint(db, [schema]);
      await migrator.up();
      expect((await fingerprint(db, [schema])).hash).not.toBe(atOne.hash);

      const { error, results } = await migrator.down({ to: 1 });
      expect(error).toBeUndefined();
      expect(results.map((r) => [r.version, r.direction, r.status])).toEqual([
        [3, 'down', 'reverted'],
        [2, 'down', 'reverted'],
      ]);
      expect((await fingerprint(db, [schema])).lines).toEqual(atOne.lines);
      const status = await migrator.status();
      expect(status.current).toBe(1);
      expect(status.pending.map((p) => p.version)).toEqual([2, 3]);
      const log = await migrator.history();
      expect(log.slice(0, 2).map((l) => [l.version, l.direction, l.outcome])).toEqual([
        [2, 'down', 'ok'],
        [3, 'down', 'ok'],
      ]);
      // Down to where we already are is nothing to do.
      expect(await migrator.down({ to: 1 })).toEqual({ results: [] });
      // And the reverted migrations apply again cleanly.
      expect((await migrator.up()).error).toBeUndefined();
    });

    it('up then down to 0 with removeBookkeepingAtZero leaves the pristine fingerprint: nothing is left', async () => {
      const schema = 'mig_test_zero';
      const pristine = await fingerprint(db, [schema]);
      expect(pristine.lines).toEqual([]);
      const migrator = new Migrator({
        db,
        schema,
        migrations: MIGRATIONS,
        removeBookkeepingAtZero: true,
      });
      expect((await migrator.up()).error).toBeUndefined();
      const { error, results } = await migrator.down({ to: 0 });
      expect(error).toBeUndefined();
      expect(results.map((r) => r.version)).toEqual([3, 2, 1]);
      expect(await fingerprint(db, [schema])).toEqual(pristine);
      expect(await migrator.status()).toEqual({
        applied: [],
        pending: MIGRATIONS.map(({ version, name }) => ({ version, name })),
        current: 0,
        problems: [],
        inFlight: [],
      });
      expect(await migrator.history()).toEqual([]);
    });

    it('every single migration is an exact inverse: fingerprint(before) == fingerprint(after up+down)', async () => {
      const schema = 'mig_test_each';
      const migrator = new Migrator({ db, schema, migrations: MIGRATIONS });
      // A no-op run creates the (empty) bookkeeping, so every "before" below
      // includes it and the comparison is about the migration alone.
      expect(await migrator.down({ to: 0 })).toEqual({ results: [] });
      for (const m of MIGRATIONS) {
        const before = await fingerprint(db, [schema]);
        expect((await migrator.up({ to: m.version })).error).toBeUndefined();
        expect((await migrator.down({ to: m.version - 1 })).error).toBeUndefined();
        expect((await fingerprint(db, [schema])).lines).toEqual(before.lines);
        expect((await migrator.up({ to: m.version })).error).toBeUndefined();
      }
    });

    it('down to 0 without removeBookkeepingAtZero keeps the (empty) bookkeeping', async () => {
      const schema = 'mig_test_keep';
      const migrator = new Migrator({ db, schema, migrations: MIGRATIONS });
      await migrator.up();
      expect((await migrator.down({ to: 0 })).error).toBeUndefined();
      const lines = (await fingerprint(db, [schema])).lines;
      expect(lines).toContain('schema mig_test_keep');
      expect(lines.some((l) => l.startsWith('table mig_test_keep.schema_migrations '))).toBe(true);
      expect((await migrator.history()).filter((h) => h.direction === 'down')).toHaveLength(3);
    });

    it('removeBookkeepingAtZero never drops a schema the migrator did not create', async () => {
      const schema = 'mig_test_owned_elsewhere';
      await sql`create schema ${sql.id(schema)}`.execute(db);
      const migrator = new Migrator({
        db,
        schema,
        migrations: MIGRATIONS,
        removeBookkeepingAtZero: true,
      });
      await migrator.up();
      await migrator.down({ to: 0 });
      expect((await fingerprint(db, [schema])).lines).toEqual([`schema ${schema}`]);
    });

    it('a schema holding other objects survives removeBookkeepingAtZero (DROP SCHEMA … RESTRICT, 2BP01 ignored)', async () => {
      const schema = 'mig_test_shared';
      const migrator = new Migrator({
        db,
        schema,
        migrations: MIGRATIONS,
        removeBookkeepingAtZero: true,
      });
      await migrator.up({ to: 1 });
      await sql`create table ${sql.id(schema, 'someone_elses')} (id int)`.execute(db);
      const { error } = await migrator.down({ to: 0 });
      expect(error).toBeUndefined();
      const lines = (await fingerprint(db, [schema])).lines;
      expect(lines).toContain(`schema ${schema}`);
      expect(lines.some((l) => l.startsWith(`table ${schema}.someone_elses `))).toBe(true);
      expect(lines.some((l) => l.includes('schema_migrations'))).toBe(false);
    });

    it('plan lists the SQL in execution order and changes nothing', async () => {
      const schema = 'mig_test_plan';
      const migrator = new Migrator({ db, schema, migrations: MIGRATIONS });
      const pristine = await fingerprint(db, [schema]);
      const upPlan = await migrator.plan({ direction: 'up', to: 2 });
      expect(upPlan.map((p) => [p.version, p.name, p.direction, p.transactional])).toEqual([
        [1, 'projects', 'up', true],
        [2, 'project-owner', 'up', true],
      ]);
      expect(upPlan[1]?.statements).toEqual([
        `alter table ${schema}.projects add column owner text`,
        `alter table ${schema}.projects enable row level security`,
        `create policy projects_owner on ${schema}.projects using (owner = current_user)`,
      ]);
      expect(await migrator.plan({ direction: 'down', to: 0 })).toEqual([]);
      expect(await fingerprint(db, [schema])).toEqual(pristine);

      await migrator.up();
      const applied = await fingerprint(db, [schema]);
      const historyBefore = await migrator.history();
      const downPlan = await migrator.plan({ direction: 'down', to: 1 });
      expect(downPlan.map((p) => [p.version, p.direction])).toEqual([
        [3, 'down'],
        [2, 'down'],
      ]);
      expect(downPlan[0]?.statements[0]).toBe(`drop view ${schema}.open_projects`);
      expect(await migrator.plan({ direction: 'up' })).toEqual([]);
      expect(await fingerprint(db, [schema])).toEqual(applied);
      expect(await migrator.history()).toEqual(historyBefore);
    });
  });
}
