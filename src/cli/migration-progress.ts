import cliProgress from 'cli-progress';
import type { MigrationEvent, MigrationEventListener } from '../migrate/index.js';
import { formatVersion, type Output } from './output.js';

/**
 * Turns the migrator's events into output: the lock wait, each migration's
 * start and end with its duration, and for phased migrations each phase and
 * a backfill's progress — a live bar with rate and ETA on a terminal
 * (cli-progress), a line every few seconds otherwise. With `toStderr` (for
 * --json) stdout stays a single JSON document.
 */
export function migrationProgress(output: Output, toStderr: boolean): MigrationEventListener {
  const print = (text: string): void => (toStderr ? output.warn(text) : output.line(text));
  let waited = false;
  const backfill = backfillReporter(output, print);
  return (event) => {
    const label =
      event.version === undefined ? '' : `${formatVersion(event.version)} ${event.name ?? ''}`;
    switch (event.type) {
      case 'lock-wait':
        waited = true;
        print('waiting for another migrator… (another process holds the migration lock)');
        break;
      case 'lock-acquired':
        if (waited) print(`migration lock acquired after ${event.durationMs ?? 0} ms`);
        break;
      case 'migration-start':
        print(`${event.direction === 'down' ? 'reverting' : 'applying'} ${label}…`);
        break;
      case 'migration-end':
        print(
          `${event.direction === 'down' ? 'reverted' : 'applied'}  ${label} (${event.durationMs ?? 0} ms)`,
        );
        break;
      case 'migration-failed':
        backfill.stop();
        output.warn(`FAILED   ${label} after ${event.durationMs ?? 0} ms`);
        break;
      case 'phase-start':
        print(`  phase ${(event.phase ?? 0) + 1}/${event.phases ?? '?'}: ${event.description ?? ''}…`);
        break;
      case 'phase-skipped':
        print(`  phase ${(event.phase ?? 0) + 1}/${event.phases ?? '?'}: ${event.description ?? ''} (done in an earlier run)`);
        break;
      case 'phase-end':
        backfill.stop();
        print(`  phase ${(event.phase ?? 0) + 1}/${event.phases ?? '?'} done (${event.durationMs ?? 0} ms)`);
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
    }
  };
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
