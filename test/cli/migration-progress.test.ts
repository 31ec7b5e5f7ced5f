import { describe, expect, it } from 'vitest';
import { migrationProgress } from '../../src/cli/migration-progress.js';
import { Output } from '../../src/cli/output.js';
import type { MigrationEvent } from '../../src/migrate/index.js';

/** What `chatkeep migrate up` prints for a phased migration when stdout/stderr are files or pipes. */
describe('migration progress output (not a terminal)', () => {
  it('prints each phase, skipped phases, lock retries, rebuilt indexes, and backfill lines with rate and ETA', () => {
    let out = '';
    let err = '';
    const output = new Output({ write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
    const listen = migrationProgress(output, false);
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
});
