import { ChatkeepError } from '../errors/index.js';
import type { Migration } from './migration.js';
import type { MigrationTarget } from './select-steps.js';
import type { InFlightMigration } from './step-journal.js';

/**
 * What a run must do about migrations left in flight in the other
 * direction — resuming one in its own direction is the step runner's job.
 *
 * - An `up` in flight (phases journaled, version never recorded) below a
 *   `down` target's range would otherwise be stepped over: the versions
 *   beneath it would be reverted while its half-done work still stands on
 *   them. So `down` undoes it first, with its `down`, like a failed
 *   invariant does: these versions are returned for the down selection.
 * - A `down` in flight (the version still recorded, part of it reverted) is
 *   not something `up` can step over either: it would count the version as
 *   applied and build on a half-reverted schema. `up` refuses until the
 *   `down` is finished; see {@link halfRevertedProblem}.
 */
export function strandedUps(
  inFlight: readonly InFlightMigration[],
  appliedVersions: ReadonlySet<number>,
  target: MigrationTarget,
): Set<number> {
  if (target.direction !== 'down') return new Set();
  return new Set(
    inFlight
      .filter((f) => f.direction === 'up' && !appliedVersions.has(f.version) && f.version > target.to)
      .map((f) => f.version),
  );
}

/**
 * The refusal for a run that cannot proceed because of the other
 * direction's work in flight, or undefined: an `up` whose range holds a
 * half-reverted migration, or a `down` that must undo an in-flight `up`
 * whose migration is no longer on disk (its `down` cannot be rendered).
 */
export function inFlightProblem(
  migrations: readonly Migration[],
  inFlight: readonly InFlightMigration[],
  appliedVersions: ReadonlySet<number>,
  target: MigrationTarget,
): ChatkeepError | undefined {
  if (target.direction === 'up') {
    const to = target.to ?? Number.POSITIVE_INFINITY;
    const half = inFlight.find((f) => f.direction === 'down' && appliedVersions.has(f.version) && f.version <= to);
    if (half === undefined) return undefined;
    const name = migrations.find((m) => m.version === half.version)?.name ?? '?';
    const below = Math.max(0, ...migrations.filter((m) => m.version < half.version).map((m) => m.version));
    return new ChatkeepError(
      'CK_MIGRATION_HISTORY',
      `Migration ${half.version} ${name} is half-reverted: its down stopped after ${half.phasesDone} finished phase(s) and the version is still recorded, so up cannot build on it. Finish the down first (down({ to: ${below} }); CLI: migrate down --to ${below}), then run up again`,
      { version: half.version, name, problem: 'half-reverted', phasesDone: half.phasesDone },
    );
  }
  for (const version of strandedUps(inFlight, appliedVersions, target)) {
    if (migrations.some((m) => m.version === version)) continue;
    return new ChatkeepError(
      'CK_MIGRATION_HISTORY',
      `Migration ${version} is in flight (its up stopped part-way, never recorded) but missing from the migration list, so its down cannot run to undo it. Restore it to the list, or repair by hand and clear its journal rows`,
      { version, problem: 'in-flight-missing' },
    );
  }
  return undefined;
}
