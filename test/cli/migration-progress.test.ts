import { afterEach, describe, expect, it, vi } from 'vitest';
import { SLOW_PHASE_MS, migrationProgress } from '../../src/cli/migration-progress.js';
import { Output } from '../../src/cli/output.js';
import { ChatkeepError } from '../../src/errors/index.js';
import { check, notNull, rowCountPreserved, tableChecksum, type MigrationEvent } from '../../src/migrate/index.js';

/** What `chatkeep migrate up` prints for a phased migration when stdout/stderr are files or pipes. */
describe('migration progress output (not a terminal)', () => {
  it('prints each phase, skipped phases, lock retries, rebuilt indexes, and backfill lines with rate and ETA', () => {
    let out = '';
    let err = '';
    const output = new Output({ write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
    const listen = migrationProgress(output, { toStderr: false });
    const base = { version: 7, name: 'messages-preview', direction: 'up' as const, phases: 3 };
    const events: MigrationEvent[] = [
      { type: 'migration-start', ...base },
      { type: 'phase-skipped', ...base, phase: 0, description: '1 statement in one transaction' },
      { type: 'phase-start', ...base, phase: 1, description: 'backfill app.messages' },
      { type: 'backfill-progress', ...base, phase: 1, rowsDone: 1000, rowsTotal: 3000, rowsPerSecond: 2000, etaMs: 1000 },
      { type: 'backfill-progress', ...base, phase: 1, rowsDone: 2000, rowsTotal: 3000, rowsPerSecond: 2000, etaMs: 500 },
      { type: 'backfill-progress', ...base, phase: 1, rowsDone: 3000, rowsTotal: 3000, rowsPerSecond: 2000, etaMs: 0 },
      { type: 'phase-end', ...base, phase: 1, durationMs: 1500 },
      { type: 'phase-start', ...base, phase: 2, description: 'index messages_preview_idx (concurrently)' },
      { type: 'lock-retry', ...base, phase: 2, attempt: 1, delayMs: 240 },
      { type: 'index-rebuilt', ...base, phase: 2, index: 'messages_preview_idx' },
      { type: 'phase-end', ...base, phase: 2, durationMs: 20 },
      { type: 'migration-end', ...base, durationMs: 1600 },
    ];
    for (const event of events) listen(event);
    expect(out.split('\n')).toEqual([
      'applying 0007 messages-preview…',
      '  phase 1/3: 1 statement in one transaction (done in an earlier run)',
      '  phase 2/3: backfill app.messages…',
      '  backfill: 1,000/3,000 rows (33%), 2,000 rows/s, ETA 1 s',
      // The second line comes within 2 s of the first and is not the last: skipped.
      '  backfill: 3,000/3,000 rows (100%), 2,000 rows/s, ETA 0 s',
      '  phase 2/3 done (1500 ms)',
      '  phase 3/3: index messages_preview_idx (concurrently)…',
      '  lock_timeout: the table is busy; retry 1 in 240 ms',
      '  dropped the invalid index messages_preview_idx left by an interrupted build; building it again',
      '  phase 3/3 done (20 ms)',
      'applied  0007 messages-preview (1600 ms)',
      '',
    ]);
    expect(err).toBe('');
  });

  it('says when it starts measuring before-values and when it starts checking, before the outcomes, so a long count is not silence', () => {
    let out = '';
    let err = '';
    const output = new Output({ write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
    const listen = migrationProgress(output, { toStderr: false });
    const base = { version: 3, name: 'notes-prune', direction: 'up' as const };
    const invariants = [rowCountPreserved('app.notes'), tableChecksum('app.authors'), notNull('app.notes', 'title')];
    const events: MigrationEvent[] = [
      { type: 'migration-start', ...base },
      // The migrator names only the invariants whose before-values it measures.
      { type: 'invariants-measuring', ...base, invariants: invariants.slice(0, 2), beforeValuesStored: false },
      { type: 'invariants-checking', ...base, invariants },
      {
        type: 'invariant-checked',
        ...base,
        invariant: { name: 'row count of app.notes preserved', kind: 'row-count-preserved', status: 'passed', expected: '40 rows (as before up)', observed: '40 rows', durationMs: 2 },
      },
      { type: 'migration-end', ...base, durationMs: 12 },
      // A migration whose invariants need no before-value: only the checking line.
      { type: 'migration-start', ...base, version: 4, name: 'notes-title' },
      { type: 'invariants-checking', ...base, version: 4, name: 'notes-title', invariants: [check('titles are short', 'select true')] },
    ];
    for (const event of events) listen(event);
    expect(out.split('\n')).toEqual([
      'applying 0003 notes-prune…',
      '  invariants: measuring before-values: row count of app.notes; row count and digest of app.authors…',
      '  invariants: checking 3…',
      '  invariant ok      row count of app.notes preserved: expected 40 rows (as before up), observed 40 rows',
      'applied  0003 notes-prune (12 ms)',
      'applying 0004 notes-title…',
      '  invariants: checking 1…',
      '',
    ]);
    expect(err).toBe('');
  });

  it('names the before-values it stores for a resume, prints skipped invariants with their reason, and says when a before-value could not be measured', () => {
    let out = '';
    let err = '';
    const output = new Output({ write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
    // A rehearsal: accepted lint errors are its report's business, not printed here.
    const listen = migrationProgress(output, { toStderr: true, acceptedLintErrors: false });
    const base = { version: 7, name: 'messages-preview', direction: 'up' as const };
    const unmeasurable = new ChatkeepError('CK_MIGRATION_INVARIANT', 'Migration 7 messages-preview (up): the before-value … cannot be measured', { version: 7, invariant: 'row count of app.messages preserved' });
    const events: MigrationEvent[] = [
      { type: 'lint-errors-allowed', ...base, findings: [{ rule: 'drop-column', severity: 'error', statementIndex: 0, message: 'm', fix: 'f' }] },
      { type: 'migration-start', ...base },
      // A non-transactional migration: the values are committed before its work.
      { type: 'invariants-measuring', ...base, invariants: [rowCountPreserved('app.messages')], beforeValuesStored: true },
      { type: 'invariants-checking', ...base, invariants: [rowCountPreserved('app.messages')] },
      {
        type: 'invariant-checked',
        ...base,
        invariant: { name: 'row count of app.messages preserved', kind: 'row-count-preserved', status: 'skipped', expected: '-', observed: '-', reason: 'no before-value: added later', durationMs: 0 },
      },
      { type: 'migration-failed', ...base, durationMs: 3, error: unmeasurable },
    ];
    for (const event of events) listen(event);
    expect(out).toBe('');
    expect(err.split('\n')).toEqual([
      'applying 0007 messages-preview…',
      '  invariants: measuring before-values (and storing them; a resumed run reads back the stored ones): row count of app.messages…',
      '  invariants: checking 1…',
      '  invariant skipped row count of app.messages preserved: no before-value: added later',
      'FAILED   0007 messages-preview after 3 ms',
      '  a before-value could not be measured; nothing of this migration ran',
      '',
    ]);
  });
  it('prints lint warnings of the migrations about to run on stderr, with statement and rule', () => {
    let out = '';
    let err = '';
    const output = new Output({ write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
    const listen = migrationProgress(output, { toStderr: false });
    listen({
      type: 'lint-warnings',
      version: 7,
      name: 'messages-preview',
      direction: 'up',
      findings: [{ rule: 'checkpoint-pressure', severity: 'warning', statementIndex: 1, message: 'backfilling app.messages (4,200 MB on disk) writes roughly 8,400 MB of WAL', fix: 'raise max_wal_size' }],
    });
    expect(err).toBe('warning: 0007 messages-preview (statement 2) [checkpoint-pressure]: backfilling app.messages (4,200 MB on disk) writes roughly 8,400 MB of WAL\n');
    expect(out).toBe('');
  });
});

/** `serve` and `demo` migrate on the way to their real job: fast phases stay quiet there. */
describe("migration progress output with phases: 'slow'", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function listener() {
    const sink = { out: '' };
    const output = new Output({ write: (t: string) => (sink.out += t) }, { write: (t: string) => (sink.out += `stderr: ${t}`) });
    return { sink, listen: migrationProgress(output, { toStderr: false, phases: 'slow' }) };
  }

  it('prints nothing for phases that end within the threshold, and counts them in the closing line', () => {
    vi.useFakeTimers();
    const { sink, listen } = listener();
    const base = { version: 7, name: 'row-level-security', direction: 'up' as const, phases: 3 };
    listen({ type: 'migration-start', ...base });
    for (const phase of [0, 1, 2]) {
      listen({ type: 'phase-start', ...base, phase, description: `step ${phase}` });
      vi.advanceTimersByTime(SLOW_PHASE_MS - 1);
      listen({ type: 'phase-end', ...base, phase, durationMs: SLOW_PHASE_MS - 1 });
    }
    listen({ type: 'migration-end', ...base, durationMs: 3000 });
    expect(sink.out.split('\n')).toEqual(['applying 0007 row-level-security…', 'applied  0007 row-level-security (3 phases run, 3000 ms)', '']);
    // Nothing is left to fire later.
    vi.advanceTimersByTime(10 * SLOW_PHASE_MS);
    expect(sink.out.split('\n')).toHaveLength(3);
  });

  it('announces a phase once it has run for the threshold, and then its end', () => {
    vi.useFakeTimers();
    const { sink, listen } = listener();
    const base = { version: 8, name: 'messages-preview', direction: 'up' as const, phases: 2 };
    listen({ type: 'migration-start', ...base });
    listen({ type: 'phase-start', ...base, phase: 0, description: 'quick' });
    listen({ type: 'phase-end', ...base, phase: 0, durationMs: 2 });
    listen({ type: 'phase-start', ...base, phase: 1, description: 'index messages_preview_idx (concurrently)' });
    vi.advanceTimersByTime(SLOW_PHASE_MS - 1);
    expect(sink.out).toBe('applying 0008 messages-preview…\n');
    vi.advanceTimersByTime(1);
    listen({ type: 'phase-end', ...base, phase: 1, durationMs: 4000 });
    listen({ type: 'migration-end', ...base, durationMs: 4100 });
    expect(sink.out.split('\n')).toEqual([
      'applying 0008 messages-preview…',
      '  phase 2/2: index messages_preview_idx (concurrently)…',
      '  phase 2/2 done (4000 ms)',
      // One phase said nothing: the count says there were more.
      'applied  0008 messages-preview (2 phases run, 4100 ms)',
      '',
    ]);
  });

  it('announces a phase at once when it has something to say: backfill progress, a lock retry, a failure', () => {
    vi.useFakeTimers();
    const { sink, listen } = listener();
    const base = { version: 9, name: 'notes', direction: 'up' as const, phases: 3 };
    listen({ type: 'migration-start', ...base });
    listen({ type: 'phase-start', ...base, phase: 0, description: 'backfill app.notes' });
    listen({ type: 'backfill-progress', ...base, phase: 0, rowsDone: 10, rowsTotal: 10, rowsPerSecond: 100, etaMs: 0 });
    listen({ type: 'phase-end', ...base, phase: 0, durationMs: 100 });
    listen({ type: 'phase-start', ...base, phase: 1, description: 'add a constraint' });
    listen({ type: 'lock-retry', ...base, phase: 1, attempt: 1, delayMs: 50 });
    listen({ type: 'phase-end', ...base, phase: 1, durationMs: 60 });
    listen({ type: 'phase-start', ...base, phase: 2, description: 'verify: app.notes is valid' });
    listen({ type: 'migration-failed', ...base, durationMs: 200, error: new ChatkeepError('CK_MIGRATION_FAILED', 'check failed') });
    expect(sink.out.split('\n')).toEqual([
      'applying 0009 notes…',
      '  phase 1/3: backfill app.notes…',
      '  backfill: 10/10 rows (100%), 100 rows/s, ETA 0 s',
      '  phase 1/3 done (100 ms)',
      '  phase 2/3: add a constraint…',
      '  lock_timeout: the table is busy; retry 1 in 50 ms',
      '  phase 2/3 done (60 ms)',
      // The failing phase is named before the failure.
      '  phase 3/3: verify: app.notes is valid…',
      'stderr: FAILED   0009 notes after 200 ms',
      '',
    ]);
  });
});
