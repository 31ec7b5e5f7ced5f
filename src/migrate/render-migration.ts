import { ChatkeepError } from '../errors/index.js';
import type { Migration, MigrationContext } from './migration.js';

/** Which way a migration runs. */
export type MigrationDirection = 'up' | 'down';

/**
 * The SQL statements of one direction of a migration. A migration whose
 * `up`/`down` throws or returns something other than strings is a bug in the
 * migration, reported as CK_CONFIG naming it rather than as a crash.
 */
export function renderMigration(
  migration: Migration,
  direction: MigrationDirection,
  context: MigrationContext,
): readonly string[] {
  let statements: unknown;
  try {
    statements = migration[direction](context);
  } catch (cause) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `Migration ${migration.version} ${migration.name}: ${direction}() threw: ${cause instanceof Error ? cause.message : String(cause)}`,
      { field: 'migrations', version: migration.version, name: migration.name },
      { cause },
    );
  }
  if (
    !Array.isArray(statements) ||
    !statements.every((s) => typeof s === 'string' && s.trim() !== '')
  ) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `Migration ${migration.version} ${migration.name}: ${direction}() must return an array of non-empty SQL strings`,
      { field: 'migrations', version: migration.version, name: migration.name },
    );
  }
  return statements as readonly string[];
}
