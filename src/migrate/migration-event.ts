import type { ChatkeepError } from '../errors/index.js';
import type { Invariant, InvariantOutcome } from './invariants/invariant.js';
import type { LintFinding } from './lint/lint-finding.js';
import type { MigrationDirection } from './render-migration.js';

/**
 * Progress reported while `up`/`down` run, for a CLI or a log to print. The
 * migrator never prints anything itself (STYLE 7).
 *
 * - `lock-wait`: another runner holds the lock; emitted once, then polling.
 * - `lock-acquired`: `durationMs` is how long the lock took.
 * - `migration-start` / `migration-end` / `migration-failed`: one migration;
 *   `durationMs` on end and failed, `error` on failed.
 * - phased migrations also report `phase-start` / `phase-end` / `phase-skipped`
 *   (done in an earlier, interrupted run) with `phase` (0-based), `phases` and
 *   `description`; `backfill-progress` after every batch with `rowsDone`,
 *   `rowsTotal` (estimated at the start), `rowsPerSecond` and `etaMs`;
 *   `lock-retry` when `lock_timeout` fired and the phase is retried
 *   (`attempt`, `delayMs`); `index-rebuilt` when an invalid index left by an
 *   interrupted concurrent build was dropped before building it again.
 * - `invariants-measuring`: the before-values of a migration's declared
 *   invariants are about to be measured, before any of its `up` runs
 *   (`invariants`: the ones measured, e.g. a row count; `beforeValuesStored`
 *   when they are committed so a resumed run compares with them). Not
 *   emitted when a resumed run reads back the stored ones. On a large table
 *   this takes a while (a `count(*)`, a checksum of every row).
 * - `invariants-checking`: `up`'s work is done and its invariants are about
 *   to be checked, before its version is recorded (`invariants`: all of
 *   them); one `invariant-checked` per invariant follows.
 * - `invariant-checked`: one declared invariant was checked after `up`
 *   (`invariant`: name, status, expected and observed values).
 * - `lint-errors-allowed`: a migration with lint errors runs anyway because
 *   `allowLintErrors` accepts them (`findings`); emitted before anything runs.
 * - `lint-warnings`: a migration about to run has unsuppressed lint warnings
 *   (`findings`), e.g. `checkpoint-pressure` from the live table sizes;
 *   emitted before anything runs. Warnings never stop a run.
 */
export interface MigrationEvent {
  readonly type:
    | 'lock-wait'
    | 'lock-acquired'
    | 'migration-start'
    | 'migration-end'
    | 'migration-failed'
    | 'phase-start'
    | 'phase-end'
    | 'phase-skipped'
    | 'backfill-progress'
    | 'lock-retry'
    | 'index-rebuilt'
    | 'invariants-measuring'
    | 'invariants-checking'
    | 'invariant-checked'
    | 'lint-errors-allowed'
    | 'lint-warnings';
  readonly version?: number;
  readonly name?: string;
  readonly direction?: MigrationDirection;
  readonly durationMs?: number;
  readonly error?: ChatkeepError;
  readonly phase?: number;
  readonly phases?: number;
  readonly description?: string;
  readonly rowsDone?: number;
  readonly rowsTotal?: number;
  readonly rowsPerSecond?: number;
  readonly etaMs?: number;
  readonly attempt?: number;
  readonly delayMs?: number;
  readonly index?: string;
  readonly invariant?: InvariantOutcome;
  readonly invariants?: readonly Invariant[];
  readonly beforeValuesStored?: boolean;
  readonly findings?: readonly LintFinding[];
}

/** Receives {@link MigrationEvent}s. Errors it throws are ignored: printing must not break a migration. */
export type MigrationEventListener = (event: MigrationEvent) => void;
