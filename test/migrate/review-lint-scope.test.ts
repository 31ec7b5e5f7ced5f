import { describe, expect, it } from 'vitest';
import { lintStatements, type LintOptions, type RunnerSettings } from '../../src/migrate/lint/index.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
/** app.notes exists with a million rows; nothing else exists. */
const LIVE: LintOptions = { tableRows: (t) => (t === 'app.notes' ? 1_000_000 : undefined) };

const rulesOf = (statements: string[], options: LintOptions = LIVE) =>
  lintStatements(statements, TX, options).findings.map((f) => `${f.rule}:${f.severity}`);

describe('review: CREATE TABLE IF NOT EXISTS of a table that already exists', () => {
  it('does not make the existing, populated table count as created in this migration', () => {
    // The CREATE is a no-op on the live table, so what follows touches a
    // table with a million rows, not a fresh one nobody can see.
    const rules = rulesOf([
      'create table if not exists app.notes (id bigint primary key, body text)',
      'create index notes_body_idx on app.notes (body)',
      'alter table app.notes add column token uuid default gen_random_uuid()',
      'drop table app.notes',
    ]);
    expect(rules).toContain('add-index-non-concurrent:error');
    expect(rules).toContain('add-column-rewrite:error');
    expect(rules).toContain('drop-table:error');
  });

  it('a table that does not exist yet still counts as created (the usual fresh-install pattern stays quiet)', () => {
    expect(
      rulesOf(['create table if not exists app.fresh (id bigint primary key, body text)', 'create index fresh_body_idx on app.fresh (body)']),
    ).toEqual([]);
  });

  it('a table that exists but was never analysed (a negative estimate) is not new either', () => {
    const rules = rulesOf(['create table if not exists app.notes (id bigint)', 'drop table app.notes'], {
      tableRows: (t) => (t === 'app.notes' ? -1 : undefined),
    });
    expect(rules).toContain('drop-table:error');
  });
});

describe('review: RESET ALL', () => {
  it('drops lock_timeout to the server default (0) like RESET lock_timeout', () => {
    expect(rulesOf(['reset all', 'alter table app.notes add column note text'])).toContain('lock-timeout:error');
  });
});

describe('review: SELECT set_config(…) changes the timeouts like SET', () => {
  it("set_config('lock_timeout', '0', …) leaves the statements after it with no lock_timeout", () => {
    expect(rulesOf(["select set_config('lock_timeout', '0', true)", 'alter table app.notes add column note text'])).toContain(
      'lock-timeout:error',
    );
  });

  it('several set_config calls in one SELECT (the runner\'s own form) are all read', () => {
    const rules = rulesOf([
      "select set_config('lock_timeout', '2s', false), set_config('statement_timeout', '0', false)",
      'alter table app.notes add column note text',
    ]);
    expect(rules).toContain('statement-timeout:warning');
    expect(rules).not.toContain('lock-timeout:error');
  });

  it('a value that is not a string literal is unreadable (a warning), not ignored', () => {
    expect(rulesOf(["select set_config('lock_timeout', $1, true)", 'alter table app.notes add column note text'])).toContain(
      'lock-timeout:warning',
    );
  });
});
