import { ChatkeepError } from '../../errors/index.js';
import type { Migration } from '../migration.js';
import type { InvariantOutcome } from './invariant.js';

/**
 * How a migration that broke an invariant was undone: in its own
 * transaction (nothing of it was ever committed), by its `down` (phased and
 * non-transactional migrations commit as they go), or not at all because
 * `down` failed too (the database is between the two; see the message).
 */
export type InvariantRollback = 'transaction' | 'down' | 'down-failed';

/**
 * CK_MIGRATION_INVARIANT for broken invariants. The message names each one
 * with the expected and observed values — counts and digests, never row
 * content — and what was undone.
 *
 * @example
 * // Migration 7 split-names (up): invariant "row count of app.users preserved" failed: expected 1,000 rows (as before up), observed 998 rows; rolled back: the database is as before this migration
 */
export function invariantFailure(
  migration: Migration,
  failed: readonly InvariantOutcome[],
  rollback: InvariantRollback | 'pending',
  downError?: Error,
): ChatkeepError {
  const which =
    failed.length === 1
      ? `invariant "${failed[0]!.name}" failed: expected ${failed[0]!.expected}, observed ${failed[0]!.observed}`
      : `${failed.length} invariants failed: ${failed.map((f) => `"${f.name}" (expected ${f.expected}, observed ${f.observed})`).join('; ')}`;
  const aftermath = {
    transaction: 'rolled back: the database is as before this migration',
    pending: 'undoing it with down()',
    down: 'undone by its down(): the migration is not applied and runs again, from the start, next time',
    'down-failed': `its down() failed too (${downError?.message ?? 'unknown error'}): the migration is not recorded, its work is partly in place; fix by hand before running up again`,
  }[rollback];
  return new ChatkeepError(
    'CK_MIGRATION_INVARIANT',
    `Migration ${migration.version} ${migration.name} (up): ${which}; ${aftermath}`,
    {
      version: migration.version,
      name: migration.name,
      direction: 'up',
      invariant: failed[0]?.name,
      failures: failed.map(({ name, kind, expected, observed }) => ({ invariant: name, kind, expected, observed })),
      ...(rollback === 'pending' ? {} : { rollback }),
    },
    downError === undefined ? undefined : { cause: downError },
  );
}

/** CK_MIGRATION_INVARIANT for a before-value that cannot be measured: raised before any of the migration runs. */
export function beforeNotMeasurable(migration: Migration, invariant: string, cause: Error): ChatkeepError {
  return new ChatkeepError(
    'CK_MIGRATION_INVARIANT',
    `Migration ${migration.version} ${migration.name} (up): the before-value of invariant "${invariant}" cannot be measured: ${cause.message}; nothing of this migration ran`,
    { version: migration.version, name: migration.name, direction: 'up', invariant },
    { cause: cause.cause ?? cause },
  );
}

/** Whether `error` is a broken invariant (passed through unchanged by the runners). */
export function isInvariantFailure(error: unknown): error is ChatkeepError {
  return error instanceof ChatkeepError && error.code === 'CK_MIGRATION_INVARIANT';
}
