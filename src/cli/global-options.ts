import { Option, type Command } from 'commander';
// The module itself, not db/index.js: the command tree must not load the drivers (see program.ts).
import { DEFAULT_DATA_DIR, type DatabaseOptions } from '../db/database-options.js';

/** The options every command accepts, wherever they appear on the command line. */
export interface GlobalOptions {
  /** PostgreSQL URL; when set, PostgreSQL is used and `dataDir` is ignored. */
  readonly databaseUrl: string | undefined;
  /** Folder of the embedded PGlite database. */
  readonly dataDir: string;
  /** The PostgreSQL schema chatkeep lives in. */
  readonly schema: string;
}

/** Declares the global options on the root command. */
export function addGlobalOptions(program: Command): Command {
  return program
    .addOption(
      new Option(
        '--database-url <url>',
        'PostgreSQL URL (postgres://…); when set, PostgreSQL is used instead of the embedded database',
      ).env('DATABASE_URL'),
    )
    .addOption(
      new Option('--data-dir <dir>', 'folder of the embedded PGlite database, created on first use')
        .env('CHATKEEP_DATA_DIR')
        .default(DEFAULT_DATA_DIR),
    )
    .addOption(
      new Option('--schema <name>', 'PostgreSQL schema chatkeep lives in').default('chatkeep'),
    );
}

/** The global options as seen from any (sub)command. */
export function globalOptions(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals<{
    databaseUrl?: string;
    dataDir?: string;
    schema?: string;
  }>();
  return {
    // An exported-but-empty DATABASE_URL means "not set", as in openDatabase.
    databaseUrl: nonEmpty(opts.databaseUrl),
    dataDir: nonEmpty(opts.dataDir) ?? DEFAULT_DATA_DIR,
    schema: opts.schema ?? 'chatkeep',
  };
}

/** What to pass to `openDatabase`/`openStore`. */
export function databaseOptions(options: GlobalOptions): DatabaseOptions {
  return options.databaseUrl !== undefined
    ? { url: options.databaseUrl }
    : { dataDir: options.dataDir };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
