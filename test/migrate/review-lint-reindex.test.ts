import { describe, expect, it } from 'vitest';
import { lintStatements, type RunnerSettings } from '../../src/migrate/lint/index.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };

describe('review: REINDEX with an option list names its table', () => {
  it('REINDEX (VERBOSE) TABLE app.notes is judged on app.notes, not as "(every table)"', () => {
    const [finding] = lintStatements(['reindex (verbose) table app.notes'], TX, { tableRows: () => 0 }).findings.filter(
      (f) => f.rule === 'rewrite-command',
    );
    expect(finding?.message).toContain('app.notes');
    expect(finding?.message).not.toContain('every table');
    expect(finding?.severity).toBe('info');
  });
});
