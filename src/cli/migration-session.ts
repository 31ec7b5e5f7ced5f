import type { PGlite } from '@electric-sql/pglite';
import { openDatabase, type Database } from '../db/index.js';
import type { Migrator } from '../migrate/index.js';
import { assertIdentifier, chatkeepMigrator, settingsForDatabase, type SchemaSettings } from '../schema/index.js';
import { databaseOptions, type GlobalOptions } from './global-options.js';
import { migrationProgress } from './migration-progress.js';
import type { Output } from './output.js';

/** What a `migrate` subcommand works with. */
export interface MigrationSession {
  readonly database: Database;
  readonly migrator: Migrator;
  readonly schema: string;
  /** `PGlite at /abs/dir (schema "chatkeep")`: printed so nobody migrates the wrong database. */
  readonly where: string;
  /** The settings chatkeep was installed with (or the defaults), which the migrator renders with. */
  readonly settings: SchemaSettings;
  /** The embedded database's PGlite instance, when asked for (`withPGlite`) and the database is PGlite. */
  readonly pglite?: PGlite;
}

/**
 * Opens the database the global options select, builds chatkeep's migrator
 * for it (with the settings it was installed with, if any) and always closes
 * the database afterwards: a PGlite folder stays locked, and a pg pool keeps
 * the process alive, until it is closed.
 */
export async function withMigrationSession<T>(
  options: GlobalOptions,
  output: Output,
  run: (session: MigrationSession) => Promise<T>,
  migratorOptions: { readonly progressToStderr?: boolean; readonly lockWaitMs?: number; readonly withPGlite?: boolean } = {},
): Promise<T> {
  const schema = assertIdentifier('schema', options.schema);
  const database = await openDatabase(databaseOptions(options));
  const pglite = migratorOptions.withPGlite === true ? database.pglite : undefined;
  try {
    const settings = await settingsForDatabase(database.db, schema);
    const migrator = chatkeepMigrator(database.db, {
      schema,
      settings,
      onEvent: migrationProgress(output, migratorOptions.progressToStderr ?? false),
      ...(migratorOptions.lockWaitMs !== undefined
        ? { lockWaitMs: migratorOptions.lockWaitMs }
        : {}),
    });
    return await run({
      database,
      migrator,
      schema,
      where: `${database.description} (schema "${schema}")`,
      settings,
      ...(pglite !== undefined ? { pglite } : {}),
    });
  } finally {
    await database.close();
  }
}
