import type { Kysely } from 'kysely';
import {
  Migrator,
  type Migration,
  type MigrationEventListener,
} from '../../../src/migrate/index.js';
import { coachUsersMigration } from './0001-coach-users.js';
import { onboardingIntoChatkeepMigration } from './0002-onboarding-into-chatkeep.js';

export { COACH_FLOW } from './0002-onboarding-into-chatkeep.js';

/** The running-coach host app's migrations, in order (outside a checkout: `import { Migrator } from 'chatkeep/migrate'`). */
export const COACH_MIGRATIONS: readonly Migration[] = [
  coachUsersMigration,
  onboardingIntoChatkeepMigration,
];

/** The schema the host app lives in unless told otherwise. */
export const DEFAULT_COACH_SCHEMA = 'coach';

/**
 * The host app's migrator, on chatkeep's general engine. Its bookkeeping
 * lives in the host's schema; `chatkeepSchema` tells migration 2 where
 * chatkeep's onboarding sessions are (chatkeep must be installed first).
 *
 * @example
 * const { error } = await coachMigrator(db).up();
 */
export function coachMigrator(
  db: Kysely<any>,
  options: {
    readonly schema?: string;
    readonly chatkeepSchema?: string;
    readonly onEvent?: MigrationEventListener;
  } = {},
): Migrator {
  return new Migrator({
    db,
    migrations: COACH_MIGRATIONS,
    schema: options.schema ?? DEFAULT_COACH_SCHEMA,
    settings: { chatkeepSchema: options.chatkeepSchema ?? 'chatkeep' },
    removeBookkeepingAtZero: true,
    ...(options.onEvent !== undefined ? { onEvent: options.onEvent } : {}),
  });
}
