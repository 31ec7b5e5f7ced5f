import { describe, expect, it } from 'vitest';
import { blocksReads, blocksWrites, LOCK_MODES } from '../../src/migrate/index.js';
import { estimatedLocks, type LoggedQuery } from '../../src/migrate/rehearse/estimated-locks.js';
import { compareModes } from '../../src/migrate/rehearse/lock-modes.js';
import { StepTimeline } from '../../src/migrate/rehearse/step-timeline.js';
import type { Phase } from '../../src/migrate/phases.js';

/**
 * How a rehearsal on PGlite (one session, nobody to watch it) estimates the
 * locks a step held (src/migrate/rehearse/estimated-locks.ts): the mode the
 * lint reads from each statement, held from that statement's start until the
 * step's transaction commits — or until the statement's own end when it ran
 * in autocommit — and a lock on a table the same transaction created blocks
 * nobody. Times are `performance.now()` milliseconds from the query log.
 */
const step = {
  index: 0,
  description: '3 statements in one transaction',
  start: 100,
  end: 200,
  status: 'done' as const,
};
const logged = (sql: string, start: number, end: number): LoggedQuery => ({ sql, start, end });

describe('rehearse: lock modes', () => {
  it('the modes that conflict with ROW EXCLUSIVE block writes; only ACCESS EXCLUSIVE blocks reads (manual, table 13.2)', () => {
    expect(LOCK_MODES.map((mode) => [mode, blocksWrites(mode), blocksReads(mode)])).toEqual([
      ['ACCESS SHARE', false, false],
      ['ROW SHARE', false, false],
      ['ROW EXCLUSIVE', false, false],
      ['SHARE UPDATE EXCLUSIVE', false, false],
      ['SHARE', true, false],
      ['SHARE ROW EXCLUSIVE', true, false],
      ['EXCLUSIVE', true, false],
      ['ACCESS EXCLUSIVE', true, true],
    ]);
  });

  it('sorts the strongest mode first', () => {
    expect(
      ['SHARE', 'ACCESS SHARE', 'ACCESS EXCLUSIVE', 'ROW EXCLUSIVE'].sort(compareModes),
    ).toEqual(['ACCESS EXCLUSIVE', 'SHARE', 'ROW EXCLUSIVE', 'ACCESS SHARE']);
  });
});

describe('rehearse: estimated locks', () => {
  it('in a transaction, a lock is held from its statement until the commit, and the first time it is taken counts', () => {
    const statements = [
      'alter table app.items add column a int',
      'select pg_sleep(0.05)',
      'alter table app.items add column b int',
    ];
    const phase: Phase = { kind: 'sql', statements, transactional: true };
    const log = [
      logged(statements[0]!, 110, 120),
      logged(statements[1]!, 120, 170),
      logged(statements[2]!, 170, 180),
    ];
    expect(estimatedLocks(step, phase, 'app', log)).toEqual([
      {
        relation: 'app.items',
        mode: 'ACCESS EXCLUSIVE',
        heldMs: 90,
        blocksWrites: true,
        blocksReads: true,
        newRelation: false,
      },
    ]);
  });

  it('in autocommit, each statement holds its lock for its own duration only', () => {
    const statements = [
      'alter table app.items add column a int',
      'create index items_a_idx on app.items (a)',
    ];
    const phase: Phase = { kind: 'sql', statements, transactional: false };
    const log = [logged(statements[0]!, 110, 115), logged(statements[1]!, 150, 190)];
    expect(estimatedLocks(step, phase, 'app', log)).toEqual([
      {
        relation: 'app.items',
        mode: 'ACCESS EXCLUSIVE',
        heldMs: 5,
        blocksWrites: true,
        blocksReads: true,
        newRelation: false,
      },
      {
        relation: 'app.items',
        mode: 'SHARE',
        heldMs: 40,
        blocksWrites: true,
        blocksReads: false,
        newRelation: false,
      },
    ]);
  });

  it('a table created in the same transaction is new: its locks block nobody', () => {
    const statements = [
      'create table app.fresh (id int primary key, v text)',
      'create index fresh_v_idx on app.fresh (v)',
    ];
    const phase: Phase = { kind: 'sql', statements, transactional: true };
    const log = [logged(statements[0]!, 110, 120), logged(statements[1]!, 120, 190)];
    expect(estimatedLocks(step, phase, 'app', log)).toEqual([
      {
        relation: 'app.fresh',
        mode: 'SHARE',
        heldMs: 80,
        blocksWrites: true,
        blocksReads: false,
        newRelation: true,
      },
    ]);
  });

  it('a skipped step held nothing', () => {
    const phase: Phase = {
      kind: 'sql',
      statements: ['alter table app.items add column a int'],
      transactional: true,
    };
    expect(estimatedLocks({ ...step, status: 'skipped' }, phase, 'app', [])).toEqual([]);
  });
});

describe('rehearse: step timeline', () => {
  it('a migration that runs as one step is described by its plan and fails as one step', () => {
    const timeline = new StepTimeline();
    timeline.usePlan([
      {
        version: 1,
        name: 'one-by-one',
        direction: 'up',
        statements: ['a', 'b'],
        transactional: false,
        phased: false,
      },
      {
        version: 2,
        name: 'together',
        direction: 'up',
        statements: ['c'],
        transactional: true,
        phased: false,
      },
    ]);
    timeline.listener({ type: 'migration-start', version: 1, name: 'one-by-one', direction: 'up' });
    timeline.listener({
      type: 'migration-end',
      version: 1,
      name: 'one-by-one',
      direction: 'up',
      durationMs: 1,
    });
    timeline.listener({ type: 'migration-start', version: 2, name: 'together', direction: 'up' });
    timeline.listener({
      type: 'migration-failed',
      version: 2,
      name: 'together',
      direction: 'up',
      durationMs: 1,
    });
    expect(timeline.migrations.map((m) => m.steps.map((s) => [s.description, s.status]))).toEqual([
      [['2 statements, one by one (not transactional)', 'done']],
      [['1 statement in one transaction', 'failed']],
    ]);
  });

  it('a phase journaled as done by an earlier run is listed as skipped, in its place', () => {
    const timeline = new StepTimeline();
    timeline.listener({ type: 'migration-start', version: 3, name: 'phased', direction: 'up' });
    timeline.listener({
      type: 'phase-skipped',
      version: 3,
      phase: 0,
      description: '1 statement in one transaction',
    });
    timeline.listener({ type: 'phase-start', version: 3, phase: 1, description: 'verify: ok' });
    timeline.listener({ type: 'phase-end', version: 3, phase: 1, description: 'verify: ok' });
    timeline.listener({
      type: 'migration-end',
      version: 3,
      name: 'phased',
      direction: 'up',
      durationMs: 1,
    });
    expect(timeline.migrations[0]?.steps.map((s) => [s.index, s.status])).toEqual([
      [0, 'skipped'],
      [1, 'done'],
    ]);
  });
});

describe('rehearse: estimated locks of statements the lint has no shape for', () => {
  it.each([
    ['drop index concurrently if exists app.a_idx', 'app.a_idx', 'SHARE UPDATE EXCLUSIVE'],
    ['create or replace trigger t after insert on items for each row execute function app.f()', 'app.items', 'SHARE ROW EXCLUSIVE'],
    ['create constraint trigger t after insert on other.items for each row execute function app.f()', 'other.items', 'SHARE ROW EXCLUSIVE'],
    ['drop trigger if exists t on app.items', 'app.items', 'ACCESS EXCLUSIVE'],
    ['alter policy p on app.items using (false)', 'app.items', 'ACCESS EXCLUSIVE'],
    ['drop policy if exists p on items', 'app.items', 'ACCESS EXCLUSIVE'],
    ['refresh materialized view concurrently app.mv', 'app.mv', 'EXCLUSIVE'],
  ])('%s: %s in %s', (statement, relation, mode) => {
    const phase: Phase = { kind: 'sql', statements: [statement], transactional: true };
    expect(estimatedLocks(step, phase, 'app', []).map((l) => [l.relation, l.mode])).toEqual([[relation, mode]]);
  });
});
