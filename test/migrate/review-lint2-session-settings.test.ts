import { describe, expect, it } from 'vitest';
import { lintMigration, lintStatements, type RunnerSettings } from '../../src/migrate/lint/index.js';
import type { Migration } from '../../src/migrate/migration.js';
import { nonTransactional } from '../../src/migrate/steps.js';

const ctx = { schema: 'app', settings: {} };
const POPULATED = { tableRows: () => 50_000, defaultSchema: 'app' };
const migration = (up: Migration['up'], extra: Partial<Migration> = {}): Migration => ({
  version: 1,
  name: 'session-settings',
  up,
  down: () => ['select 1'],
  ...extra,
});
const rulesAt = (m: Migration, rule: string) =>
  lintMigration(m, ctx, POPULATED).findings.filter((f) => f.rule === rule).map((f) => [f.statementIndex, f.severity]);

/**
 * run-phased.ts runs a nonTransactional step's statements one after another
 * on one connection, after one session-level set_config of the runner's
 * timeouts: a plain SET in one statement stays in force for the next.
 */
describe('review 2: a plain SET in a nonTransactional step carries to its later statements', () => {
  it('SET lock_timeout = 0 then a locking statement in the same step: lock-timeout', () => {
    const m = migration(() => [
      nonTransactional('set lock_timeout = 0', 'drop index concurrently if exists app.a_idx', 'alter table app.notes add column mood text'),
    ]);
    expect(rulesAt(m, 'lock-timeout')).toEqual([[0, 'error']]);
  });

  it('SET statement_timeout = 0 likewise', () => {
    const m = migration(() => [nonTransactional('set statement_timeout = 0', 'alter table app.notes add column mood text')]);
    expect(rulesAt(m, 'statement-timeout')).toEqual([[0, 'warning']]);
  });

  it('SET LOCAL and set_config(…, true) end with their own statement; the next step starts from the runner again', () => {
    expect(rulesAt(migration(() => [nonTransactional('set local lock_timeout = 0', 'alter table app.notes add column mood text')]), 'lock-timeout')).toEqual([]);
    expect(
      rulesAt(migration(() => [nonTransactional("select set_config('lock_timeout', '0', true)", 'alter table app.notes add column mood text')]), 'lock-timeout'),
    ).toEqual([]);
    expect(
      rulesAt(migration(() => [nonTransactional("select set_config('lock_timeout', '0', false)", 'alter table app.notes add column mood text')]), 'lock-timeout'),
    ).toEqual([[0, 'error']]);
    expect(
      rulesAt(migration(() => [nonTransactional('set lock_timeout = 0'), nonTransactional('alter table app.notes add column mood text')]), 'lock-timeout'),
    ).toEqual([]);
  });

  it('in a transactional: false migration with steps, the strings between steps share one session too', () => {
    const m = migration(() => ['set lock_timeout = 0', 'alter table app.notes add column mood text', nonTransactional('select 1')], { transactional: false });
    expect(rulesAt(m, 'lock-timeout')).toEqual([[1, 'error']]);
    // Without steps each string is a phase of its own, with the runner's timeouts set again.
    const plain = migration(() => ['set lock_timeout = 0', 'alter table app.notes add column mood text'], { transactional: false });
    expect(rulesAt(plain, 'lock-timeout')).toEqual([]);
  });

  it('lintStatements of a non-transactional list keeps one phase per statement', () => {
    const NO_TX: RunnerSettings = { transactional: false, lockTimeout: '5s', statementTimeout: '5min' };
    const found = lintStatements(['set lock_timeout = 0', 'alter table app.notes add column mood text'], NO_TX, POPULATED).findings;
    expect(found.filter((f) => f.rule === 'lock-timeout')).toEqual([]);
  });
});
