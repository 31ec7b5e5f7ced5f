import type { PGlite } from '@electric-sql/pglite';
import type { Database } from '../db/index.js';
import type { Migration, MigrationContext, Migrator } from '../migrate/index.js';
import type { MigrationTarget } from '../migrate/select-steps.js';
import type { SchemaSettings } from '../schema/index.js';
import { UsageError } from './exit-codes.js';
import { databaseOptions, type GlobalOptions } from './global-options.js';
import { loadDb, loadMigrate, loadSchema } from './lazy-modules.js';
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
  /** The migrations the migrator runs (chatkeep's own unless the program was built with others). */
  readonly migrations: readonly Migration[];
  /** What they are rendered with: the schema and `settings` as JSON. */
  readonly context: MigrationContext;
  /** The embedded database's PGlite instance, when asked for (`withPGlite`) and the database is PGlite. */
  readonly pglite?: PGlite;
}

/**
 * Opens the database the global options select, builds the migrator for it
 * (with the settings chatkeep was installed with, if any) and always closes
 * the database afterwards: a PGlite folder stays locked, and a pg pool keeps
 * the process alive, until it is closed.
 *
 * The migrator is built with the options `chatkeepMigrator`
 * (src/schema/chatkeep-migrator.ts) uses, over `migrations` (default
 * chatkeep's own): a host embedding the CLI, and the CLI's tests, pass
 * migrations that declare invariants, which chatkeep's do not.
 */
export async function withMigrationSession<T>(
  options: GlobalOptions,
  output: Output,
  run: (session: MigrationSession) => Promise<T>,
  migratorOptions: {
    readonly progressToStderr?: boolean;
    readonly lockWaitMs?: number;
    readonly withPGlite?: boolean;
    readonly migrations?: readonly Migration[];
    /** `--to` of up/down/plan: checked against the migration list before the database is opened or created. */
    readonly target?: MigrationTarget;
  } = {},
): Promise<T> {
  const [{ openDatabase }, { Migrator }, { assertTarget }, { assertIdentifier, CHATKEEP_MIGRATIONS, settingsForDatabase, settingsToJson }] =
    await Promise.all([loadDb(), loadMigrate(), import('../migrate/select-steps.js'), loadSchema()]);
  const schema = assertIdentifier('schema', options.schema);
  // The migration lock is session-level; a transaction pooler would hand it to another client.
  if (options.pooler === 'transaction') {
    throw new UsageError('--pooler transaction: migrations need a session of their own; point --database-url at PostgreSQL itself (or a session-mode pooler) for `migrate`');
  }
  if (migratorOptions.target !== undefined) assertTarget(migratorOptions.migrations ?? CHATKEEP_MIGRATIONS, migratorOptions.target);
  const database = await openDatabase(databaseOptions(options));
  const pglite = migratorOptions.withPGlite === true ? database.pglite : undefined;
  try {
    const settings = await settingsForDatabase(database.db, schema);
    const migrations = migratorOptions.migrations ?? CHATKEEP_MIGRATIONS;
    const context: MigrationContext = { schema, settings: settingsToJson(settings) };
    const migrator = new Migrator({
      db: database.db,
      migrations,
      schema,
      settings: context.settings,
      removeBookkeepingAtZero: true,
      onEvent: migrationProgress(output, {
        toStderr: migratorOptions.progressToStderr ?? false,
      }),
      ...(migratorOptions.lockWaitMs !== undefined ? { lockWaitMs: migratorOptions.lockWaitMs } : {}),
    });
    return await run({
      database,
      migrator,
      schema,
      where: `${database.description} (schema "${schema}")`,
      settings,
      migrations,
      context,
      ...(pglite !== undefined ? { pglite } : {}),
    });
  } finally {
    await database.close();
  }
}
