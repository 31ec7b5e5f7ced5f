import type { MigrationDirection } from './render-migration.js';

/**
 * One row of the `<table>_log` audit table: every up/down attempt, including
 * failed ones (whose row is written after the rollback, so it survives it).
 */
export interface MigrationLogEntry {
  readonly id: number;
  readonly version: number;
  readonly name: string;
  readonly direction: MigrationDirection;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  readonly outcome: 'ok' | 'failed';
  /** The failure message (migration, statement index, SQLSTATE); null on success. */
  readonly error: string | null;
}
