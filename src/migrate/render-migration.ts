import { ChatkeepError } from '../errors/index.js';
import type { Migration, MigrationContext } from './migration.js';
import { invalidStep, type MigrationStatement } from './steps.js';

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
): readonly MigrationStatement[] {
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
  const problem = Array.isArray(statements)
    ? statements.map(invalidStep).find((reason) => reason !== undefined)
    : 'not an array';
  if (problem !== undefined) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `Migration ${migration.version} ${migration.name}: ${direction}() must return an array of SQL strings and steps (${problem})`,
      { field: 'migrations', version: migration.version, name: migration.name },
    );
  }
  return statements as readonly MigrationStatement[];
}
