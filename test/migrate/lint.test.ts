import { describe, expect, it } from 'vitest';
import { lintMigration, lintStatements, RULE_IDS, type LintOptions, type RunnerSettings } from '../../src/migrate/lint/index.js';
import type { Migration } from '../../src/migrate/migration.js';
import { CHATKEEP_MIGRATIONS } from '../../src/schema/migrations.js';
import { DEFAULT_SCHEMA_SETTINGS, settingsToJson } from '../../src/schema/schema-settings.js';
import { PG_AVAILABLE } from '../support/backends.js';
import { usePgClient } from '../support/pg-client-fixture.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
const NO_TX: RunnerSettings = { ...TX, transactional: false };
const POPULATED: LintOptions = { tableRows: () => 1_000_000 };

/** One row per rule: SQL that must trigger it, and the safe way to do the same that must not. */
interface RuleCase {
  readonly rule: string;
  readonly dangerous: readonly string[];
  readonly safe: readonly string[];
  readonly settings?: RunnerSettings;
  readonly safeSettings?: RunnerSettings;
  readonly options?: LintOptions;
}

const CASES: readonly RuleCase[] = [
  {
    rule: 'add-column-rewrite',
    dangerous: ['alter table app.messages add column token uuid not null default gen_random_uuid()'],
    safe: [`alter table app.messages add column aborted boolean not null default false`, `alter table app.messages add column seen_at timestamptz default now()`],
  },
  {
    rule: 'add-column-not-null-without-default',
    dangerous: ['alter table app.messages add column rank integer not null'],
    safe: ['alter table app.messages add column rank integer not null default 0'],
  },
  {
    rule: 'alter-column-type',
    dangerous: ['alter table app.messages alter column seq type integer'],
    safe: ['alter table app.messages alter column title type varchar(200)'],
    options: { ...POPULATED, columnType: (_t, c) => (c === 'title' ? 'character varying(100)' : 'bigint') },
  },
  {
    rule: 'set-not-null',
    dangerous: ['alter table app.messages alter column turn_id set not null'],
    safe: [
      'alter table app.messages validate constraint messages_turn_id_not_null',
      'alter table app.messages alter column turn_id set not null',
    ],
  },
  {
    rule: 'add-foreign-key-without-not-valid',
    dangerous: ['alter table app.messages add constraint messages_turn_fk foreign key (turn_id) references app.turns (id)'],
    safe: ['alter table app.messages add constraint messages_turn_fk foreign key (turn_id) references app.turns (id) not valid'],
  },
  {
    rule: 'add-check-without-not-valid',
    dangerous: ['alter table app.messages add constraint messages_len check (char_length(content) < 10000)'],
    safe: ['alter table app.messages add constraint messages_len check (char_length(content) < 10000) not valid'],
  },
  {
    rule: 'add-constraint-builds-index',
    dangerous: ['alter table app.messages add constraint messages_id_key unique (id)'],
    safe: ['alter table app.messages add constraint messages_id_key unique using index messages_id_idx'],
  },
  {
    rule: 'add-index-non-concurrent',
    dangerous: ['create index messages_created_idx on app.messages (created_at)'],
    safe: ['create index concurrently if not exists messages_created_idx on app.messages (created_at)'],
    safeSettings: { ...NO_TX, statementTimeout: '0' },
  },
  {
    rule: 'drop-index-non-concurrent',
    dangerous: ['drop index app.messages_created_idx'],
    safe: ['drop index concurrently if exists app.messages_created_idx'],
    safeSettings: NO_TX,
  },
  {
    rule: 'concurrent-in-transaction',
    dangerous: ['create index concurrently if not exists messages_created_idx on app.messages (created_at)'],
    safe: ['create index concurrently if not exists messages_created_idx on app.messages (created_at)'],
    safeSettings: NO_TX,
  },
  {
    rule: 'non-transactional-not-idempotent',
    settings: NO_TX,
    dangerous: ['create index concurrently messages_created_idx on app.messages (created_at)'],
    safe: ['create index concurrently if not exists messages_created_idx on app.messages (created_at)'],
  },
  {
    rule: 'validate-in-same-transaction',
    dangerous: [
      'alter table app.messages add constraint messages_len check (char_length(content) < 10000) not valid',
      'alter table app.messages validate constraint messages_len',
    ],
    safe: ['alter table app.messages validate constraint messages_len'],
  },
  {
    rule: 'drop-table',
    dangerous: ['drop table app.messages'],
    safe: ['create table app.scratch (id bigint)', 'drop table app.scratch'],
  },
  {
    rule: 'truncate-table',
    dangerous: ['truncate app.messages, app.turns restart identity'],
    safe: ['create table app.scratch (id bigint)', 'truncate table only app.scratch'],
  },
  {
    rule: 'drop-column',
    dangerous: ['alter table app.messages drop column summary'],
    safe: ['alter table app.messages alter column summary drop default'],
  },
  {
    rule: 'rename-table',
    dangerous: ['alter table app.messages rename to chat_messages'],
    safe: ['create table app.chat_messages (id bigint)', 'alter table app.chat_messages rename to messages2'],
  },
  {
    rule: 'rename-column',
    dangerous: ['alter table app.messages rename column content to body'],
    safe: ['alter table app.messages add column body text'],
  },
  {
    rule: 'rewrite-command',
    dangerous: ['vacuum full app.messages'],
    safe: ['vacuum (analyze) app.messages'],
  },
  {
    rule: 'lock-table',
    dangerous: ['lock table app.messages in access exclusive mode'],
    safe: ['select 1 from app.messages limit 1'],
  },
  {
    rule: 'lock-timeout',
    dangerous: ['set local lock_timeout = 0', 'alter table app.messages add column note text'],
    safe: ['alter table app.messages add column note text'],
  },
  {
    rule: 'statement-timeout',
    settings: { ...TX, statementTimeout: '0' },
    dangerous: ['alter table app.messages add column note text'],
    safe: ['alter table app.messages add column note text'],
    safeSettings: TX,
  },
  {
    rule: 'multiple-tables-locked',
    dangerous: ['alter table app.messages add column note text', 'alter table app.conversations add column note text'],
    safe: ['alter table app.messages add column note text', 'alter table app.messages add column note2 text'],
  },
  {
    rule: 'unbatched-backfill',
    dangerous: ["update app.messages set metadata = '{}' where metadata is null"],
    safe: ["update app.scratch set note = 'x'", 'create table app.scratch (note text)'].reverse(),
  },
];

describe('lint rules: each fires on its dangerous pattern and not on the safe one', () => {
  it('has a case for every statement rule', () => {
    const meta = ['missing-down', 'render-error', 'sql-syntax', 'lint-ignore-invalid', 'down-assumes-whole-up']; // the last: lint-down-after-partial-up.test.ts
    expect(CASES.map((c) => c.rule).sort()).toEqual(RULE_IDS.filter((id) => !meta.includes(id)).sort());
  });

  for (const c of CASES) {
    it(`${c.rule}: dangerous`, () => {
      const { findings } = lintStatements(c.dangerous, c.settings ?? TX, c.options ?? POPULATED);
      const hit = findings.filter((f) => f.rule === c.rule);
      expect(hit.length, JSON.stringify(findings, null, 2)).toBeGreaterThan(0);
      expect(hit[0]!.message.length).toBeGreaterThan(20);
      expect(hit[0]!.fix.length).toBeGreaterThan(10);
    });
    it(`${c.rule}: safe (info at most)`, () => {
      const { findings } = lintStatements(c.safe, c.safeSettings ?? c.settings ?? TX, c.options ?? POPULATED);
      expect(findings.filter((f) => f.rule === c.rule && f.severity !== 'info')).toEqual([]);
    });
  }
});

describe('lint: table size decides severity', () => {
  const index = ['create index messages_created_idx on app.messages (created_at)'];
  it('a non-concurrent index is an error on a populated table, info on an empty one, a warning when unknown', () => {
    expect(lintStatements(index, TX, { tableRows: () => 50_000 }).findings.map((f) => f.severity)).toEqual(['error']);
    expect(lintStatements(index, TX, { tableRows: () => 0 }).findings.map((f) => f.severity)).toEqual(['info']);
    expect(lintStatements(index, TX, { tableRows: () => -1 }).findings.map((f) => f.severity)).toEqual(['warning']);
    expect(lintStatements(index, TX).findings.map((f) => f.severity)).toEqual(['warning']);
  });
  it('nothing on a table created earlier in the same migration', () => {
    const sql = ['create table app.notes (id bigint primary key, body text)', 'create index notes_body_idx on app.notes (body)', 'alter table app.notes alter column body set not null'];
    expect(lintStatements(sql, TX, POPULATED).findings).toEqual([]);
  });
  it('names the table, the column and the row estimate', () => {
    const [f] = lintStatements(['alter table app.messages alter column turn_id set not null'], TX, { tableRows: () => 1234567 }).findings;
    expect(f?.message).toContain('app.messages.turn_id');
    expect(f?.message).toContain('~1,234,567 rows');
  });
  it('an unqualified name resolves to defaultSchema', () => {
    const seen: string[] = [];
    lintStatements(['create index i on messages (a)'], TX, { defaultSchema: 'app', tableRows: (t) => (seen.push(t), 1) });
    expect(seen).toContain('app.messages');
  });
});

describe('lint: what a rule covers beyond its first example', () => {
  const rules = (sql: string, options: LintOptions = POPULATED) =>
    lintStatements([sql], TX, options).findings.map((f) => `${f.rule}:${f.severity}`);

  it('ADD COLUMN … CHECK is add-check-without-not-valid: the new CHECK is checked against every existing row', () => {
    // The claim itself (the scan) is checked on PostgreSQL below.
    expect(rules('alter table app.messages add column score integer check (score > 0)')).toEqual(['add-check-without-not-valid:error']);
    expect(rules('alter table app.messages add column score integer check (score > 0)', { tableRows: () => 0 })).toEqual(['add-check-without-not-valid:info']);
  });

  it('a default calling a function the lint does not know: a warning on a populated table, info on an empty one', () => {
    const sql = 'alter table app.messages add column slug text default app.make_slug()';
    expect(rules(sql)).toEqual(['add-column-rewrite:warning']);
    expect(rules(sql, { tableRows: () => 0 })).toEqual(['add-column-rewrite:info']);
  });

  it("nextval() is volatile: a default drawing from a sequence rewrites a populated table (an error, not 'unknown')", () => {
    const [finding] = lintStatements(["alter table app.messages add column n bigint default nextval('app.messages_n_seq')"], TX, POPULATED).findings;
    expect([finding?.rule, finding?.severity]).toEqual(['add-column-rewrite', 'error']);
    expect(finding?.message).toContain('nextval()');
  });

  it('a cast with a type modifier is not a function call: 0::numeric(10,2) is a constant default', () => {
    expect(rules('alter table app.messages add column price numeric(10,2) not null default 0::numeric(10,2)')).toEqual([]);
    expect(rules("alter table app.messages add column label varchar(20) default 'x'::varchar(20)")).toEqual([]);
    expect(rules("alter table app.messages add column label varchar(20) default 'x'::character varying(20)")).toEqual([]);
    expect(rules("alter table app.messages add column label varchar(20) default cast('x' as character varying(20))")).toEqual([]);
    // A function call is still one after a type: the cast does not hide it.
    expect(rules("alter table app.messages add column label text default lower('X')::varchar(20) || my_fn('y')")).not.toEqual([]);
  });

  it('RENAME COLUMN breaks old code whatever the table holds: an error on an empty table and on one of unknown size, nothing on a new one', () => {
    const rename = 'alter table app.messages rename column content to body';
    expect(rules(rename, { tableRows: () => 0 })).toEqual(['rename-column:error']);
    expect(rules(rename, {})).toEqual(['rename-column:error']);
    expect(lintStatements(['create table app.messages (content text)', rename], TX, POPULATED).findings).toEqual([]);
  });
});

describe('lint: lexing never reads inside literals, comments or dollar quotes', () => {
  it('a function body full of dangerous DDL is not linted', () => {
    const body = `create function app.f() returns void language plpgsql as $fn$
begin
  create index x on app.messages (a);
  alter table app.messages drop column y;
  execute 'vacuum full app.messages';
end
$fn$`;
    expect(lintStatements([body], TX, POPULATED).findings).toEqual([]);
  });
  it('strings, quoted identifiers and comments hide keywords and semicolons', () => {
    const sql = [
      `comment on table app.messages is 'drop table app.messages; create index i on app.messages (a)'`,
      `/* alter table app.messages drop column x; */ select "drop table", E'\\'; vacuum full app.messages'`,
    ];
    expect(lintStatements(sql, TX, POPULATED).findings).toEqual([]);
  });
  it('quoted identifiers keep their case; an entry with two statements lints both', () => {
    const { findings } = lintStatements(['alter table app."Messages" add column a text; create index i on app."Messages" (a)'], TX, {
      tableRows: (t) => (t === 'app.Messages' ? 10 : undefined),
    });
    expect(findings.map((f) => `${f.rule}:${f.severity}`)).toContain('add-index-non-concurrent:error');
  });
  it('an unterminated dollar quote is a sql-syntax finding, not a crash', () => {
    expect(lintStatements(['create function f() returns int as $x$ select 1'], TX).findings.map((f) => f.rule)).toEqual(['sql-syntax']);
  });
  it('CONCURRENTLY in an entry that holds several statements fails even outside a transaction', () => {
    const sql = ['create index concurrently if not exists a on app.m (a); create index concurrently if not exists b on app.m (b)'];
    expect(lintStatements(sql, NO_TX, { tableRows: () => 0 }).findings.map((f) => f.rule)).toContain('concurrent-in-transaction');
  });
});

describe('lint: the runner settings', () => {
  const add = ['alter table app.messages add column note text'];
  it('no lock_timeout is an error, a long one a warning, the default nothing', () => {
    expect(lintStatements(add, { ...TX, lockTimeout: '0' }, POPULATED).findings.map((f) => `${f.rule}:${f.severity}`)).toEqual(['lock-timeout:error']);
    expect(lintStatements(add, { ...TX, lockTimeout: '1min' }, POPULATED).findings.map((f) => `${f.rule}:${f.severity}`)).toEqual(['lock-timeout:warning']);
    expect(lintStatements(add, TX, POPULATED).findings).toEqual([]);
  });
  it('RESET lock_timeout inside the migration drops the runner setting', () => {
    const { findings } = lintStatements(['reset lock_timeout', ...add], TX, POPULATED);
    expect(findings.map((f) => f.rule)).toEqual(['lock-timeout']);
    expect(findings[0]!.statementIndex).toBe(1);
  });
  it('reports lock-timeout once per migration', () => {
    const { findings } = lintStatements([...add, 'alter table app.messages add column b text'], { ...TX, lockTimeout: '0' }, POPULATED);
    expect(findings.filter((f) => f.rule === 'lock-timeout')).toHaveLength(1);
  });
  it('a migration without transaction does not hold locks across statements', () => {
    const sql = ['alter table app.messages add column note text', 'alter table app.conversations add column note text'];
    expect(lintStatements(sql, NO_TX, POPULATED).findings.filter((f) => f.rule === 'multiple-tables-locked')).toEqual([]);
  });
});

describe('lint: suppression', () => {
  const index = 'create index messages_created_idx on app.messages (created_at)';
  it('-- lint-ignore: <rule> <reason> suppresses that rule for the next statement and keeps the reason', () => {
    const report = lintStatements([`-- lint-ignore: add-index-non-concurrent built at install, table is tiny\n${index}`], TX, POPULATED);
    expect(report.findings).toEqual([]);
    expect(report.suppressed.map((s) => [s.rule, s.reason])).toEqual([['add-index-non-concurrent', 'built at install, table is tiny']]);
  });
  it('only the named rule, only the next statement', () => {
    const report = lintStatements([`-- lint-ignore: drop-column old code is gone\n${index}; alter table app.messages drop column x`], TX, POPULATED);
    expect(report.findings.map((f) => f.rule).sort()).toEqual(['add-index-non-concurrent', 'drop-column']);
  });
  it('requires a reason', () => {
    const report = lintStatements([`-- lint-ignore: add-index-non-concurrent\n${index}`], TX, POPULATED);
    expect(report.findings.map((f) => f.rule).sort()).toEqual(['add-index-non-concurrent', 'lint-ignore-invalid']);
    expect(report.suppressed).toEqual([]);
  });
  it('rejects an unknown rule id', () => {
    const report = lintStatements([`-- lint-ignore: no-such-rule because\n${index}`], TX, POPULATED);
    expect(report.findings.map((f) => f.rule).sort()).toEqual(['add-index-non-concurrent', 'lint-ignore-invalid']);
  });
});

describe('lintMigration', () => {
  const context = { schema: 'app', settings: {} };
  const base: Migration = {
    version: 7,
    name: 'notes',
    up: ({ schema }) => [`create table ${schema}.notes (id bigint)`],
    down: ({ schema }) => [`drop table ${schema}.notes`],
  };
  it('a migration with a down has no missing-down finding', () => {
    expect(lintMigration(base, context).findings).toEqual([]);
  });
  it('down returning [] or throwing is missing-down', () => {
    expect(lintMigration({ ...base, down: () => [] }, context).findings.map((f) => [f.rule, f.statementIndex])).toEqual([['missing-down', -1]]);
    const throwing = { ...base, down: () => { throw new Error('irreversible'); } };
    expect(lintMigration(throwing, context).findings.map((f) => f.rule)).toEqual(['missing-down']);
  });
  it("uses the migration's own transaction and timeout settings", () => {
    const concurrent: Migration = {
      ...base,
      up: ({ schema }) => [`create index concurrently if not exists notes_idx on ${schema}.messages (id)`],
      down: ({ schema }) => [`drop index concurrently if exists ${schema}.notes_idx`],
    };
    expect(lintMigration(concurrent, context, { tableRows: () => 0 }).findings.map((f) => f.rule)).toEqual(['concurrent-in-transaction']);
    expect(lintMigration({ ...concurrent, transactional: false }, context, { tableRows: () => 0 }).findings).toEqual([]);
    const noWait = { ...base, lockTimeout: '0', up: ({ schema }: { schema: string }) => [`alter table ${schema}.messages add column n text`] };
    expect(lintMigration(noWait, context, POPULATED).findings.map((f) => f.rule)).toEqual(['lock-timeout']);
  });
  it('lints down with direction: down (dropping what up created is info)', () => {
    const report = lintMigration(base, context, { direction: 'down', tableRows: () => 10 });
    expect(report.findings.map((f) => `${f.rule}:${f.severity}`)).toEqual(['drop-table:info']);
  });
});

describe("lint: chatkeep's own migrations", () => {
  const context = { schema: 'chatkeep', settings: settingsToJson(DEFAULT_SCHEMA_SETTINGS) };
  it('produce no errors or warnings on empty tables (every table is new, or altered while empty)', () => {
    for (const migration of CHATKEEP_MIGRATIONS) {
      const { findings } = lintMigration(migration, context, { tableRows: () => 0 });
      expect(findings.filter((f) => f.severity !== 'info'), `${migration.version} ${migration.name}`).toEqual([]);
    }
  });
  it('with a populated messages table: 0004 adds a constant-default column (no rewrite) but holds two tables locked', () => {
    const tableRows = (t: string) => (t === 'chatkeep.messages' || t === 'chatkeep.conversations' ? 5_000_000 : 0);
    const byVersion = Object.fromEntries(
      CHATKEEP_MIGRATIONS.map((m) => [m.version, lintMigration(m, context, { tableRows }).findings.map((f) => `${f.rule}:${f.severity}`)]),
    );
    expect(byVersion[4]).not.toContain('add-column-rewrite:error');
    expect(byVersion[4]?.some((f) => f.startsWith('add-column-rewrite'))).toBe(false);
    expect(byVersion[4]).toEqual(['multiple-tables-locked:warning']);
    for (const version of [1, 2, 3, 5, 6]) expect(byVersion[version] ?? [], `migration ${version}`).toEqual([]);
  });
});

describe.skipIf(!PG_AVAILABLE)('lint claims checked on real PostgreSQL (relfilenode changes exactly when the table is rewritten)', () => {
  const pgClient = usePgClient((c) => c.query('create sequence public.lint_seq'));

  const claims = [
    { alter: 'add column flag boolean not null default false', rewrites: false },
    { alter: "add column created timestamptz not null default now()", rewrites: false },
    { alter: 'add column token uuid not null default gen_random_uuid()', rewrites: true },
    { alter: "add column serial_no bigint default nextval('public.lint_seq')", rewrites: true },
    { alter: 'add column price numeric(10,2) not null default 0::numeric(10,2)', rewrites: false },
    { alter: 'alter column n type bigint', rewrites: true },
    { alter: 'alter column title type varchar(200)', rewrites: false },
    { alter: 'alter column title type text', rewrites: false },
  ];
  for (const claim of claims) {
    it(`${claim.alter}: ${claim.rewrites ? 'rewrites' : 'no rewrite'}, as the lint says`, async () => {
      await pgClient().query('drop table if exists public.lint_probe');
      await pgClient().query('create table public.lint_probe (id bigint generated always as identity primary key, n integer, title varchar(100))');
      await pgClient().query(`insert into public.lint_probe (n, title) select g, 'row ' || g from generate_series(1, 1000) g`);
      await pgClient().query('analyze public.lint_probe');
      const filenode = async () => (await pgClient().query<{ f: string }>(`select relfilenode::text as f from pg_class where oid = 'public.lint_probe'::regclass`)).rows[0]!.f;
      const columnTypes = new Map(
        (await pgClient().query<{ attname: string; t: string }>(`select attname, format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'public.lint_probe'::regclass and attnum > 0`)).rows.map((r) => [r.attname, r.t]),
      );
      const sqlText = `alter table public.lint_probe ${claim.alter}`;
      const { findings } = lintStatements([sqlText], TX, { tableRows: () => 1000, columnType: (_t, c) => columnTypes.get(c) });
      const predicted = findings.some((f) => (f.rule === 'add-column-rewrite' || f.rule === 'alter-column-type') && f.severity === 'error');

      const before = await filenode();
      await pgClient().query(sqlText);
      const rewritten = (await filenode()) !== before;
      expect(rewritten).toBe(claim.rewrites);
      expect(predicted).toBe(claim.rewrites);
    });
  }

  it('ADD COLUMN … CHECK checks every existing row (as add-check-without-not-valid says): one row that breaks it fails the ALTER', async () => {
    await pgClient().query('drop table if exists public.lint_probe');
    await pgClient().query('create table public.lint_probe (id bigint primary key, n integer)');
    await pgClient().query('insert into public.lint_probe select g, g from generate_series(1, 1000) g');
    await pgClient().query('update public.lint_probe set n = -1 where id = 777');
    await expect(pgClient().query('alter table public.lint_probe add column m integer default 1 check (m <= n)')).rejects.toThrow(/violated by some row/);
  });
});

describe('lint: steps and docs', () => {
  it('a concurrentIndex step in a transactional migration runs outside the transaction: no concurrent-in-transaction', () => {
    const phased: Migration = {
      version: 9,
      name: 'phased',
      up: ({ schema }) => [
        `alter table ${schema}.messages add column preview text`,
        { kind: 'concurrent-index', name: 'messages_preview_idx', table: `${schema}.messages`, columns: 'preview' },
        `alter table ${schema}.messages add constraint messages_preview_check check (preview is not null) not valid`,
        { kind: 'verify', name: 'x', query: 'select true' },
        `alter table ${schema}.messages validate constraint messages_preview_check`,
      ],
      down: ({ schema }) => [`alter table ${schema}.messages drop column preview`],
    };
    const rules = lintMigration(phased, { schema: 'app', settings: {} }, { tableRows: () => 0 }).findings.map((f) => f.rule);
    expect(rules).not.toContain('concurrent-in-transaction');
    expect(rules).not.toContain('validate-in-same-transaction');
  });

  it('a non-transactional migration: ADD … NOT VALID and VALIDATE in one entry (one implicit transaction) is flagged, in two entries it is not', () => {
    const migration = (up: string[]): Migration => ({ version: 9, name: 'checks', transactional: false, up: () => up, down: () => [] });
    const add = 'alter table app.messages add constraint messages_len check (char_length(content) < 10000) not valid';
    const validate = 'alter table app.messages validate constraint messages_len';
    const rulesOf = (m: Migration) => lintMigration(m, { schema: 'app', settings: {} }, { tableRows: () => 1_000 }).findings.map((f) => f.rule);
    expect(rulesOf(migration([`${add}; ${validate}`]))).toContain('validate-in-same-transaction');
    expect(rulesOf(migration([add, validate]))).not.toContain('validate-in-same-transaction');
  });

  it('docs/migration-lint.md documents every rule id', async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile(new URL('../../docs/migration-lint.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^### `([a-z-]+)`$/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...RULE_IDS].sort());
  });
});
