import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  concurrentIndex,
  fingerprint,
  lintMigration,
  Migrator,
  RULE_IDS,
  type Migration,
  type MigrationEvent,
} from '../../src/migrate/index.js';
import { CHATKEEP_MIGRATIONS, chatkeepMigrator, resolveSchemaSettings, settingsToJson } from '../../src/schema/index.js';
import { JOURNAL_MIGRATIONS } from '../../examples/journal/migrations/index.js';
import { COACH_MIGRATIONS } from '../../examples/running-coach/migrations/index.js';
import { TODO_MIGRATIONS } from '../../examples/todo/migrations/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * `up` refuses, before anything runs, a pending migration with unsuppressed
 * lint errors (CK_MIGRATION_LINT, docs/migration-lint.md), judged against
 * the live table sizes; `allowLintErrors` accepts the risk.
 */

/** A populated host table every dangerous statement below touches. */
const HOST = [
  'create schema if not exists lint_host',
  'create table if not exists lint_host.big (id int primary key, v int not null, note text, parent int)',
  `insert into lint_host.big select g, g, 'n' || g, null from generate_series(1, 3000) g on conflict do nothing`,
];

/** One dangerous pattern per rule that is an error on a populated table, as a migration's `up`. */
const DANGEROUS: readonly { readonly rule: string; readonly migration: Partial<Migration> & Pick<Migration, 'up'>; readonly sql?: string }[] = [
  { rule: 'add-index-non-concurrent', migration: { up: () => ['create index big_v_idx on lint_host.big (v)'] }, sql: 'create index big_v_idx on lint_host.big (v)' },
  { rule: 'add-column-rewrite', migration: { up: () => ['alter table lint_host.big add column token uuid default gen_random_uuid()'] } },
  { rule: 'add-column-not-null-without-default', migration: { up: () => ['alter table lint_host.big add column w int not null'] } },
  { rule: 'alter-column-type', migration: { up: () => ['alter table lint_host.big alter column v type bigint'] } },
  { rule: 'set-not-null', migration: { up: () => ['alter table lint_host.big alter column note set not null'] } },
  { rule: 'add-foreign-key-without-not-valid', migration: { up: () => ['alter table lint_host.big add constraint big_parent_fk foreign key (parent) references lint_host.big (id)'] } },
  { rule: 'add-check-without-not-valid', migration: { up: () => ['alter table lint_host.big add constraint big_v_check check (v > 0)'] } },
  { rule: 'add-constraint-builds-index', migration: { up: () => ['alter table lint_host.big add constraint big_v_key unique (v)'] } },
  { rule: 'concurrent-in-transaction', migration: { up: () => ['create index concurrently if not exists big_v2_idx on lint_host.big (v)'] } },
  { rule: 'drop-table', migration: { up: () => ['drop table lint_host.big'] } },
  { rule: 'truncate-table', migration: { up: () => ['truncate lint_host.big'] } },
  { rule: 'drop-column', migration: { up: () => ['alter table lint_host.big drop column note'] } },
  { rule: 'rename-table', migration: { up: () => ['alter table lint_host.big rename to bigger'] } },
  { rule: 'rename-column', migration: { up: () => ['alter table lint_host.big rename column note to remark'] } },
  { rule: 'rewrite-command', migration: { up: () => ['alter table lint_host.big set unlogged'] } },
  { rule: 'lock-table', migration: { up: () => ['lock table lint_host.big in access exclusive mode', 'select 1'] } },
  { rule: 'lock-timeout', migration: { lockTimeout: '0', up: () => ['alter table lint_host.big add column x int'] } },
  { rule: 'unbatched-backfill', migration: { up: () => ['alter table lint_host.big add column z int', 'update lint_host.big set z = v'] } },
  { rule: 'missing-down', migration: { up: ({ schema }) => [`create table ${schema}.t (id int)`], down: () => [] } },
  { rule: 'lint-ignore-invalid', migration: { up: () => ['-- lint-ignore: add-index-non-concurrent\ncreate index big_v3_idx on lint_host.big (v)'] } },
  { rule: 'sql-syntax', migration: { up: () => ["select 'unterminated"] } },
];

function migrationFor(c: (typeof DANGEROUS)[number], version = 1): Migration {
  return { version, name: `danger-${c.rule}`, down: () => ['select 1'], ...c.migration } as Migration;
}

async function hostState(db: Kysely<any>) {
  const { rows } = await sql<{ d: string }>`select md5(string_agg(b::text, '|' order by id)) as d from lint_host.big b`.execute(db);
  return { fingerprint: (await fingerprint(db, ['lint_host'])).lines, rows: rows[0]?.d };
}

async function schemaExists(db: Kysely<any>, schema: string): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`select exists (select 1 from pg_namespace where nspname = ${schema}) as ok`.execute(db);
  return rows[0]!.ok;
}

describe('chatkeep\'s own migrations and the examples\' pass the gate', () => {
  const populated = { tableRows: () => 1_000_000, columnType: () => undefined };
  const sets: [string, readonly Migration[], Record<string, unknown>][] = [
    ['chatkeep, opaque user ids', CHATKEEP_MIGRATIONS, settingsToJson(resolveSchemaSettings({}))],
    ['chatkeep, host users table', CHATKEEP_MIGRATIONS, settingsToJson(resolveSchemaSettings({ users: { table: 'public.users', column: 'id', type: 'bigint' } }))],
    ['examples/todo', TODO_MIGRATIONS, {}],
    ['examples/running-coach', COACH_MIGRATIONS, { chatkeepSchema: 'chatkeep' }],
    ['examples/journal', JOURNAL_MIGRATIONS, {}],
  ];
  for (const [label, migrations, settings] of sets) {
    it(`${label}: no unsuppressed lint error in up, even with every existing table populated`, () => {
      for (const migration of migrations) {
        const report = lintMigration(migration, { schema: 'chatkeep', settings }, { ...populated, defaultSchema: 'chatkeep' });
        expect(report.findings.filter((f) => f.severity === 'error'), `${label} ${migration.version} ${migration.name}`).toEqual([]);
      }
    });
  }

  it('allowLintErrors must be a boolean or known rule ids (CK_CONFIG)', async () => {
    const db = {} as Kysely<any>;
    expect(() => new Migrator({ db, migrations: [], allowLintErrors: ['no-such-rule'] })).toThrow(/allowLintErrors: unknown lint rule no-such-rule/);
    expect(() => new Migrator({ db, migrations: [], allowLintErrors: 'yes' as never })).toThrow(/allowLintErrors: expected true, false or a list/);
    const { error } = await new Migrator({ db, migrations: [] }).up({ allowLintErrors: ['nope'] });
    expect(error?.code).toBe('CK_CONFIG');
  });

  it('every rule that can be an error is exercised below', () => {
    const exercised = new Set(DANGEROUS.map((c) => c.rule));
    // multiple-tables-locked, validate-in-same-transaction, non-transactional-not-idempotent and
    // statement-timeout (and down-assumes-whole-up) only warn; render-error is reported as CK_CONFIG before the lint runs.
    const neverError = ['multiple-tables-locked', 'validate-in-same-transaction', 'non-transactional-not-idempotent', 'statement-timeout', 'drop-index-non-concurrent', 'down-assumes-whole-up', 'render-error'];
    expect(RULE_IDS.filter((id) => !exercised.has(id) && !neverError.includes(id))).toEqual([]);
  });
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: up refuses lint errors before anything runs`, () => {
    let db: Kysely<any>;
    useScratchDatabase(backend.name, (s: ScratchDatabase) => (db = s.database.db));

    const setUp = async () => {
      for (const statement of HOST) await sql.raw(statement).execute(db);
    };

    for (const [index, c] of DANGEROUS.entries()) {
      it(`${c.rule}: refused with CK_MIGRATION_LINT naming migration, rule and statement; nothing written`, async () => {
        await setUp();
        const schema = `lint_refuse_${index}`;
        const before = await hostState(db);
        const events: MigrationEvent[] = [];
        const migration = migrationFor(c);
        const { error, results } = await new Migrator({ db, schema, migrations: [migration], onEvent: (e) => events.push(e) }).up();
        expect(error?.code, error?.message).toBe('CK_MIGRATION_LINT');
        expect(error?.message).toMatch(/^Refused to run: 1 pending migration has lint errors; nothing was run or written\./);
        expect(error?.message).toContain(`Migration 1 danger-${c.rule} (up), `);
        expect(error?.message).toContain(`[${c.rule}]`);
        if (c.sql !== undefined) expect(error?.message).toContain(`statement 1 [${c.rule}] \`${c.sql}\``);
        expect(error?.message).toContain('allowLintErrors');
        expect(error?.details['rules']).toContain(c.rule);
        expect(error?.details).toMatchObject({ version: 1, name: `danger-${c.rule}` });
        expect(results.map((r) => [r.version, r.status])).toEqual([[1, 'not-run']]);
        expect(results[0]!.lintErrors!.map((f) => f.rule)).toContain(c.rule);
        expect(events.map((e) => e.type)).toEqual(['lock-acquired']);
        // Nothing was written: not the statements, not even the bookkeeping.
        expect(await hostState(db)).toEqual(before);
        expect(await schemaExists(db, schema)).toBe(false);
      });
    }

    it('a never-analysed table is probed, so its size is known: the same index on an empty table only gets info and runs', async () => {
      await setUp();
      await sql.raw('create table if not exists lint_host.empty_one (id int primary key, v int)').execute(db);
      const { rows } = await sql<{ reltuples: number }>`select reltuples from pg_class where oid = 'lint_host.empty_one'::regclass`.execute(db);
      expect(Number(rows[0]!.reltuples)).toBeLessThan(0);
      const migrator = new Migrator({ db, schema: 'lint_probe', migrations: [{ version: 1, name: 'empty-idx', up: () => ['create index empty_one_v_idx on lint_host.empty_one (v)'], down: () => ['drop index lint_host.empty_one_v_idx'] }] });
      const [lint] = await migrator.lint({ direction: 'up' });
      expect(lint!.report.findings.map((f) => [f.rule, f.severity])).toEqual([['add-index-non-concurrent', 'info']]);
      expect((await migrator.up()).error).toBeUndefined();
      expect((await migrator.down({ to: 0 })).error).toBeUndefined();
    });

    it('a fresh install of chatkeep lints clean: tables that earlier pending migrations create are known to be empty, not of unknown size', async () => {
      const migrator = chatkeepMigrator(db, { schema: 'lint_fresh', settings: resolveSchemaSettings({}) });
      const lints = await migrator.lint({ direction: 'up' });
      expect(lints.map((l) => l.version)).toEqual(CHATKEEP_MIGRATIONS.map((m) => m.version));
      // Before, 0004 warned [multiple-tables-locked] on every fresh install, as if messages and conversations were live tables.
      expect(lints.flatMap((l) => l.report.findings.filter((f) => f.severity !== 'info').map((f) => `${l.version} ${f.rule}`))).toEqual([]);
    });

    it('a table an earlier pending migration writes rows into counts as of unknown size again; one it only creates stays empty', async () => {
      const schema = 'lint_run_effects';
      const migrations: Migration[] = [
        { version: 1, name: 'tables', up: ({ schema: s }) => [`create table ${s}.filled (id int primary key, v int)`, `create table ${s}.bare (id int primary key, v int)`], down: ({ schema: s }) => [`drop table ${s}.filled, ${s}.bare`] },
        { version: 2, name: 'fill', up: ({ schema: s }) => [`insert into ${s}.filled select g, g from generate_series(1, 100) g`], down: ({ schema: s }) => [`delete from ${s}.filled`] },
        {
          version: 3,
          name: 'indexes',
          up: ({ schema: s }) => [`create index filled_v_idx on ${s}.filled (v)`, `create index bare_v_idx on ${s}.bare (v)`],
          down: ({ schema: s }) => [`drop index ${s}.filled_v_idx`, `drop index ${s}.bare_v_idx`],
        },
      ];
      const lints = await new Migrator({ db, schema, migrations }).lint({ direction: 'up' });
      const indexFindings = lints[2]!.report.findings.filter((f) => f.rule === 'add-index-non-concurrent').map((f) => [f.statementIndex, f.severity]);
      expect(indexFindings).toEqual([
        [0, 'warning'],
        [1, 'info'],
      ]);
    });

    it('the opt-out: allowLintErrors on up(), in the options, or per rule; the accepted errors are reported; suppression needs none', async () => {
      await setUp();
      const index = DANGEROUS.find((c) => c.rule === 'add-index-non-concurrent')!;
      const migration: Migration = { ...migrationFor(index), down: () => ['drop index lint_host.big_v_idx'] };
      const revert = async (m: Migrator) => expect((await m.down({ to: 0 })).error).toBeUndefined();

      // up({ allowLintErrors: true })
      const events: MigrationEvent[] = [];
      const perRun = new Migrator({ db, schema: 'lint_allow_run', migrations: [migration], onEvent: (e) => events.push(e) });
      const run = await perRun.up({ allowLintErrors: true });
      expect(run.error).toBeUndefined();
      expect(run.results.map((r) => [r.status, r.lintErrors?.map((f) => f.rule)])).toEqual([['applied', ['add-index-non-concurrent']]]);
      const allowed = events.find((e) => e.type === 'lint-errors-allowed');
      expect(allowed).toMatchObject({ version: 1, name: 'danger-add-index-non-concurrent', direction: 'up' });
      expect(allowed?.findings?.map((f) => f.rule)).toEqual(['add-index-non-concurrent']);
      expect(events.findIndex((e) => e.type === 'lint-errors-allowed')).toBeLessThan(events.findIndex((e) => e.type === 'migration-start'));
      await revert(perRun);

      // MigratorOptions.allowLintErrors, by rule id; up() can still override it
      const byRule = new Migrator({ db, schema: 'lint_allow_rule', migrations: [migration], allowLintErrors: ['add-index-non-concurrent'] });
      expect((await byRule.up({ allowLintErrors: false })).error?.code).toBe('CK_MIGRATION_LINT');
      expect((await byRule.up()).error).toBeUndefined();
      await revert(byRule);

      // a list that does not name the rule accepts nothing of it
      const otherRule = new Migrator({ db, schema: 'lint_allow_other', migrations: [migration], allowLintErrors: ['drop-column'] });
      expect((await otherRule.up()).error?.code).toBe('CK_MIGRATION_LINT');
      expect(await schemaExists(db, 'lint_allow_other')).toBe(false);

      // a justified -- lint-ignore: comment suppresses the finding, and the migration runs without any opt-out
      const suppressed: Migration = {
        ...migration,
        up: () => ['-- lint-ignore: add-index-non-concurrent built in the maintenance window of 2024-06-01\ncreate index big_v_idx on lint_host.big (v)'],
      };
      const quiet = new Migrator({ db, schema: 'lint_suppressed', migrations: [suppressed] });
      const q = await quiet.up();
      expect(q.error).toBeUndefined();
      expect(q.results[0]!.lintErrors).toBeUndefined();
      await revert(quiet);
    });

    it('refused with history in place: earlier migrations, the versions and the log are untouched; every refused migration is named', async () => {
      await setUp();
      const schema = 'lint_history';
      const safe: Migration = { version: 1, name: 'safe', up: ({ schema: s }) => [`create table ${s}.t (id int)`], down: ({ schema: s }) => [`drop table ${s}.t`] };
      const first = new Migrator({ db, schema, migrations: [safe] });
      expect((await first.up()).error).toBeUndefined();
      const before = { host: await hostState(db), schema: (await fingerprint(db, [schema])).lines, log: (await first.history()).length };
      const safeToo: Migration = { version: 2, name: 'safe-too', up: ({ schema: s }) => [`create table ${s}.u (id int)`], down: ({ schema: s }) => [`drop table ${s}.u`] };
      const indexed = { ...migrationFor(DANGEROUS[0]!, 3) };
      const renamed = { ...migrationFor(DANGEROUS.find((c) => c.rule === 'rename-column')!, 4) };
      const concurrent: Migration = { version: 5, name: 'fine', transactional: false, up: () => [concurrentIndex({ name: 'big_v4_idx', table: 'lint_host.big', columns: 'v' })], down: () => ['drop index concurrently if exists lint_host.big_v4_idx'] };
      const { error, results } = await new Migrator({ db, schema, migrations: [safe, safeToo, indexed, renamed, concurrent] }).up();
      expect(error?.code).toBe('CK_MIGRATION_LINT');
      expect(error?.message).toMatch(/^Refused to run: 2 pending migrations have lint errors/);
      expect(error?.message).toContain('Migration 3 danger-add-index-non-concurrent (up), statement 1 [add-index-non-concurrent]');
      expect(error?.message).toContain('Migration 4 danger-rename-column (up), statement 1 [rename-column]');
      expect(results.map((r) => [r.version, r.status, r.lintErrors?.map((f) => f.rule)])).toEqual([
        [2, 'not-run', undefined],
        [3, 'not-run', ['add-index-non-concurrent']],
        [4, 'not-run', ['rename-column']],
        [5, 'not-run', undefined],
      ]);
      expect({ host: await hostState(db), schema: (await fingerprint(db, [schema])).lines, log: (await first.history()).length }).toEqual(before);
      // `down` is not gated: reverting is how a bad deploy is undone.
      expect((await first.down({ to: 0 })).error).toBeUndefined();
    });

    it('an upgrade of chatkeep on populated conversations and messages passes the gate', async () => {
      const schema = 'lint_chatkeep';
      const settings = resolveSchemaSettings({});
      const migrator = chatkeepMigrator(db, { schema, settings });
      expect((await migrator.up({ to: 3 })).error).toBeUndefined();
      await sql.raw(`insert into ${schema}.conversations (user_id) select 'user-' || g from generate_series(1, 300) g`).execute(db);
      await sql.raw(`insert into ${schema}.messages (user_id, conversation_id, role, content) select user_id, id, 'user', 'hello' from ${schema}.conversations`).execute(db);
      await sql.raw(`analyze ${schema}.conversations`).execute(db);
      const lints = await migrator.lint({ direction: 'up' });
      expect(lints.flatMap((l) => l.report.findings.filter((f) => f.severity === 'error'))).toEqual([]);
      const { error, results } = await migrator.up();
      expect(error, error?.message).toBeUndefined();
      expect(results.map((r) => r.status)).toEqual(CHATKEEP_MIGRATIONS.filter((m) => m.version > 3).map(() => 'applied'));
      expect((await migrator.down({ to: 0 })).error).toBeUndefined();
    });
  });
}
