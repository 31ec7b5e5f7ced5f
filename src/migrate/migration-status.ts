import type { ChatkeepError } from '../errors/index.js';
import type { InFlightMigration } from './step-journal.js';

/** A migration recorded as applied in the version table. */
export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  /** The checksum recorded when it ran (see `checksumOf`). */
  readonly checksum: string;
  readonly appliedAt: Date;
  readonly durationMs: number;
}

/** A migration on disk that is not applied yet. */
export interface PendingMigration {
  readonly version: number;
  readonly name: string;
}

/**
 * Where the database stands against the migration list. `current` is the
 * highest applied version (0 when none). `problems` holds every mismatch
 * between disk and database (CK_MIGRATION_CHECKSUM / CK_MIGRATION_HISTORY);
 * while it is non-empty, `up` and `down` refuse to run.
 */
export interface MigrationStatus {
  readonly applied: readonly AppliedMigration[];
  readonly pending: readonly PendingMigration[];
  readonly current: number;
  readonly problems: readonly ChatkeepError[];
  /**
   * Phased migrations that started and did not finish (killed, or failed in
   * a later phase): the phases done and rows backfilled so far. The next
   * `up` (or `down`) resumes them where they stopped.
   */
  readonly inFlight: readonly (InFlightMigration & { readonly name: string })[];
}
