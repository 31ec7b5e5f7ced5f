import { ChatkeepError } from '../errors/index.js';
import type { Migration } from './migration.js';
import type { MigrationDirection } from './render-migration.js';

/** One migration to run in one direction. */
export interface MigrationStep {
  readonly migration: Migration;
  readonly direction: MigrationDirection;
}

/** Where `up`/`down` should stop. `up` without `to` means the latest version. */
export type MigrationTarget =
  | { readonly direction: 'up'; readonly to?: number | undefined }
  | { readonly direction: 'down'; readonly to: number };

/**
 * Checks a target against the migration list alone, so a typo is reported
 * before any lock is taken. `up` targets must be a version on disk; `down`
 * targets a version on disk or 0 (undo everything). Throws CK_MIGRATION_TARGET.
 */
export function assertTarget(migrations: readonly Migration[], target: MigrationTarget): void {
  const { to } = target;
  if (to === undefined) {
    if (target.direction === 'down')
      throw targetError('down needs a target version ({ to: 0 } undoes everything)', to);
    return;
  }
  const known =
    migrations.some((m) => m.version === to) || (target.direction === 'down' && to === 0);
  if (typeof to !== 'number' || !Number.isSafeInteger(to) || !known) {
    const versions = migrations.map((m) => m.version).join(', ') || 'none';
    throw targetError(
      `Unknown ${target.direction} target ${String(to)}; known versions: ${versions}${target.direction === 'down' ? ' (or 0)' : ''}`,
      to,
    );
  }
}

/**
 * The migrations `up`/`down` would run, in execution order: for `up`, every
 * unapplied version up to the target, ascending; for `down`, every applied
 * version above the target, and every one whose `up` is in flight there
 * (`inFlightUps`: its `down` undoes the half-done work), descending. Assumes
 * {@link assertTarget} and the history check passed (every applied version
 * exists on disk).
 */
export function selectSteps(
  migrations: readonly Migration[],
  appliedVersions: ReadonlySet<number>,
  target: MigrationTarget,
  inFlightUps: ReadonlySet<number> = new Set(),
): MigrationStep[] {
  if (target.direction === 'up') {
    const to = target.to ?? Number.POSITIVE_INFINITY;
    return migrations
      .filter((m) => m.version <= to && !appliedVersions.has(m.version))
      .map((migration) => ({ migration, direction: 'up' }));
  }
  return migrations
    .filter((m) => m.version > target.to && (appliedVersions.has(m.version) || inFlightUps.has(m.version)))
    .reverse()
    .map((migration) => ({ migration, direction: 'down' }));
}

function targetError(message: string, to: unknown): ChatkeepError {
  return new ChatkeepError('CK_MIGRATION_TARGET', message, {
    field: 'to',
    to: typeof to === 'number' ? to : String(to),
  });
}
