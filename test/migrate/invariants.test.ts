import { fileURLToPath } from 'node:url';
import { sql, type Kysely, type KyselyPlugin } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationProgress } from '../../src/cli/migration-progress.js';
import { Output } from '../../src/cli/output.js';
import { reportRun } from '../../src/cli/run-report.js';
import { openDatabase } from '../../src/db/index.js';
import {
  backfill,
  check,
  checksumOf,
  fingerprint,
  Migrator,
  noOrphans,
  notNull,
  rowCountPreserved,
  tableChecksum,
  verify,
  type Invariant,
  type Migration,
  type MigrationEvent,
} from '../../src/migrate/index.js';
import { BACKENDS, processTarget, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { killAfter, runScript } from '../support/child-runner.js';
import { createHostTable, HOST_TABLE, seedNotes, slugMigrations } from './fixtures/invariant-migrations.js';

/**
 * Invariants declared per migration (issue 4, "Verify"): measured before
 * `up`, checked after it, reported; a broken one undoes the migration (its
 * transaction, or its down) and stops the run with CK_MIGRATION_INVARIANT.
 */
const runner = fileURLToPath(new URL('./fixtures/run-invariant-migration.ts', import.meta.url));

/** notes (50 rows) and tags (a child of notes, 20 rows), created by migration 1. */
const base: Migration = {
  version: 1,
  name: 'notes',
  up: ({ schema: s }) => [
    `create table ${s}.notes (id int primary key, body text not null, created timestamptz not null default timestamptz '2024-05-01 12:00+00')`,
    `insert into ${s}.notes (id, body) select g, 'note ' || g from generate_series(1, 50) g`,
    `create table ${s}.tags (id int primary key, note_id int, label text)`,
    `insert into ${s}.tags select g, g, 'tag ' || g from generate_series(1, 20) g`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.tags`, `drop table ${s}.notes`],
};

/** Migration 2 with the given `up` and invariants (and a `down` that is harmless to run). */
function second(up: (s: string) => string[], invariants: (s: string) => Invariant[], extra: Partial<Migration> = {}): Migration {
  return { version: 2, name: 'second', up: ({ schema: s }) => up(s), down: () => ['select 1'], invariants: ({ schema: s }) => invariants(s), ...extra };
}

/** Everything a failed migration must leave as it was: the schemas' fingerprint, the rows of every table, the versions. */
async function state(db: Kysely<any>, schema: string) {
  const { rows: tables } = await sql<{ t: string }>`
    select n.nspname || '.' || c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and n.nspname in (${schema}, 'inv_host') and c.relname <> 'schema_migrations_log' order by 1`.execute(db);
  const data: Record<string, string> = {};
  for (const { t } of tables) {
    const { rows } = await sql<{ d: string | null }>`select md5(string_agg(x::text, '|' order by x::text)) as d from ${sql.table(t)} x`.execute(db);
    data[t] = rows[0]?.d ?? 'empty';
  }
  return { fingerprint: (await fingerprint(db, [schema, 'inv_host'])).lines, data };
}

async function logRows(db: Kysely<any>, schema: string) {
  const { rows } = await sql<{ version: number; direction: string; outcome: string; error: string | null }>`
    select version, direction, outcome, error from ${sql.id(schema, 'schema_migrations_log')} order by id`.execute(db);
  return rows;
}

async function tableExists(db: Kysely<any>, name: string): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`select to_regclass(${name}) is not null as ok`.execute(db);
  return rows[0]!.ok;
}

/**
 * What a migrator run did, in order: its events (`event:<type>`) and, for
 * the queries it sent, the ones named in `labels` (the first label whose
 * test matches a query's text). Queries are seen through a Kysely plugin on
 * the migrator's `db`, which only looks: each is recorded as it is sent.
 */
function runTimeline(db: Kysely<any>, labels: readonly (readonly [string, (text: string) => boolean])[]) {
  const timeline: string[] = [];
  const events: MigrationEvent[] = [];
  const recorder: KyselyPlugin = {
    transformQuery: ({ node }) => {
      const text = node.kind === 'RawNode' ? node.sqlFragments.join('?') : node.kind;
      const label = labels.find(([, test]) => test(text));
      if (label !== undefined) timeline.push(label[0]);
      return node;
    },
    transformResult: ({ result }) => Promise.resolve(result),
  };
  return {
    db: db.withPlugin(recorder),
    onEvent: (event: MigrationEvent) => {
      events.push(event);
      timeline.push(`event:${event.type}`);
    },
    timeline,
    events,
  };
}

/** The invariants' own queries, by what they measure. */
const INVARIANT_QUERIES: readonly (readonly [string, (text: string) => boolean])[] = [
  ['query:digest', (t) => t.includes('md5((t.*)::text)')],
  ['query:null count', (t) => t.includes('count(*)::text as n from') && t.includes('is null')],
  ['query:row count', (t) => t.includes('count(*)::text as n from')],
];

async function prepare(db: Kysely<any>, schema: string): Promise<void> {
  for (const statement of createHostTable) await sql.raw(statement).execute(db);
  expect((await new Migrator({ db, schema, migrations: [base] }).up()).error).toBeUndefined();
}

/** Each kind of invariant, with an `up` that breaks it and what the error must say. */
const breaking: readonly { readonly kind: string; readonly up: (s: string) => string[]; readonly invariant: (s: string) => Invariant; readonly says: string }[] = [
  {
    kind: 'rowCountPreserved',
    up: (s) => [`delete from ${s}.notes where id = 7`],
    invariant: (s) => rowCountPreserved(`${s}.notes`),
    says: 'expected 50 rows (as before up), observed 49 rows',
  },
  {
    kind: 'rowCountPreserved with allowGrowth (a lost row still fails)',
    up: (s) => [`insert into ${s}.notes (id, body) values (100, 'new'), (101, 'new')`, `delete from ${s}.notes where id < 4`],
    invariant: (s) => rowCountPreserved(`${s}.notes`, { allowGrowth: true }),
    says: 'expected at least 50 rows (as before up), observed 49 rows',
  },
  {
    kind: 'noOrphans',
    up: (s) => [`insert into ${s}.tags values (99, 4242, 'dangling')`],
    invariant: (s) => noOrphans(`${s}.tags`, 'note_id', `${s}.notes`, 'id'),
    says: 'expected 0 orphan rows, observed 1 orphan row',
  },
  {
    kind: 'notNull',
    up: (s) => [`update ${s}.tags set label = null where id <= 3`],
    invariant: (s) => notNull(`${s}.tags`, 'label'),
    says: 'expected 0 NULLs, observed 3 NULLs',
  },
  {
    kind: 'tableChecksum',
    up: () => [`update ${HOST_TABLE} set name = name || '!' where id = 3`],
    invariant: () => tableChecksum(HOST_TABLE),
    says: 'expected 200 rows, digest ',
  },
  {
    kind: 'check',
    up: (s) => [`update ${s}.notes set body = '' where id = 9`],
    invariant: (s) => check('no note is blank', `select not exists (select 1 from ${s}.notes where body = '')`),
    says: 'expected true, observed false',
  },
  {
    kind: 'check whose query fails',
    up: (s) => [`insert into ${s}.tags values (30, 1, 'x')`],
    // a typo in the check itself
    invariant: (s) => check('every tag has a label', `select bool_and(lable <> '') from ${s}.tags`),
    says: 'expected true, observed error: column "lable" does not exist (SQLSTATE 42703)',
  },
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: invariants declared per migration`, () => {
    let db: Kysely<any>;
    useScratchDatabase(backend.name, (s: ScratchDatabase) => (db = s.database.db));

    it('every kind passes: reported in the result and as events, measured before up and compared after', async () => {
      const schema = 'inv_pass';
      await prepare(db, schema);
      const events: MigrationEvent[] = [];
      const migration = second(
        (s) => [`insert into ${s}.notes (id, body) values (51, 'fifty-one')`, `insert into ${s}.tags values (21, 51, 'new')`],
        (s) => [
          rowCountPreserved(`${s}.tags`, { allowGrowth: true }),
          noOrphans(`${s}.tags`, ['note_id'], `${s}.notes`, ['id']),
          notNull(`${s}.notes`, 'body'),
          tableChecksum(HOST_TABLE),
          check('51 notes', `select count(*) = 51 from ${s}.notes`),
        ],
      );
      const migrator = new Migrator({ db, schema, migrations: [base, migration], onEvent: (e) => events.push(e) });
      const { error, results } = await migrator.up();
      expect(error).toBeUndefined();
      expect(results).toHaveLength(1);
      expect(results[0]).toMatchObject({ version: 2, status: 'applied' });
      expect(results[0]!.rollback).toBeUndefined();
      expect(results[0]!.invariants!.map((i) => [i.kind, i.status, i.expected, i.observed])).toEqual([
        ['row-count-preserved', 'passed', 'at least 20 rows (as before up)', '21 rows'],
        ['no-orphans', 'passed', '0 orphan rows', '0 orphan rows'],
        ['not-null', 'passed', '0 NULLs', '0 NULLs'],
        ['table-checksum', 'passed', expect.stringMatching(/^200 rows, digest [0-9a-f]{16} \(as before up\)$/), expect.stringMatching(/^200 rows, digest [0-9a-f]{16}$/)],
        ['check', 'passed', 'true', 'true'],
      ]);
      const checked = events.filter((e) => e.type === 'invariant-checked');
      expect(checked.map((e) => [e.version, e.invariant?.name])).toEqual(results[0]!.invariants!.map((i) => [2, i.name]));
      // invariant events come before the migration's end
      expect(events.findIndex((e) => e.type === 'invariant-checked')).toBeLessThan(events.findIndex((e) => e.type === 'migration-end'));
      expect((await migrator.status()).current).toBe(2);
      // An atomic migration keeps its before-values in memory: no table was created for them.
      expect(await tableExists(db, `${schema}.schema_migrations_baseline`)).toBe(false);
    });

    it('announces measuring before the SQL of up and checking after it, with the invariants concerned; the outcomes follow the check', async () => {
      const schema = 'inv_events';
      await prepare(db, schema);
      const insert = `insert into ${schema}.notes (id, body) values (51, 'fifty-one')`;
      const run = runTimeline(db, [['query:up', (t) => t === insert], ...INVARIANT_QUERIES]);
      const migration = second(
        () => [insert],
        (s) => [rowCountPreserved(`${s}.notes`, { allowGrowth: true }), tableChecksum(HOST_TABLE), notNull(`${s}.notes`, 'body')],
      );
      const { error } = await new Migrator({ db: run.db, schema, migrations: [base, migration], onEvent: run.onEvent }).up();
      expect(error).toBeUndefined();
      const from = run.timeline.indexOf('event:migration-start');
      expect(run.timeline.slice(from).filter((e) => !e.startsWith('event:lint'))).toEqual([
        'event:migration-start',
        'event:invariants-measuring',
        'query:row count',
        'query:digest',
        'query:up',
        'event:invariants-checking',
        'query:row count',
        'event:invariant-checked',
        'query:digest',
        'event:invariant-checked',
        'query:null count',
        'event:invariant-checked',
        'event:migration-end',
      ]);
      const announced = run.events.filter((e) => e.type === 'invariants-measuring' || e.type === 'invariants-checking');
      expect(announced.map((e) => [e.type, e.version, e.name, e.direction, e.invariants?.map((i) => i.name), e.beforeValuesStored])).toEqual([
        // Only the invariants that compare with a before-value are measured; an atomic migration keeps them in memory.
        ['invariants-measuring', 2, 'second', 'up', [`row count of ${schema}.notes preserved`, `checksum of ${HOST_TABLE} unchanged`], false],
        ['invariants-checking', 2, 'second', 'up', [`row count of ${schema}.notes preserved`, `checksum of ${HOST_TABLE} unchanged`, `${schema}.notes.body has no NULL`], undefined],
      ]);
    });

    it('a phased migration announces measuring (stored) before its first phase and checking after its last', async () => {
      const schema = 'inv_events_phased';
      await prepare(db, schema);
      const alter = `alter table ${schema}.notes add column slug text`;
      const run = runTimeline(db, [['query:phase 1', (t) => t === alter], ...INVARIANT_QUERIES]);
      const phased: Migration = {
        version: 2,
        name: 'notes-slug',
        up: ({ schema: s }) => [alter, backfill({ table: `${s}.notes`, key: ['id'], set: `slug = 'n-' || id`, where: 'slug is null', batchSize: 20 })],
        down: ({ schema: s }) => [`alter table ${s}.notes drop column slug`],
        invariants: ({ schema: s }) => [rowCountPreserved(`${s}.notes`), notNull(`${s}.notes`, 'slug')],
      };
      const { error } = await new Migrator({ db: run.db, schema, migrations: [base, phased], onEvent: run.onEvent }).up();
      expect(error).toBeUndefined();
      const from = run.timeline.indexOf('event:migration-start');
      expect(run.timeline.slice(from).filter((e) => !e.startsWith('event:lint') && e !== 'event:backfill-progress')).toEqual([
        'event:migration-start',
        'event:invariants-measuring',
        'query:row count',
        'event:phase-start',
        'query:phase 1',
        'event:phase-end',
        'event:phase-start',
        'event:phase-end',
        'event:invariants-checking',
        'query:row count',
        'event:invariant-checked',
        'query:null count',
        'event:invariant-checked',
        'event:migration-end',
      ]);
      const measuring = run.events.find((e) => e.type === 'invariants-measuring');
      // Committed before the first phase, so a resumed run compares with them.
      expect([measuring?.invariants?.map((i) => i.kind), measuring?.beforeValuesStored]).toEqual([['row-count-preserved'], true]);
      expect(run.events.find((e) => e.type === 'invariants-checking')?.invariants?.map((i) => i.kind)).toEqual(['row-count-preserved', 'not-null']);
    });

    for (const [index, c] of breaking.entries()) {
      it(`${c.kind} broken: CK_MIGRATION_INVARIANT names it with expected and observed; rolled back in its transaction; logged; the run stops`, async () => {
        const schema = `inv_fail_${index}`;
        await prepare(db, schema);
        const before = await state(db, schema);
        const later: Migration = { version: 3, name: 'later', up: ({ schema: s }) => [`create table ${s}.later (id int)`], down: ({ schema: s }) => [`drop table ${s}.later`] };
        const migrator = new Migrator({ db, schema, migrations: [base, second(c.up, (s) => [c.invariant(s)]), later] });
        const name = c.invariant(schema).name;
        const { error, results } = await migrator.up();
        expect(error?.code).toBe('CK_MIGRATION_INVARIANT');
        expect(error?.message).toContain(`Migration 2 second (up): invariant "${name}" failed: `);
        expect(error?.message).toContain(c.says);
        expect(error?.message).toContain('rolled back: the database is as before this migration');
        expect(error?.details).toMatchObject({ version: 2, name: 'second', invariant: name, rollback: 'transaction' });
        expect(results.map((r) => [r.version, r.status, r.rollback])).toEqual([
          [2, 'failed', 'transaction'],
          [3, 'not-run', undefined],
        ]);
        expect(results[0]!.invariants!.find((i) => i.name === name)?.status).toBe('failed');
        expect(await state(db, schema)).toEqual(before);
        expect((await logRows(db, schema)).at(-1)).toEqual({ version: 2, direction: 'up', outcome: 'failed', error: error?.message });
        expect((await migrator.status()).pending.map((p) => p.version)).toEqual([2, 3]);
      });
    }

    it('tableChecksum uses the whole of each row hash: a change that keeps the sum of their first halves is still caught', async () => {
      const schema = 'inv_half_hash';
      await prepare(db, schema);
      // Found by search: md5 of the rows (3687152) and (543369) has first
      // 64-bit halves summing to those of (141874) and (13038829); only the
      // second halves tell the two tables apart.
      const halves = await sql<{ a: string; b: string }>`
        select sum(case when k in (3687152, 543369) then h1 else -h1 end)::text as a, sum(case when k in (3687152, 543369) then h2 else -h2 end)::text as b
          from (select k, ('x' || substr(md5(row(k)::text), 1, 16))::bit(64)::bigint::numeric as h1, ('x' || substr(md5(row(k)::text), 17, 16))::bit(64)::bigint::numeric as h2
                  from unnest(array[3687152, 543369, 141874, 13038829]) k) s`.execute(db);
      expect(halves.rows[0]?.a).toBe('0');
      expect(halves.rows[0]?.b).not.toBe('0');
      await sql.raw(`create table ${schema}.pairs (k int)`).execute(db);
      await sql.raw(`insert into ${schema}.pairs values (3687152), (543369)`).execute(db);
      const migration = second(
        (s) => [`update ${s}.pairs set k = 141874 where k = 3687152`, `update ${s}.pairs set k = 13038829 where k = 543369`],
        (s) => [tableChecksum(`${s}.pairs`)],
      );
      const { error } = await new Migrator({ db, schema, migrations: [base, migration] }).up();
      expect(error?.code).toBe('CK_MIGRATION_INVARIANT');
      expect(error?.message).toContain(`invariant "checksum of ${schema}.pairs unchanged" failed: expected 2 rows, digest `);
      const { rows } = await sql.raw<{ k: number }>(`select k from ${schema}.pairs order by k`).execute(db);
      expect(rows.map((r) => r.k)).toEqual([543369, 3687152]);
    });

    it('a non-transactional migration that breaks an invariant is undone by its down: fingerprint and data as before, both logged', async () => {
      const schema = 'inv_nontx';
      await prepare(db, schema);
      const before = await state(db, schema);
      const events: MigrationEvent[] = [];
      const partial: Migration = {
        version: 2,
        name: 'notes-mood',
        transactional: false,
        up: ({ schema: s }) => [`alter table ${s}.notes add column if not exists mood text`, `update ${s}.notes set mood = 'ok' where id <= 40`],
        down: ({ schema: s }) => [`alter table ${s}.notes drop column if exists mood`],
        invariants: ({ schema: s }) => [rowCountPreserved(`${s}.notes`), notNull(`${s}.notes`, 'mood')],
      };
      const migrator = new Migrator({ db, schema, migrations: [base, partial], onEvent: (e) => events.push(e) });
      const { error, results } = await migrator.up();
      expect(error?.code).toBe('CK_MIGRATION_INVARIANT');
      expect(error?.message).toContain(`invariant "${schema}.notes.mood has no NULL" failed: expected 0 NULLs, observed 10 NULLs; undone by its down()`);
      expect(results[0]).toMatchObject({ version: 2, status: 'failed', rollback: 'down' });
      expect(await state(db, schema)).toEqual(before);
      expect((await logRows(db, schema)).slice(-2).map((r) => [r.version, r.direction, r.outcome])).toEqual([
        [2, 'up', 'failed'],
        [2, 'down', 'ok'],
      ]);
      expect(events.filter((e) => e.version === 2).map((e) => `${e.type}:${e.direction ?? ''}`)).toEqual([
        // Re-running its UPDATE after a kill is not a no-op: the lint says so before anything runs.
        'lint-warnings:up',
        'migration-start:up',
        'invariants-measuring:up',
        // Each statement of a non-transactional migration is a journaled phase.
        'phase-start:up',
        'phase-end:up',
        'phase-start:up',
        'phase-end:up',
        'invariants-checking:up',
        'invariant-checked:up',
        'invariant-checked:up',
        'migration-failed:up',
        'migration-start:down',
        'phase-start:down',
        'phase-end:down',
        'migration-end:down',
      ]);
      // The before-values were stored for the run (it commits as it goes) and forgotten once undone.
      expect(await tableExists(db, `${schema}.schema_migrations_baseline`)).toBe(false);
      expect((await migrator.status()).pending.map((p) => p.version)).toEqual([2]);
    });

    it('when down fails too, the error says both and keeps the before-values; the next up checks again against them and retries down', async () => {
      const schema = 'inv_down_fails';
      await prepare(db, schema);
      const before = await state(db, schema);
      const partial = (down: (s: string) => string[]): Migration => ({
        version: 2,
        name: 'notes-mood',
        transactional: false,
        up: ({ schema: s }) => [`alter table ${s}.notes add column if not exists mood text`, `update ${s}.notes set mood = 'ok' where id <= 40`],
        down: ({ schema: s }) => down(s),
        invariants: ({ schema: s }) => [rowCountPreserved(`${s}.notes`), notNull(`${s}.notes`, 'mood')],
      });
      const broken = await new Migrator({ db, schema, migrations: [base, partial((s) => [`alter table ${s}.notes drop column moood`])] }).up();
      expect(broken.error?.code).toBe('CK_MIGRATION_INVARIANT');
      expect(broken.error?.message).toContain('observed 10 NULLs; its down() failed too (Migration 2 notes-mood (down) failed at statement 1 of 1: column "moood" of relation "notes" does not exist');
      expect(broken.error?.details['rollback']).toBe('down-failed');
      expect(broken.results[0]!.rollback).toBe('down-failed');
      expect(await tableExists(db, `${schema}.schema_migrations_baseline`)).toBe(true);

      // A row arrives meanwhile; with down fixed, up runs again and compares
      // with the before-value measured first (re-measured, 51 = 51 would pass).
      await sql.raw(`insert into ${schema}.notes (id, body) values (77, 'meanwhile')`).execute(db);
      const fixed = await new Migrator({ db, schema, migrations: [base, partial((s) => [`alter table ${s}.notes drop column if exists mood`])] }).up();
      expect(fixed.error?.message).toContain('undone by its down()');
      expect(fixed.results[0]!.invariants![0]).toMatchObject({ status: 'failed', expected: '50 rows (as before up)', observed: '51 rows' });
      await sql.raw(`delete from ${schema}.notes where id = 77`).execute(db);
      expect(await state(db, schema)).toEqual(before);
      expect(await tableExists(db, `${schema}.schema_migrations_baseline`)).toBe(false);
    });

    it('an invariant cannot change anything: what a check query writes is rolled back', async () => {
      const schema = 'inv_readonly';
      await prepare(db, schema);
      const sneaky = second(
        (s) => [`insert into ${s}.notes (id, body) values (51, 'x')`],
        (s) => [check('deletes, then says true', `with gone as (delete from ${s}.notes returning 1) select count(*) > 0 from gone`), rowCountPreserved(`${s}.notes`, { allowGrowth: true })],
      );
      const { error, results } = await new Migrator({ db, schema, migrations: [base, sneaky] }).up();
      expect(error).toBeUndefined();
      expect(results[0]!.invariants!.map((i) => [i.status, i.observed])).toEqual([
        ['passed', 'true'],
        ['passed', '51 rows'],
      ]);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`${schema}.notes`)}`.execute(db);
      expect(rows).toEqual([{ n: 51 }]);
    });

    it('a phased migration that breaks an invariant is undone by its down; no journal or before-values are left', async () => {
      const schema = 'inv_phased_fail';
      await prepare(db, schema);
      const before = await state(db, schema);
      const phased: Migration = {
        version: 2,
        name: 'notes-slug',
        up: ({ schema: s }) => [
          `alter table ${s}.notes add column slug text`,
          // A bug: every tenth note gets no slug.
          backfill({ table: `${s}.notes`, key: ['id'], set: `slug = case when id % 10 = 0 then null else 'n-' || id end`, where: 'slug is null', batchSize: 8 }),
        ],
        down: ({ schema: s }) => [`alter table ${s}.notes drop column slug`],
        invariants: ({ schema: s }) => [rowCountPreserved(`${s}.notes`), notNull(`${s}.notes`, 'slug'), tableChecksum(HOST_TABLE)],
      };
      const migrator = new Migrator({ db, schema, migrations: [base, phased] });
      const { error, results } = await migrator.up();
      expect(error?.code).toBe('CK_MIGRATION_INVARIANT');
      expect(error?.message).toContain('observed 5 NULLs; undone by its down()');
      expect(results[0]!.invariants!.map((i) => i.status)).toEqual(['passed', 'failed', 'passed']);
      expect(await state(db, schema)).toEqual(before);
      const status = await migrator.status();
      expect([status.current, status.inFlight]).toEqual([1, []]);
      expect(await tableExists(db, `${schema}.schema_migrations_steps`)).toBe(false);
      expect(await tableExists(db, `${schema}.schema_migrations_baseline`)).toBe(false);
    });

    it('a resumed phased migration compares with the before-value measured when it first started, not with the table as it is on resume', async () => {
      const schema = 'inv_resume';
      await prepare(db, schema);
      await sql.raw(`create table ${schema}.gate (open boolean)`).execute(db);
      const gated = (invariants: (s: string) => Invariant[]): Migration => ({
        version: 2,
        name: 'notes-slug',
        up: ({ schema: s }) => [
          `alter table ${s}.notes add column slug text`,
          backfill({ table: `${s}.notes`, key: ['id'], set: `slug = 'n-' || id`, where: 'slug is null', batchSize: 10 }),
          // Fails until the test opens the gate: the run stops here, phases journaled.
          verify('the gate is open', `select exists (select 1 from ${s}.gate)`),
        ],
        down: ({ schema: s }) => [`alter table ${s}.notes drop column slug`],
        invariants: ({ schema: s }) => invariants(s),
      });
      const first = await new Migrator({ db, schema, migrations: [base, gated((s) => [rowCountPreserved(`${s}.notes`, { allowGrowth: true })])] }).up();
      expect(first.error?.code).toBe('CK_MIGRATION_FAILED');
      expect(first.results[0]!.invariants).toBeUndefined();
      // The before-value was committed before the first phase.
      const { rows: stored } = await sql<{ version: number; before_values: unknown }>`
        select version, before_values from ${sql.id(schema, 'schema_migrations_baseline')}`.execute(db);
      expect(stored.map((r) => [r.version, typeof r.before_values === 'string' ? JSON.parse(r.before_values) : r.before_values])).toEqual([
        [2, { [`row count of ${schema}.notes preserved`]: '50' }],
      ]);

      // Writers add five notes while the migration is in flight; the gate opens.
      await sql.raw(`insert into ${schema}.notes (id, body) select g, 'later ' || g from generate_series(60, 64) g`).execute(db);
      await sql.raw(`insert into ${schema}.gate values (true)`).execute(db);
      // …and an invariant is added to the in-flight migration: it has no true before, so it is skipped, not guessed.
      const events: MigrationEvent[] = [];
      const resumed = await new Migrator({
        db,
        schema,
        migrations: [base, gated((s) => [rowCountPreserved(`${s}.notes`, { allowGrowth: true }), rowCountPreserved(`${s}.tags`)])],
        onEvent: (e) => events.push(e),
      }).up();
      expect(resumed.error).toBeUndefined();
      // The five notes written meanwhile still match the finished backfill's `where`, so it walks again (phased.test.ts).
      expect(events.filter((e) => e.type === 'phase-skipped').map((e) => e.phase)).toEqual([0]);
      // Nothing is measured on resume (the stored values are read back), so nothing is announced; the check is.
      expect(events.filter((e) => e.type.startsWith('invariants-')).map((e) => [e.type, e.invariants?.length])).toEqual([['invariants-checking', 2]]);
      expect(resumed.results[0]!.invariants!.map((i) => [i.status, i.expected, i.observed])).toEqual([
        ['passed', 'at least 50 rows (as before up)', '55 rows'],
        ['skipped', '-', '-'],
      ]);
      expect(resumed.results[0]!.invariants![1]!.reason).toContain('added after this migration started');
      expect(await tableExists(db, `${schema}.schema_migrations_baseline`)).toBe(false);
    });

    it('resumed after losing rows in flight, the comparison with the original before fails and down undoes the migration', async () => {
      const schema = 'inv_resume_lost';
      await prepare(db, schema);
      await sql.raw(`create table ${schema}.gate (open boolean)`).execute(db);
      const gated: Migration = {
        version: 2,
        name: 'notes-slug',
        up: ({ schema: s }) => [
          `alter table ${s}.notes add column slug text`,
          verify('the gate is open', `select exists (select 1 from ${s}.gate)`),
        ],
        down: ({ schema: s }) => [`alter table ${s}.notes drop column slug`],
        invariants: ({ schema: s }) => [rowCountPreserved(`${s}.notes`)],
      };
      const migrator = new Migrator({ db, schema, migrations: [base, gated] });
      expect((await migrator.up()).error?.code).toBe('CK_MIGRATION_FAILED');
      await sql.raw(`delete from ${schema}.notes where id > 47`).execute(db);
      await sql.raw(`insert into ${schema}.gate values (true)`).execute(db);
      const { error, results } = await migrator.up();
      // Re-measured on resume it would be 47 = 47; the stored before says 50.
      expect(error?.message).toContain('expected 50 rows (as before up), observed 47 rows; undone by its down()');
      expect(results[0]!.rollback).toBe('down');
      expect((await migrator.status()).inFlight).toEqual([]);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from information_schema.columns where table_schema = ${schema} and table_name = 'notes' and column_name = 'slug'`.execute(db);
      expect(rows).toEqual([{ n: 0 }]);
    });

    it('adding or editing invariants of an applied migration changes nothing: same checksum, no history problem, nothing runs', async () => {
      const schema = 'inv_edit';
      await prepare(db, schema);
      const plain = second((s) => [`alter table ${s}.notes add column extra int`], () => []);
      const { invariants: _none, ...withoutInvariants } = plain;
      expect((await new Migrator({ db, schema, migrations: [base, withoutInvariants] }).up()).error).toBeUndefined();
      // Later, an invariant that would fail now is added to the applied migration.
      const edited = { ...withoutInvariants, invariants: ({ schema: s }: { schema: string }) => [notNull(`${s}.notes`, 'extra')] };
      const context = { schema, settings: {} };
      expect(checksumOf(edited, context)).toBe(checksumOf(withoutInvariants, context));
      const migrator = new Migrator({ db, schema, migrations: [base, edited] });
      expect((await migrator.status()).problems).toEqual([]);
      expect(await migrator.up()).toEqual({ results: [] });
    });

    it('a before-value that cannot be measured stops the run before the migration runs, and says so', async () => {
      const schema = 'inv_unmeasurable';
      await prepare(db, schema);
      const before = await state(db, schema);
      const migration = second((s) => [`create table ${s}.wrong_table (id int)`], (s) => [rowCountPreserved(`${s}.no_such_table`)]);
      const { error, results } = await new Migrator({ db, schema, migrations: [base, migration] }).up();
      expect(error?.code).toBe('CK_MIGRATION_INVARIANT');
      expect(error?.message).toMatch(/the before-value of invariant "row count of inv_unmeasurable\.no_such_table preserved" cannot be measured: .*no_such_table.* \(SQLSTATE 42P01\); nothing of this migration ran/);
      expect(results.map((r) => [r.version, r.status])).toEqual([[2, 'failed']]);
      expect(await state(db, schema)).toEqual(before);
      expect((await logRows(db, schema)).at(-1)).toMatchObject({ version: 2, direction: 'up', outcome: 'failed' });
    });

    it('invariants() that throws or returns something malformed is CK_CONFIG naming the migration, before anything runs', async () => {
      const schema = 'inv_config';
      await prepare(db, schema);
      const cases: [NonNullable<Migration['invariants']>, string][] = [
        [() => { throw new Error('typo'); }, 'invariants() threw: typo'],
        [() => [rowCountPreserved('notes')], 'table must be schema.table'],
        [() => [notNull(`${schema}.notes`, 'Body; drop table x')], 'column must be a plain lower-case column name'],
        [() => [check('same', 'select true'), check('same', 'select true')], '"same" is declared twice'],
        [() => [noOrphans(`${schema}.tags`, ['note_id', 'id'], `${schema}.notes`, 'id')], 'differ in length'],
      ];
      for (const [invariants, says] of cases) {
        const { error, results } = await new Migrator({ db, schema, migrations: [base, { ...second((s) => [`create table ${s}.x (id int)`], () => []), invariants }] }).up();
        expect(error?.code).toBe('CK_CONFIG');
        expect(error?.message).toContain('Migration 2 second: ');
        expect(error?.message).toContain(says);
        expect(results).toEqual([]);
      }
      expect(await tableExists(db, `${schema}.x`)).toBe(false);
      expect(() => new Migrator({ db, schema, migrations: [{ ...base, invariants: [] as never }] })).toThrow(/invariants: expected a function/);
    });

    it('the CLI prints each invariant live with expected and observed values; its closing report counts them and says how the migration was undone', async () => {
      const schema = 'inv_report';
      await prepare(db, schema);
      let out = '';
      let err = '';
      const output = new Output({ write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
      const migrations = [base, second((s) => [`delete from ${s}.notes where id = 1`], (s) => [rowCountPreserved(`${s}.notes`), notNull(`${s}.notes`, 'body')])];
      const migrator = new Migrator({
        db,
        schema,
        migrations,
        onEvent: migrationProgress(output, { toStderr: false }),
      });
      const { error, results } = await migrator.up();
      await reportRun(output, { migrator, where: 'test', json: false, direction: 'up', error, results });
      expect(out.split('\n')).toEqual([
        'applying 0002 second…',
        `  invariants: measuring before-values: row count of ${schema}.notes…`,
        '  invariants: checking 2…',
        `  invariant FAILED  row count of ${schema}.notes preserved: expected 50 rows (as before up), observed 49 rows`,
        `  invariant ok      ${schema}.notes.body has no NULL: expected 0 NULLs, observed 0 NULLs`,
        'Stopped: applied 0 migrations in 0 ms; the schema is at version 1.',
        'Invariants of 0002 second: 1 FAILED, 1 passed; undone: rolled back with its transaction',
        '',
      ]);
      expect(err).toMatch(/^warning: 0002 second \(statement 1\) \[unbatched-backfill\]: .*\nFAILED {3}0002 second after \d+ ms\n {2}an invariant broke: rolled back with its transaction, nothing of it was committed\n/);
      expect(err).toContain('error [CK_MIGRATION_INVARIANT]: Migration 2 second (up): invariant');
      expect(output.exitCode).toBe(1);
    });
  });

  describe.skipIf(backend.skip)(`${backend.name}: kill -9 during a phased migration with invariants`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const c of cleanups) await c();
    });
    const open = (t: string) => openDatabase(t.startsWith('postgres') ? { url: t } : { dataDir: t });

    const run = (t: string, schema: string, rate: number) => runScript(runner, [t, schema, String(rate)]);

    it('killed mid-backfill, the resumed run compares with the before-values stored by the killed one', async () => {
      const t = await processTarget(backend.name, cleanups);
      const schema = 'inv_kill';
      let database = await open(t);
      for (const statement of createHostTable) await sql.raw(statement).execute(database.db);
      await new Migrator({ db: database.db, schema, migrations: slugMigrations() }).up({ to: 1 });
      await sql.raw(seedNotes(schema, 400)).execute(database.db);
      await database.close();

      const victim = run(t, schema, 400);
      await killAfter(victim, '"type":"backfill-progress"');
      expect(victim.output()).not.toContain('"type":"result"');

      database = await open(t);
      try {
        const { rows: stored } = await sql<{ before_values: unknown }>`select before_values from ${sql.id(schema, 'schema_migrations_baseline')} where version = 2`.execute(database.db);
        const values = stored.map((r) => (typeof r.before_values === 'string' ? JSON.parse(r.before_values) : r.before_values) as Record<string, string>)[0];
        expect(values?.[`row count of ${schema}.notes preserved`]).toBe('400');
        // Writers go on while the migration is in flight.
        await sql.raw(`insert into ${schema}.notes (id, title) select g, 'Late ' || g from generate_series(1001, 1010) g`).execute(database.db);
        const migrator = new Migrator({ db: database.db, schema, migrations: slugMigrations() });
        const { error, results } = await migrator.up();
        expect(error).toBeUndefined();
        expect(results[0]!.invariants!.map((i) => [i.kind, i.status, i.expected, i.observed])).toEqual([
          ['row-count-preserved', 'passed', 'at least 400 rows (as before up)', '410 rows'],
          ['not-null', 'passed', '0 NULLs', '0 NULLs'],
          // measured by the killed process, compared by this one: the digest does not depend on the session
          ['table-checksum', 'passed', `200 rows, digest ${values?.['checksum of inv_host.users unchanged']?.split(':')[1]} (as before up)`, expect.stringMatching(/^200 rows, digest /)],
        ]);
        expect(await tableExists(database.db, `${schema}.schema_migrations_baseline`)).toBe(false);
      } finally {
        await database.close();
      }
    });
  });
}
