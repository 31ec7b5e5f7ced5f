import type { Kysely } from 'kysely';
import {
  Migrator,
  type Migration,
  type MigrationEventListener,
} from '../../../src/migrate/index.js';
import { coachUsersMigration } from './0001-coach-users.js';
import { onboardingIntoChatkeepMigration } from './0002-onboarding-into-chatkeep.js';
import { onboardingMirrorCompleteMigration } from './0003-onboarding-mirror-complete.js';

export { COACH_FLOW } from './0002-onboarding-into-chatkeep.js';

/** The running-coach host app's migrations, in order (outside a checkout: `import { Migrator } from 'chatkeep/migrate'`). */
export const COACH_MIGRATIONS: readonly Migration[] = [
  coachUsersMigration,
  onboardingIntoChatkeepMigration,
  onboardingMirrorCompleteMigration,
];

/** The schema the host app lives in unless told otherwise. */
export const DEFAULT_COACH_SCHEMA = 'coach';

/** The version that moves the legacy onboarding into chatkeep and installs the mirror: the rollout starts. */
export const ONBOARDING_MOVED = 2;

/** The version that removes the mirror: the rollout is over, no old app instance is left. */
export const ONBOARDING_MIRROR_REMOVED = 3;

/**
 * The host app's migrator, on chatkeep's general engine. Its bookkeeping
 * lives in the host's schema; `chatkeepSchema` tells migrations 2 and 3
 * where chatkeep's onboarding sessions are (chatkeep must be installed
 * first); `backfillRowsPerSecond` throttles migration 2's backfill.
 *
 * Migration 3 ends the rollout, so a deploy runs `up({ to: ONBOARDING_MOVED })`
 * and only a later one, with no old app left, runs `up()`.
 *
 * @example
 * const { error } = await coachMigrator(db).up({ to: ONBOARDING_MOVED });
 */
export function coachMigrator(
  db: Kysely<any>,
  options: {
    readonly schema?: string;
    readonly chatkeepSchema?: string;
    readonly backfillRowsPerSecond?: number;
    readonly onEvent?: MigrationEventListener;
  } = {},
): Migrator {
  return new Migrator({
    db,
    migrations: COACH_MIGRATIONS,
    schema: options.schema ?? DEFAULT_COACH_SCHEMA,
    settings: {
      chatkeepSchema: options.chatkeepSchema ?? 'chatkeep',
      ...(options.backfillRowsPerSecond !== undefined
        ? { backfillRowsPerSecond: options.backfillRowsPerSecond }
        : {}),
    },
    removeBookkeepingAtZero: true,
    ...(options.onEvent !== undefined ? { onEvent: options.onEvent } : {}),
  });
}
