import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { cleanupBackups, dropColumnWithBackup, dropTableWithBackup } from '../../src/migrate/backups/index.js';
import { expandColumn } from '../../src/migrate/expand-contract/index.js';
import { checksumOf, fingerprint, lintMigration, lintStatements, Migrator, type Migration, type MigrationStatement } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { configErrorOf } from '../support/config-error.js';

/**
 * The builders for destructive steps write `-- lint-ignore(<builder>):`
 * comments for what they make safe themselves, and leave the one decision
 * they cannot take — no deployed code uses the table or column any more — to
 * their `unusedBecause` option, scoped to that one call: without it `up`
 * refuses (CK_MIGRATION_LINT), with it the text is the suppression's reason.
 * The comments are not part of the checksum, so migrations applied before
 * the builders wrote them are not refused as edited.
 */
const REASON = 'app 4.2 no longer reads or writes it; every instance upgraded on 2024-05-02';

/** A destructive builder call, from a populated table to the migration that needs the decision. */
interface Scenario {
  readonly label: string;
  /** The rule that stays an error until `unusedBecause` is given. */
  readonly rule: string;
  /** Creates and fills the table; the last one is the version to stand at before the change. */
  readonly before: readonly Migration[];
  readonly change: (unusedBecause?: string) => Migration;
  /** The refused statement as the refusal quotes it. */
  readonly refused: (s: string) => string;
  /** Whether the change ran: the table or column is gone from the schema. */
  readonly done: (db: Kysely<any>, s: string) => Promise<boolean>;
}

const exists = async (db: Kysely<any>, query: string): Promise<boolean> => (await sql.raw<{ ok: boolean }>(`select (${query}) as ok`).execute(db)).rows[0]!.ok;
const columnExists = (db: Kysely<any>, s: string, table: string, column: string) =>
  exists(db, `select exists (select 1 from information_schema.columns where table_schema = '${s}' and table_name = '${table}' and column_name = '${column}')`);

const legacy: Migration = {
  version: 1,
  name: 'legacy',
  up: ({ schema: s }) => [`create table ${s}.legacy (id int primary key, body text)`, `insert into ${s}.legacy select g, 'note ' || g from generate_series(1, 500) g`],
  down: ({ schema: s }) => [`drop table ${s}.legacy`],
};
const dropLegacy = (unusedBecause?: string) => (s: string) =>
  dropTableWithBackup({ table: `${s}.legacy`, version: 2, ...(unusedBecause !== undefined ? { unusedBecause } : {}) });

const notes: Migration = {
  version: 1,
  name: 'notes',
  up: ({ schema: s }) => [`create table ${s}.notes (id int primary key, mood text)`, `insert into ${s}.notes select g, 'mood ' || g from generate_series(1, 500) g`],
  down: ({ schema: s }) => [`drop table ${s}.notes`],
};
const dropMood = (unusedBecause?: string) => (s: string) =>
  dropColumnWithBackup({ table: `${s}.notes`, column: 'mood', key: ['id'], version: 2, definition: { type: 'text' }, ...(unusedBecause !== undefined ? { unusedBecause } : {}) });

const products: Migration = {
  version: 1,
  name: 'products',
  up: ({ schema: s }) => [`create table ${s}.products (id bigint primary key, title text)`, `insert into ${s}.products select g, 'title ' || g from generate_series(1, 500) g`],
  down: ({ schema: s }) => [`drop table ${s}.products`],
};
const rename = expandColumn({ table: 'products', from: { column: 'title', type: 'text' }, to: { column: 'name' } });

const fromBuilder = (version: number, name: string, build: (s: string) => { up: readonly MigrationStatement[]; down: readonly MigrationStatement[] }): Migration => ({
  version,
  name,
  up: ({ schema: s }) => build(s).up,
  down: ({ schema: s }) => build(s).down,
});

const SCENARIOS: readonly Scenario[] = [
  {
    label: 'dropTableWithBackup',
    rule: 'rename-table',
    before: [legacy],
    change: (u) => fromBuilder(2, 'drop-legacy', dropLegacy(u)),
    refused: (s) => `alter table ${s}.legacy set schema ${s}__ck_backup_v2`,
    done: async (db, s) => !(await exists(db, `select to_regclass('${s}.legacy') is not null`)),
  },
  {
    label: 'dropColumnWithBackup',
    rule: 'drop-column',
    before: [notes],
    change: (u) => fromBuilder(2, 'drop-mood', dropMood(u)),
    refused: (s) => `alter table ${s}.notes drop column mood`,
    done: async (db, s) => !(await columnExists(db, s, 'notes', 'mood')),
  },
  {
    label: 'expandColumn contract',
    rule: 'drop-column',
    before: [products, rename.expand(2, 'products-name')],
    change: (u) => rename.contract(3, 'products-name-complete', u !== undefined ? { unusedBecause: u } : {}),
    refused: (s) => `alter table ${s}."products" drop column "title"`,
    done: async (db, s) => !(await columnExists(db, s, 'products', 'title')),
  },
];

/** The SQL an earlier chatkeep rendered: the same statements without the builders' lint comments. */
const asBefore = (migration: Migration): Migration => {
  const strip = (statements: readonly MigrationStatement[]) => statements.map((st) => (typeof st === 'string' ? st.replace(/^(?:-- lint-[^\n]*\n)+/, '') : st));
  return { ...migration, up: (ctx) => strip(migration.up(ctx)), down: (ctx) => strip(migration.down(ctx)) };
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: destructive builders leave the decision to unusedBecause`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    for (const [index, scenario] of SCENARIOS.entries()) {
      it(`${scenario.label} without unusedBecause: up refuses with CK_MIGRATION_LINT naming ${scenario.rule} and the statement; nothing is written; the fix names the option`, async () => {
        const db = scratch.database.db;
        const s = `bl_refuse_${index}`;
        const migrator = new Migrator({ db, schema: s, migrations: [...scenario.before, scenario.change()] });
        const at = scenario.before.at(-1)!.version;
        expect((await migrator.up({ to: at })).error).toBeUndefined();
        const schemaBefore = (await fingerprint(db, [s])).lines;
        const logBefore = (await migrator.history()).length;

        const { error, results } = await migrator.up();
        expect(error?.code, error?.message).toBe('CK_MIGRATION_LINT');
        // Only the decision is left: what the builder makes safe (its own LOCK TABLE, …) is suppressed.
        expect(error?.details['rules']).toEqual([scenario.rule]);
        expect(error?.message).toContain(`[${scenario.rule}] \`${scenario.refused(s)}\``);
        // The refusal itself says how to go on, not only `migrate plan`.
        expect(error?.message).toMatch(/\n {4}fix: .*unusedBecause/);
        expect(results.map((r) => [r.version, r.status])).toEqual([[at + 1, 'not-run']]);
        expect(results[0]!.lintErrors!.map((f) => f.rule)).toEqual([scenario.rule]);

        expect((await fingerprint(db, [s])).lines).toEqual(schemaBefore);
        expect(await exists(db, `select exists (select 1 from pg_namespace where nspname = '${s}__ck_backup_v2')`)).toBe(false);
        expect(await scenario.done(db, s)).toBe(false);
        expect((await migrator.status()).current).toBe(at);
        expect((await migrator.history()).length).toBe(logBefore);

        // What `migrate plan` shows: the finding, with a fix naming the option.
        const [lint] = await migrator.lint({ direction: 'up' });
        const finding = lint!.report.findings.find((f) => f.rule === scenario.rule);
        expect(finding?.severity).toBe('error');
        expect(finding?.fix).toContain('unusedBecause');
      });

      it(`${scenario.label} with unusedBecause: the lint report shows ${scenario.rule} suppressed with that reason, and up runs without allowLintErrors`, async () => {
        const db = scratch.database.db;
        const s = `bl_accept_${index}`;
        const migrator = new Migrator({ db, schema: s, migrations: [...scenario.before, scenario.change(REASON)] });
        const at = scenario.before.at(-1)!.version;
        expect((await migrator.up({ to: at })).error).toBeUndefined();

        const [lint] = await migrator.lint({ direction: 'up' });
        expect(lint!.report.findings.filter((f) => f.severity === 'error')).toEqual([]);
        expect(lint!.report.suppressed).toContainEqual(expect.objectContaining({ rule: scenario.rule, severity: 'error', reason: REASON }));

        const { error, results } = await migrator.up();
        expect(error).toBeUndefined();
        expect(results.map((r) => [r.version, r.status, r.lintErrors])).toEqual([[at + 1, 'applied', undefined]]);
        expect(await scenario.done(db, s)).toBe(true);
        // The decision is scoped to the call: down (never gated) brings it back.
        expect((await migrator.down({ to: at })).error).toBeUndefined();
        expect(await scenario.done(db, s)).toBe(false);
      });
    }

    it('dropTableWithBackup suppresses its own LOCK TABLE with the builder\'s reason, not the user\'s', async () => {
      const db = scratch.database.db;
      const migrator = new Migrator({ db, schema: 'bl_lock', migrations: [legacy, SCENARIOS[0]!.change(REASON)] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      const [lint] = await migrator.lint({ direction: 'up' });
      const byRule = new Map(lint!.report.suppressed.map((f) => [f.rule, f]));
      expect(byRule.get('lock-table')).toMatchObject({ severity: 'error', statementIndex: 1 });
      expect(byRule.get('lock-table')?.reason).toMatch(/^the move below needs this lock anyway/);
      expect(byRule.get('rename-table')?.reason).toBe(REASON);
    });

    it('migrations applied by an earlier chatkeep, whose builders wrote no lint comments, are not refused as edited', async () => {
      const db = scratch.database.db;
      for (const [index, scenario] of SCENARIOS.entries()) {
        const s = `bl_upgrade_${index}`;
        // Applied the way it was before: same SQL without comments, its lint errors accepted for the run.
        const old = new Migrator({ db, schema: s, migrations: [...scenario.before, asBefore(scenario.change())], allowLintErrors: true });
        expect((await old.up()).error).toBeUndefined();
        for (const unusedBecause of [undefined, REASON]) {
          const upgraded = new Migrator({ db, schema: s, migrations: [...scenario.before, scenario.change(unusedBecause)] });
          const status = await upgraded.status();
          expect(status.problems, scenario.label).toEqual([]);
          expect(status.pending).toEqual([]);
        }
        const upgraded = new Migrator({ db, schema: s, migrations: [...scenario.before, scenario.change(REASON)] });
        expect((await upgraded.down({ to: scenario.before.at(-1)!.version })).error).toBeUndefined();
        expect(await scenario.done(db, s)).toBe(false);
      }
    });
  });
}

describe('unusedBecause is validated before anything runs', () => {
  const field = (fn: () => unknown): unknown => {
    const error = configErrorOf(fn);
    const f = error.details['field'];
    expect(error.message.startsWith(`${String(f)}: expected a non-empty reason on one line`)).toBe(true);
    return f;
  };
  const bad: readonly [string, unknown][] = [
    ['empty', ''],
    ['blank', '   '],
    // A line break would end the comment and make the rest SQL.
    ['a line break', 'nobody reads it\nalter table app.other drop column x'],
    ['a carriage return', 'nobody reads it\rdrop table app.other'],
    ['a control character', 'nobody\u0000reads it'],
    ['a leading comma (read as another rule id)', ', nobody reads it'],
    ['a number', 42],
    ['null', null],
  ];
  it.each(bad)('refuses %s, naming the field', (_label, value) => {
    const unusedBecause = value as string;
    expect(field(() => dropTableWithBackup({ table: 'app.legacy', version: 2, unusedBecause }))).toBe('unusedBecause');
    expect(field(() => dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: ['id'], version: 2, definition: { type: 'text' }, unusedBecause }))).toBe('unusedBecause');
    expect(field(() => rename.contract(3, 'c', { unusedBecause }))).toBe('expandColumn.contract.unusedBecause');
    expect(field(() => rename.statements('app', { unusedBecause }))).toBe('expandColumn.statements.unusedBecause');
  });

  it('keeps the reason as given (trimmed), in the comment right before the statement', () => {
    const { up } = dropColumnWithBackup({ table: 'app.notes', column: 'mood', key: ['id'], version: 2, definition: { type: 'text' }, unusedBecause: `  ${REASON} ` });
    expect(up.at(-1)).toBe(`-- lint-ignore(dropColumnWithBackup): drop-column ${REASON}\nalter table app.notes drop column mood`);
    const contract = rename.statements('app', { unusedBecause: REASON }).contract.up;
    expect(contract.at(-1)).toBe(`-- lint-ignore(expandColumn): drop-column ${REASON}\nalter table app."products" drop column "title"`);
  });

  it('contract keeps passing lockTimeout and statementTimeout through, and does not put unusedBecause on the migration', () => {
    const m = rename.contract(3, 'c', { unusedBecause: REASON, lockTimeout: '2s', statementTimeout: '1min' });
    expect(m).toMatchObject({ version: 3, name: 'c', lockTimeout: '2s', statementTimeout: '1min' });
    expect(Object.keys(m).sort()).toEqual(['down', 'lockTimeout', 'name', 'statementTimeout', 'up', 'version']);
  });
});

describe('the builders\' lint comments are not part of the checksum', () => {
  const context = { schema: 'app', settings: {} };
  const dropTable = (u?: string) => fromBuilder(2, 'drop-legacy', (s) => dropTableWithBackup({
    table: `${s}.legacy`,
    version: 2,
    referencedBy: [{ table: `${s}.replies`, name: 'replies_legacy_fk', definition: `foreign key (legacy_id) references ${s}.legacy (id) on delete cascade` }],
    ...(u !== undefined ? { unusedBecause: u } : {}),
  }));
  const dropColumn = (u?: string) => fromBuilder(2, 'drop-mood', (s) => dropColumnWithBackup({
    table: `${s}.notes`,
    column: 'mood',
    key: ['id'],
    version: 2,
    definition: { type: 'text', default: `'ok'`, notNull: true, checks: [{ name: 'notes_mood_check', expression: `mood <> ''` }] },
    ...(u !== undefined ? { unusedBecause: u } : {}),
  }));

  it('renders the checksums recorded by the builders before they wrote lint comments, with or without unusedBecause', () => {
    // Computed with the builders as released before this change. Changing
    // these hashes makes hosts' applied migrations fail CK_MIGRATION_CHECKSUM: don't.
    for (const u of [undefined, REASON, 'another reason']) {
      expect(checksumOf(dropTable(u), context)).toBe('d557e48e2cfe0d5af8050db18cb09e3e606fda1e87e6defb3ed087e8f14f51d2');
      expect(checksumOf(dropColumn(u), context)).toBe('ca963982023877e82645c9f84313fdf5478da5008078521de09c5da6c7d41709');
    }
    expect(checksumOf(fromBuilder(3, 'cb', (s) => cleanupBackups({ schema: s, version: 2 })), context)).toBe('4505a3c6f270ab8da2ba10af21346615bb838364be922597ce8a2df9ddf10728');
  });

  it('hand-written comments, -- lint-ignore: included, still count: checksums recorded with them stay valid', () => {
    const plain = 'create index big_v_idx on app.big (v)';
    const migration = (sqlText: string): Migration => ({ version: 1, name: 'm', up: () => [sqlText], down: () => ['drop index app.big_v_idx'] });
    const bare = checksumOf(migration(plain), context);
    expect(checksumOf(migration(`-- lint-ignore: add-index-non-concurrent tiny table\n${plain}`), context)).not.toBe(bare);
    expect(checksumOf(migration(`-- built at install\n${plain}`), context)).not.toBe(bare);
    // Only a leading run of generated lines is left out, never a line further down.
    expect(checksumOf(migration(`-- lint-ignore(someBuilder): add-index-non-concurrent tiny table\n${plain}`), context)).toBe(bare);
    expect(checksumOf(migration(`${plain}\n-- lint-ignore(someBuilder): add-index-non-concurrent tiny table\n`), context)).not.toBe(bare);
  });
});

describe('lint comments for generated SQL', () => {
  const TX = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
  const POPULATED = { tableRows: () => 100_000 };
  const drop = 'alter table app.notes drop column mood';

  it('-- lint-ignore(<source>): is a suppression like -- lint-ignore:', () => {
    const report = lintStatements([`-- lint-ignore(someBuilder): drop-column nobody reads it\n${drop}`], TX, POPULATED);
    expect(report.findings).toEqual([]);
    expect(report.suppressed.map((f) => [f.rule, f.reason])).toEqual([['drop-column', 'nobody reads it']]);
  });

  it('-- lint-fix: replaces the fix of that rule\'s finding on the next statement and suppresses nothing', () => {
    const report = lintStatements([`-- lint-fix(someBuilder): drop-column pass unusedBecause to the builder\n${drop}`, drop], TX, POPULATED);
    expect(report.findings.map((f) => [f.rule, f.statementIndex, f.severity])).toEqual([['drop-column', 0, 'error'], ['drop-column', 1, 'error']]);
    expect(report.findings[0]!.fix).toBe('pass unusedBecause to the builder');
    expect(report.findings[1]!.fix).not.toBe('pass unusedBecause to the builder');
  });

  it('a -- lint-fix: naming an unknown rule or giving no text is lint-ignore-invalid', () => {
    for (const comment of ['-- lint-fix: no-such-rule do this', '-- lint-fix: drop-column']) {
      const report = lintStatements([`${comment}\n${drop}`], TX, POPULATED);
      expect(report.findings.map((f) => f.rule).sort(), comment).toEqual(['drop-column', 'lint-ignore-invalid']);
    }
  });
});

/**
 * A DROP COLUMN written by a builder whose `down` brings the values back
 * must not claim they are "gone for good": the finding stays an error (old
 * code still using the column is the risk), but its message says what the
 * builder keeps and its fix names `unusedBecause`. Hand-written SQL, a
 * hand-written `-- lint-ignore:` included, keeps the generic message.
 */
describe('drop findings say what a builder keeps', () => {
  const context = { schema: 'app', settings: {} };
  const POPULATED = { tableRows: () => 500 };
  const TX = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
  const GONE = /gone for good/;
  /** Every finding of `rule` in the migration's `up`, unsuppressed or not. */
  const found = (migration: Migration, rule: string) => {
    const report = lintMigration(migration, context, POPULATED);
    return [...report.findings, ...report.suppressed].filter((f) => f.rule === rule);
  };
  const onlyFinding = (migration: Migration, rule: string) => {
    const all = found(migration, rule);
    expect(all, rule).toHaveLength(1);
    return all[0]!;
  };

  it('dropColumnWithBackup without unusedBecause: an error whose message says the backup keeps the values and down restores them, and whose fix names unusedBecause', () => {
    const finding = onlyFinding(fromBuilder(2, 'drop-mood', dropMood()), 'drop-column');
    expect(finding.severity).toBe('error');
    expect(finding.message).toBe(
      'DROP COLUMN app.notes.mood (~500 rows) by dropColumnWithBackup: the values are kept in its backup table and down restores them; the danger left is application code still selecting or inserting the column, which fails from here on',
    );
    expect(finding.message).not.toMatch(GONE);
    expect(finding.fix).toMatch(/^The values are kept in app__ck_backup_v2\.notes__mood for down, .*pass unusedBecause: '<why nothing uses mood any more>' to dropColumnWithBackup/);
  });

  it('dropColumnWithBackup with unusedBecause: the suppressed finding carries the same message, the reason, and a fix naming unusedBecause', () => {
    const report = lintMigration(fromBuilder(2, 'drop-mood', dropMood(REASON)), context, POPULATED);
    expect(report.findings.filter((f) => f.rule === 'drop-column')).toEqual([]);
    const [finding] = report.suppressed.filter((f) => f.rule === 'drop-column');
    expect(finding).toMatchObject({ severity: 'error', reason: REASON });
    expect(finding!.message).toContain('by dropColumnWithBackup: the values are kept in its backup table and down restores them');
    expect(finding!.message).not.toMatch(GONE);
    expect(finding!.fix).toBe(
      "Once no deployed code reads or writes app.notes.mood, pass unusedBecause: '<why nothing uses mood any more>' to dropColumnWithBackup; that text becomes the reason of this finding's suppression. Until then, leave the migration out of the deploy.",
    );
  });

  it('the contract of expandColumn: the message says down re-creates the column from the new one', () => {
    for (const migration of [rename.contract(3, 'c'), rename.contract(3, 'c', { unusedBecause: REASON })]) {
      const finding = onlyFinding(migration, 'drop-column');
      expect(finding.severity).toBe('error');
      expect(finding.message).toBe(
        'DROP COLUMN app.products.title (~500 rows) by expandColumn: the values live on in the new column and down re-creates this one from it; the danger left is application code still selecting or inserting the column, which fails from here on',
      );
      expect(finding.fix).toMatch(/unusedBecause/);
    }
  });

  it('dropTableWithBackup drops nothing: its up trips no drop-table, and the move aside (rename-table) claims no data loss; its fix names unusedBecause and says down moves the table back', () => {
    const migration = fromBuilder(2, 'drop-legacy', dropLegacy());
    expect(found(migration, 'drop-table')).toEqual([]);
    const finding = onlyFinding(migration, 'rename-table');
    expect(finding.severity).toBe('error');
    expect(finding.message).not.toMatch(GONE);
    expect(finding.message).toMatch(/^ALTER TABLE app\.legacy moved to .* by dropTableWithBackup: this is the drop, but the table is kept whole there and down moves it back; the danger left is application code still querying app\.legacy/);
    expect(finding.fix).toMatch(/down moves it back.*pass unusedBecause: .* to dropTableWithBackup/);
  });

  it('a hand-written DROP COLUMN or DROP TABLE keeps "gone for good", suppressed or marked by an unknown builder', () => {
    const dropColumnSql = 'alter table app.notes drop column mood';
    const dropTableSql = 'drop table app.legacy';
    for (const [rule, sqlText] of [
      ['drop-column', dropColumnSql],
      ['drop-column', `-- lint-ignore: drop-column nobody reads it\n${dropColumnSql}`],
      ['drop-column', `-- lint-ignore(someBuilder): drop-column nobody reads it\n${dropColumnSql}`],
      // A name that is also an Object.prototype property is not a builder either.
      ['drop-column', `-- lint-fix(constructor): drop-column do this\n${dropColumnSql}`],
      // Another rule's builder comment says nothing about this one.
      ['drop-column', `-- lint-ignore(dropColumnWithBackup): lock-table why\n${dropColumnSql}`],
      ['drop-table', dropTableSql],
      ['drop-table', `-- lint-ignore: drop-table archived elsewhere\n${dropTableSql}`],
    ] as const) {
      const report = lintStatements([sqlText], TX, POPULATED);
      const [finding] = [...report.findings, ...report.suppressed].filter((f) => f.rule === rule);
      expect(finding?.severity, sqlText).toBe('error');
      expect(finding?.message, sqlText).toMatch(GONE);
    }
    expect(lintStatements([dropColumnSql], TX, POPULATED).findings[0]!.message).toBe(
      'DROP COLUMN app.notes.mood (~500 rows): the values are gone for good (down can only re-add an empty column), and application code still selecting or inserting it fails',
    );
  });

  it('in down, a DROP COLUMN reads as before, whoever wrote it', () => {
    const drop = `-- lint-fix(dropColumnWithBackup): drop-column do this\nalter table app.notes drop column mood`;
    const report = lintStatements([drop], TX, { ...POPULATED, direction: 'down' });
    expect(report.findings.map((f) => [f.severity, f.message])).toEqual([['info', 'DROP COLUMN app.notes.mood in down: values written since up are lost']]);
  });
});
