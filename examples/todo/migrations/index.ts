import type { Kysely } from 'kysely';
import {
  Migrator,
  type Migration,
  type MigrationEventListener,
} from '../../../src/migrate/index.js';
import { todoTablesMigration } from './0001-todo-tables.js';

/** The Todo host app's migrations, in order (outside a checkout: `import { Migrator } from 'chatkeep/migrate'`). */
export const TODO_MIGRATIONS: readonly Migration[] = [todoTablesMigration];

/** The schema the host app lives in unless told otherwise. */
export const DEFAULT_TODO_SCHEMA = 'todo';

/**
 * The host app's migrator, on chatkeep's general engine. Its bookkeeping
 * (`<schema>.schema_migrations`) lives in the host's schema, beside its
 * tables; `down({ to: 0 })` removes the schema again.
 *
 * @example
 * const { error } = await todoMigrator(db).up();
 */
export function todoMigrator(
  db: Kysely<any>,
  options: { readonly schema?: string; readonly onEvent?: MigrationEventListener } = {},
): Migrator {
  return new Migrator({
    db,
    migrations: TODO_MIGRATIONS,
    schema: options.schema ?? DEFAULT_TODO_SCHEMA,
    removeBookkeepingAtZero: true,
    ...(options.onEvent !== undefined ? { onEvent: options.onEvent } : {}),
  });
}
