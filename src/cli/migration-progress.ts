import type { MigrationEventListener } from '../migrate/index.js';
import { formatVersion, type Output } from './output.js';

/**
 * Turns the migrator's events into one line each: the lock wait, and each
 * migration's start and end with its duration. With `toStderr` (for --json)
 * stdout stays a single JSON document.
 */
export function migrationProgress(output: Output, toStderr: boolean): MigrationEventListener {
  const print = (text: string): void => (toStderr ? output.warn(text) : output.line(text));
  let waited = false;
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
        output.warn(`FAILED   ${label} after ${event.durationMs ?? 0} ms`);
        break;
    }
  };
}
