import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { concurrentIndex, Migrator, type Migration, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/** `migrator.lint()` judges pending migrations against the live database's table sizes. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: lint against the database`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    const migrations: Migration[] = [
      { version: 1, name: 'notes', up: ({ schema: s }) => [`create table ${s}.notes (id int primary key, body text)`], down: ({ schema: s }) => [`drop table ${s}.notes`] },
      { version: 2, name: 'notes-body-idx', up: ({ schema: s }) => [`create index notes_body_idx on ${s}.notes (body)`], down: ({ schema: s }) => [`drop index ${s}.notes_body_idx`] },
      {
        version: 3,
        name: 'notes-body-idx-safe',
        up: ({ schema: s }) => [concurrentIndex({ name: 'notes_body2_idx', table: `${s}.notes`, columns: 'body' })],
        down: ({ schema: s }) => [`drop index concurrently if exists ${s}.notes_body2_idx`],
      },
    ];

    it('a blocking index build is an error on a populated table, not on an empty one; the concurrent build is fine', async () => {
      const db = scratch.database.db;
      const migrator = new Migrator({ db, schema: 'lint_live', migrations });
      await migrator.up({ to: 1 });
      const empty = await migrator.lint({ direction: 'up' });
      expect(empty.find((l) => l.version === 2)?.report.findings.filter((f) => f.severity === 'error')).toEqual([]);

      await sql.raw(`insert into lint_live.notes select g, 'note ' || g from generate_series(1, 5000) g`).execute(db);
      await sql.raw('analyze lint_live.notes').execute(db);
      const populated = await migrator.lint({ direction: 'up' });
      const blocking = populated.find((l) => l.version === 2)!.report.findings;
      expect(blocking.map((f) => [f.rule, f.severity])).toContainEqual(['add-index-non-concurrent', 'error']);
      expect(populated.find((l) => l.version === 3)!.report.findings.filter((f) => f.severity === 'error')).toEqual([]);
    });

    it('TRUNCATE of a populated table is refused like DROP TABLE: up deletes no row', async () => {
      const db = scratch.database.db;
      const schema = 'lint_truncate';
      const wipe: Migration = {
        version: 2,
        name: 'notes-reset',
        up: ({ schema: s }) => [`-- start over\ntruncate table only ${s}.notes restart identity`],
        down: () => ['select 1'],
      };
      const migrator = new Migrator({ db, schema, migrations: [migrations[0]!, wipe] });
      await migrator.up({ to: 1 });
      await sql.raw(`insert into ${schema}.notes select g, 'note ' || g from generate_series(1, 500) g`).execute(db);
      await sql.raw(`analyze ${schema}.notes`).execute(db);

      const { error, results } = await migrator.up();
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`${schema}.notes`)}`.execute(db);
      expect({ code: error?.code, rows: rows[0]?.n }).toEqual({ code: 'CK_MIGRATION_LINT', rows: 500 });
      expect(results.find((r) => r.version === 2)?.lintErrors?.map((f) => f.rule)).toEqual(['truncate-table']);
    });

    it('up announces unsuppressed warnings (lint-warnings) before anything runs, and runs anyway', async () => {
      const db = scratch.database.db;
      const untimed: Migration = {
        version: 2,
        name: 'notes-tag',
        statementTimeout: '0',
        up: ({ schema: s }) => [`alter table ${s}.notes add column tag text`],
        down: ({ schema: s }) => [`alter table ${s}.notes drop column tag`],
      };
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({ db, schema: 'lint_warn', migrations: [migrations[0]!, untimed], onEvent: (e) => events.push(e) });
      await migrator.up({ to: 1 });
      await sql.raw(`insert into lint_warn.notes select g, 'note ' || g from generate_series(1, 100) g`).execute(db);
      events.length = 0;
      expect((await migrator.up()).error).toBeUndefined();
      const types = events.map((e) => e.type);
      expect(types.indexOf('lint-warnings')).toBeGreaterThanOrEqual(0);
      expect(types.indexOf('lint-warnings')).toBeLessThan(types.indexOf('migration-start'));
      const warned = events.find((e) => e.type === 'lint-warnings')!;
      expect([warned.version, warned.name]).toEqual([2, 'notes-tag']);
      expect(warned.findings!.map((f) => [f.rule, f.severity, f.statementIndex])).toEqual([['statement-timeout', 'warning', 0]]);
      expect(events.filter((e) => e.type === 'lint-errors-allowed')).toEqual([]);
    });
  });
}
