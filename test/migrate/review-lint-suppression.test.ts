import { describe, expect, it } from 'vitest';
import { lintStatements, type RunnerSettings } from '../../src/migrate/lint/index.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
const ROWS = { tableRows: (t: string) => (t === 'app.small' ? 10 : 1_000_000) };

describe('review: a lint-ignore comment written after a statement, on its line', () => {
  const entry = [
    'create index small_x_idx on app.small (x); -- lint-ignore: add-index-non-concurrent app.small has 10 rows',
    'create index big_y_idx on app.big (y)',
  ].join('\n');

  it('does not suppress the statement on the next line', () => {
    const { findings, suppressed } = lintStatements([entry], TX, ROWS);
    expect(suppressed.filter((f) => f.message.includes('app.big'))).toEqual([]);
    expect(findings.filter((f) => f.rule === 'add-index-non-concurrent' && f.message.includes('app.big')).map((f) => f.severity)).toEqual(['error']);
  });

  it('is reported as lint-ignore-invalid, naming where it belongs', () => {
    const invalid = lintStatements([entry], TX, ROWS).findings.filter((f) => f.rule === 'lint-ignore-invalid');
    expect(invalid).toHaveLength(1);
    expect(invalid[0]?.message).toMatch(/after the statement/);
  });

  it('a comment on its own line before the statement still suppresses it, and a block comment before it on the same line too', () => {
    const own = lintStatements(
      ['create index small_x_idx on app.small (x);\n-- lint-ignore: add-index-non-concurrent built at install\ncreate index big_y_idx on app.big (y)'],
      TX,
      ROWS,
    );
    expect(own.suppressed.map((f) => f.rule)).toContain('add-index-non-concurrent');
    const inline = lintStatements(
      ['select 1; /* lint-ignore: add-index-non-concurrent built at install */ create index big_y_idx on app.big (y)'],
      TX,
      ROWS,
    );
    expect(inline.suppressed.map((f) => f.rule)).toEqual(['add-index-non-concurrent']);
    expect(inline.findings.filter((f) => f.rule === 'lint-ignore-invalid')).toEqual([]);
  });
});
