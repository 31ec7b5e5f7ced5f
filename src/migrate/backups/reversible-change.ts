import type { MigrationStatement } from '../steps.js';

/**
 * What a backup builder returns: the statements of both directions of one
 * destructive change, to return from (or splice into) a migration's `up` and
 * `down`. Plain data rendered from the arguments only, so the checksum of a
 * migration using it is stable.
 */
export interface ReversibleChange {
  readonly up: readonly MigrationStatement[];
  readonly down: readonly MigrationStatement[];
}
