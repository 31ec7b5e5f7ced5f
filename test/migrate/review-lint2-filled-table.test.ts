import { describe, expect, it } from 'vitest';
import { lintMigration, lintStatements, type RunnerSettings } from '../../src/migrate/lint/index.js';
import type { Migration } from '../../src/migrate/migration.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
const NO_TX: RunnerSettings = { ...TX, transactional: false };
const OPTIONS = { tableRows: (t: string) => (t === 'app.notes' ? 50_000 : undefined) };
const indexFindings = (sql: string[], settings: RunnerSettings) =>
  lintStatements(sql, settings, OPTIONS).findings.filter((f) => f.rule === 'add-index-non-concurrent').map((f) => [f.statementIndex, f.severity, f.message]);

/**
 * A table the migration creates with rows is invisible to others only until
 * that transaction commits; after that it is a committed table of unknown
 * size, and a non-concurrent CREATE INDEX on it blocks writes like on any other.
 */
describe('review 2: a table created with rows is "new" only inside its own transaction', () => {
  it('CREATE TABLE … AS then CREATE INDEX in a non-transactional migration: a warning (size unknown)', () => {
    const found = indexFindings(['create table if not exists app.notes_copy as select * from app.notes', 'create index if not exists nc_idx on app.notes_copy (id)'], NO_TX);
    expect(found).toEqual([[1, 'warning', expect.stringContaining('app.notes_copy (created and filled earlier in this migration, row count unknown)')]]);
  });

  it('SELECT … INTO counts as creating the table, and likewise', () => {
    const found = indexFindings(['select * into app.notes_copy from app.notes', 'create index if not exists nc_idx on app.notes_copy (id)'], NO_TX);
    expect(found).toEqual([[1, 'warning', expect.any(String)]]);
    // Inside one transaction both stay invisible to others: no finding, as for any new table.
    expect(indexFindings(['select * into app.notes_copy from app.notes', 'create index nc_idx on app.notes_copy (id)'], TX)).toEqual([]);
  });

  it('inside the creating transaction: no finding; WITH NO DATA, or a plain CREATE TABLE, stays new', () => {
    expect(indexFindings(['create table app.notes_copy as select * from app.notes', 'create index nc_idx on app.notes_copy (id)'], TX)).toEqual([]);
    expect(indexFindings(['create table if not exists app.c as select * from app.notes with no data', 'create index if not exists c_idx on app.c (id)'], NO_TX)).toEqual([]);
    expect(indexFindings(['create table if not exists app.c (id int generated always as identity)', 'create index if not exists c_idx on app.c (id)'], NO_TX)).toEqual([]);
  });

  it('an INSERT … SELECT into a new table fills it too; in a later phase the table is committed', () => {
    expect(indexFindings(['create table if not exists app.c (id int)', 'insert into app.c select id from app.notes', 'create index if not exists c_idx on app.c (id)'], NO_TX)).toEqual([
      [2, 'warning', expect.any(String)],
    ]);
    const phased: Migration = {
      version: 1,
      name: 'copy',
      up: () => ['create table app.c as select * from app.notes', { kind: 'verify', name: 'copied', query: 'select true' }, 'create index c_idx on app.c (id)'],
      down: () => ['drop table app.c'],
    };
    const found = lintMigration(phased, { schema: 'app', settings: {} }, OPTIONS).findings.filter((f) => f.rule === 'add-index-non-concurrent');
    expect(found.map((f) => [f.statementIndex, f.severity])).toEqual([[2, 'warning']]);
  });
});
