import cliProgress from 'cli-progress';
import { isChatkeepError } from '../errors/index.js';
import type { MigrationEvent, MigrationEventListener } from '../migrate/index.js';
import { checkingLine, measuringLine, outcomeLine } from './invariant-lines.js';
import { formatVersion, type Output } from './output.js';

/** How {@link migrationProgress} prints. */
export interface MigrationProgressOptions {
  /** Progress to stderr (for --json), so stdout stays a single JSON document. */
  readonly toStderr: boolean;
  /**
   * Whether to print lint errors that `allowLintErrors` accepted when they
   * are announced (default true). A rehearsal accepts every lint error and
   * says so in its own report, so it turns this off.
   */
  readonly acceptedLintErrors?: boolean;
  /**
   * `'all'` (default): a line when each phase starts and ends. `'slow'`: a
   * phase's lines only once it has run for {@link SLOW_PHASE_MS}, or as soon
   * as it has something to say (backfill progress, a lock retry, a rebuilt
   * index, invariants, a failure); when any phase printed nothing, the
   * migration's closing line counts the phases it ran. For commands that
   * migrate on the way to something else (`serve`, `demo`): a first start
   * would otherwise print two lines for each of migration 0007's fourteen
   * millisecond phases.
   */
  readonly phases?: 'all' | 'slow';
}

/** How long a phase runs before `phases: 'slow'` announces it. */
export const SLOW_PHASE_MS = 1000;

/**
 * Turns the migrator's events into output as they happen: the lock wait,
 * each migration's start and end with its duration, for phased migrations
 * each phase and a backfill's progress — a live bar with rate and ETA on a
 * terminal (cli-progress), a line every few seconds otherwise — and the
 * invariants: a line when the before-values start being measured and one
 * when the checks start (each can take seconds on a large table), then
 * each invariant as it is checked, with expected and observed values. Lint
 * errors accepted by `--allow-lint-errors` are warnings, on stderr, before
 * anything runs. With `toStderr` (for --json) stdout stays a single JSON
 * document.
 *
 * The closing report (run-report.ts) only counts the invariants' outcomes,
 * since each was printed here.
 */
export function migrationProgress(output: Output, options: MigrationProgressOptions): MigrationEventListener {
  const print = (text: string): void => (options.toStderr ? output.warn(text) : output.line(text));
  let waited = false;
  const backfill = backfillReporter(output, print);
  const phases = phaseLines(print, options.phases ?? 'all');
  return (event) => {
    const label =
      event.version === undefined ? '' : `${formatVersion(event.version)} ${event.name ?? ''}`;
    if (IN_PHASE_EVENTS.has(event.type)) phases.announce();
    switch (event.type) {
      case 'lock-wait':
        waited = true;
        print('waiting for another migrator… (another process holds the migration lock)');
        break;
      case 'lock-acquired':
        if (waited) print(`migration lock acquired after ${event.durationMs ?? 0} ms`);
        break;
      case 'lint-errors-allowed':
        if (options.acceptedLintErrors === false) break;
        for (const finding of event.findings ?? []) {
          const at = finding.statementIndex >= 0 ? ` (statement ${finding.statementIndex + 1})` : '';
          output.warn(`warning: ${label} runs despite lint error ${finding.rule}${at}, accepted by --allow-lint-errors: ${finding.message}`);
        }
        break;
      case 'lint-warnings':
        if (options.acceptedLintErrors === false) break;
        for (const finding of event.findings ?? []) {
          const at = finding.statementIndex >= 0 ? ` (statement ${finding.statementIndex + 1})` : '';
          output.warn(`warning: ${label}${at} [${finding.rule}]: ${finding.message}`);
        }
        break;
      case 'migration-start':
        print(`${event.direction === 'down' ? 'reverting' : 'applying'} ${label}…`);
        break;
      case 'migration-end': {
        const quiet = phases.quietCount();
        const counted = quiet > 0 ? `${quiet} ${quiet === 1 ? 'phase' : 'phases'} run, ` : '';
        print(
          `${event.direction === 'down' ? 'reverted' : 'applied'}  ${label} (${counted}${event.durationMs ?? 0} ms)`,
        );
        break;
      }
      case 'migration-failed': {
        backfill.stop();
        output.warn(`FAILED   ${label} after ${event.durationMs ?? 0} ms`);
        const undo = invariantUndo(event);
        if (undo !== undefined) output.warn(`  ${undo}`);
        break;
      }
      case 'phase-start':
        phases.start(`  phase ${(event.phase ?? 0) + 1}/${event.phases ?? '?'}: ${event.description ?? ''}…`);
        break;
      case 'phase-skipped':
        print(`  phase ${(event.phase ?? 0) + 1}/${event.phases ?? '?'}: ${event.description ?? ''} (done in an earlier run)`);
        break;
      case 'phase-end':
        backfill.stop();
        phases.end(`  phase ${(event.phase ?? 0) + 1}/${event.phases ?? '?'} done (${event.durationMs ?? 0} ms)`);
        break;
      case 'backfill-progress':
        backfill.update(event);
        break;
      case 'lock-retry':
        print(`  lock_timeout: the table is busy; retry ${event.attempt ?? 1} in ${event.delayMs ?? 0} ms`);
        break;
      case 'index-rebuilt':
        print(`  dropped the invalid index ${event.index ?? ''} left by an interrupted build; building it again`);
        break;
      case 'invariants-measuring': {
        const measuring = measuringLine(event.invariants ?? [], event.beforeValuesStored === true);
        if (measuring !== undefined) print(`  ${measuring}`);
        break;
      }
      case 'invariants-checking':
        backfill.stop();
        print(`  ${checkingLine(event.invariants ?? [])}`);
        break;
      case 'invariant-checked':
        backfill.stop();
        if (event.invariant !== undefined) print(`  ${outcomeLine(event.invariant)}`);
        break;
    }
  };
}

/** Events that belong to the running phase: its start line must come before them. */
const IN_PHASE_EVENTS: ReadonlySet<MigrationEvent['type']> = new Set([
  'migration-failed',
  'backfill-progress',
  'lock-retry',
  'index-rebuilt',
  'invariants-measuring',
  'invariants-checking',
  'invariant-checked',
]);

/**
 * A phase's start and done lines: printed as they come (`'all'`), or
 * (`'slow'`) the start line held back until the phase has run for
 * SLOW_PHASE_MS or {@link announce} is called, and the done line printed
 * only after a start line was. Phases that never showed are counted for the
 * migration's closing line.
 */
function phaseLines(print: (text: string) => void, mode: 'all' | 'slow') {
  let pending: string | undefined;
  let shown = false;
  let timer: NodeJS.Timeout | undefined;
  let quiet = 0;
  let run = 0;
  const announce = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending === undefined) return;
    print(pending);
    pending = undefined;
    shown = true;
  };
  return {
    start(line: string): void {
      if (mode === 'all') return print(line);
      announce();
      pending = line;
      shown = false;
      // unref: a progress line must never keep the process alive.
      timer = setTimeout(announce, SLOW_PHASE_MS).unref();
    },
    end(line: string): void {
      if (mode === 'all') return print(line);
      run += 1;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (shown) print(line);
      else if (pending !== undefined) quiet += 1;
      pending = undefined;
      shown = false;
    },
    announce,
    /**
     * Phases run by the migration that just ended, if any of them printed
     * nothing (else 0, its lines having said it); resets the count.
     */
    quietCount(): number {
      const count = quiet > 0 ? run : 0;
      quiet = 0;
      run = 0;
      return count;
    },
  };
}

/** How a migration that broke an invariant is being undone (from CK_MIGRATION_INVARIANT's details), or undefined. */
function invariantUndo(event: MigrationEvent): string | undefined {
  const error = event.error;
  if (event.direction !== 'up' || !isChatkeepError(error) || error.code !== 'CK_MIGRATION_INVARIANT') return undefined;
  const details = error.details as { readonly failures?: readonly unknown[]; readonly rollback?: string };
  if (details.failures === undefined) return 'a before-value could not be measured; nothing of this migration ran';
  const broken = details.failures.length === 1 ? 'an invariant broke' : `${details.failures.length} invariants broke`;
  return details.rollback === 'transaction'
    ? `${broken}: rolled back with its transaction, nothing of it was committed`
    : `${broken}: its work is committed; undoing it with its down()…`;
}

/** A bar on a terminal; elsewhere a progress line at most every 2 s. */
function backfillReporter(output: Output, print: (text: string) => void) {
  let bar: cliProgress.SingleBar | undefined;
  let lastLine = 0;
  return {
    update(event: MigrationEvent) {
      const done = event.rowsDone ?? 0;
      const total = Math.max(event.rowsTotal ?? 0, done);
      if (output.interactiveErr) {
        if (bar === undefined) {
          bar = new cliProgress.SingleBar(
            { stream: process.stderr, format: '  backfill [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}', etaBuffer: 20 },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, done, { rate: event.rowsPerSecond ?? 0 });
        }
        bar.setTotal(total);
        bar.update(done, { rate: event.rowsPerSecond ?? 0 });
        return;
      }
      const now = Date.now();
      if (now - lastLine < 2000 && done < total) return;
      lastLine = now;
      const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
      const eta = event.etaMs === undefined ? '' : `, ETA ${Math.ceil(event.etaMs / 1000)} s`;
      print(`  backfill: ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} rows (${percent}%), ${(event.rowsPerSecond ?? 0).toLocaleString('en-US')} rows/s${eta}`);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
