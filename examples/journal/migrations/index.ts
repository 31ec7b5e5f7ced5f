import type { Kysely } from 'kysely';
import {
  Migrator,
  type Migration,
  type MigrationEventListener,
} from '../../../src/migrate/index.js';
import { journalTablesMigration } from './0001-journal-tables.js';
import { analysisMetadataMigration } from './0002-analysis-metadata.js';

export { ANALYSIS_V2_COLUMNS } from './0002-analysis-metadata.js';

/** The journal host app's migrations, in order (outside a checkout: `import { Migrator } from 'chatkeep/migrate'`). */
export const JOURNAL_MIGRATIONS: readonly Migration[] = [
  journalTablesMigration,
  analysisMetadataMigration,
];

/** The schema the host app lives in unless told otherwise. */
export const DEFAULT_JOURNAL_SCHEMA = 'journal';

/**
 * The host app's migrator, on chatkeep's general engine; its bookkeeping
 * lives in the host's schema.
 *
 * @example
 * const { error } = await journalMigrator(db).up();
 */
export function journalMigrator(
  db: Kysely<any>,
  options: { readonly schema?: string; readonly onEvent?: MigrationEventListener } = {},
): Migrator {
  return new Migrator({
    db,
    migrations: JOURNAL_MIGRATIONS,
    schema: options.schema ?? DEFAULT_JOURNAL_SCHEMA,
    removeBookkeepingAtZero: true,
    ...(options.onEvent !== undefined ? { onEvent: options.onEvent } : {}),
  });
}
