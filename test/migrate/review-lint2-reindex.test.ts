import { describe, expect, it } from 'vitest';
import { lintStatements, type RunnerSettings } from '../../src/migrate/lint/index.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
const NO_TX: RunnerSettings = { ...TX, transactional: false };
const rewrite = (sql: string, settings = NO_TX) =>
  lintStatements([sql], settings, { tableRows: () => 10 }).findings.filter((f) => f.rule === 'rewrite-command')[0]?.message;

describe('review 2: REINDEX names what it rebuilds', () => {
  it('REINDEX INDEX names the index, not "(every table)"', () => {
    const message = rewrite('reindex index app.notes_body_idx');
    expect(message).toContain('REINDEX INDEX app.notes_body_idx');
    expect(message).not.toContain('every table)');
  });

  it('REINDEX SCHEMA / DATABASE / SYSTEM are named as such', () => {
    expect(rewrite('reindex (verbose) schema app')).toContain('REINDEX SCHEMA app (every table in the schema)');
    expect(rewrite('reindex database test')).toContain('REINDEX DATABASE test (every table in the database)');
    expect(rewrite('reindex system test')).toContain('REINDEX SYSTEM test (every system catalogue');
  });

  it('REINDEX SCHEMA in a transaction always fails (25001 on PostgreSQL 15), and is reported so', () => {
    const found = lintStatements(['reindex schema app'], TX).findings.filter((f) => f.rule === 'concurrent-in-transaction');
    expect(found.map((f) => f.severity)).toEqual(['error']);
    expect(found[0]!.message).toContain('REINDEX SCHEMA in a transactional migration');
    expect(lintStatements(['reindex schema app'], NO_TX).findings.filter((f) => f.rule === 'concurrent-in-transaction')).toEqual([]);
    expect(lintStatements(['reindex index app.x'], TX).findings.filter((f) => f.rule === 'concurrent-in-transaction')).toEqual([]);
  });
});
