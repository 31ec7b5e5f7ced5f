import type { ChatkeepError } from '../errors/index.js';
import type { MigrationDirection } from './render-migration.js';

/**
 * Progress reported while `up`/`down` run, for a CLI or a log to print. The
 * migrator never prints anything itself (STYLE 7).
 *
 * - `lock-wait`: another runner holds the lock; emitted once, then polling.
 * - `lock-acquired`: `durationMs` is how long the lock took.
 * - `migration-start` / `migration-end` / `migration-failed`: one migration;
 *   `durationMs` on end and failed, `error` on failed.
 */
export interface MigrationEvent {
  readonly type:
    'lock-wait' | 'lock-acquired' | 'migration-start' | 'migration-end' | 'migration-failed';
  readonly version?: number;
  readonly name?: string;
  readonly direction?: MigrationDirection;
  readonly durationMs?: number;
  readonly error?: ChatkeepError;
}

/** Receives {@link MigrationEvent}s. Errors it throws are ignored: printing must not break a migration. */
export type MigrationEventListener = (event: MigrationEvent) => void;
