import { Option, type Command } from 'commander';
// The module itself, not db/index.js: the command tree must not load the drivers (see program.ts).
import { DEFAULT_DATA_DIR, resolveDatabaseOptions, type DatabaseOptions } from '../db/database-options.js';
import { ChatkeepError, isChatkeepError } from '../errors/index.js';
import { assertIdentifier } from '../migrate/identifier.js';
import { UsageError } from './exit-codes.js';

/** The options every command accepts, wherever they appear on the command line. */
export interface GlobalOptions {
  /** PostgreSQL URL; when set, PostgreSQL is used and `dataDir` is ignored. */
  readonly databaseUrl: string | undefined;
  /** Folder of the embedded PGlite database. */
  readonly dataDir: string;
  /** The PostgreSQL schema chatkeep lives in. */
  readonly schema: string;
  /**
   * The database option typed on the command line, if any: it beat the
   * environment, and another option that names a database (`demo --memory`)
   * contradicts it.
   */
  readonly given: '--database-url' | '--data-dir' | undefined;
  /** `--pooler transaction`: the URL is a pooler in transaction mode. */
  readonly pooler: 'transaction' | undefined;
}

/** Declares the global options on the root command. */
export function addGlobalOptions(program: Command): Command {
  return program
    .addOption(
      new Option(
        '--database-url <url>',
        'PostgreSQL URL (postgres://…): use PostgreSQL instead of the embedded database. $DATABASE_URL is used only when --data-dir is not given',
      ).env('DATABASE_URL'),
    )
    .addOption(
      new Option(
        '--data-dir <dir>',
        'folder of the embedded PGlite database, created on first use (memory:// for a throw-away one). Given on the command line, it wins over $DATABASE_URL; giving --database-url too is a usage error',
      )
        .env('CHATKEEP_DATA_DIR')
        .default(DEFAULT_DATA_DIR),
    )
    .addOption(
      new Option('--schema <name>', 'PostgreSQL schema chatkeep lives in').default('chatkeep'),
    )
    .addOption(
      new Option(
        '--pooler <mode>',
        "'transaction': --database-url is a pooler in transaction mode (PgBouncer pool_mode = transaction, a Supabase or Neon pooled URL); chatkeep then keeps nothing in its sessions and does not migrate (run `migrate up` against PostgreSQL itself)",
      )
        .choices(['transaction'])
        .env('CHATKEEP_POOLER'),
    );
}

/**
 * The options `--help` lists under "Global Options": the root command's,
 * which every command accepts wherever they are typed. Commander's own list
 * (`showGlobalOptions`) adds the options of every ancestor, so `mcp role
 * --help` offered `mcp`'s serving options (`--transport`, `--port`, …) as
 * if they were global, though `role` takes none of them.
 */
export function visibleGlobalOptions(command: Command): Option[] {
  let root = command;
  while (root.parent !== null) root = root.parent;
  return root === command ? [] : root.options.filter((option) => !option.hidden);
}

/**
 * The global options as seen from any (sub)command. What is typed on the
 * command line beats the environment, as in `openStore`: `--data-dir`
 * beats `$DATABASE_URL` and `--database-url` beats `$CHATKEEP_DATA_DIR`;
 * typing both is a usage error. With neither typed, `$DATABASE_URL` (when
 * set) selects PostgreSQL as before.
 */
export function globalOptions(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals<{
    databaseUrl?: string;
    dataDir?: string;
    schema?: string;
    pooler?: 'transaction';
  }>();
  // An exported-but-empty DATABASE_URL means "not set", as in openDatabase;
  // an empty flag (`--data-dir "$UNSET"`) counts as not typed, as before.
  const databaseUrl = nonEmpty(opts.databaseUrl);
  const dataDir = nonEmpty(opts.dataDir);
  const urlTyped = databaseUrl !== undefined && command.getOptionValueSourceWithGlobals('databaseUrl') === 'cli';
  const dirTyped = dataDir !== undefined && command.getOptionValueSourceWithGlobals('dataDir') === 'cli';
  if (urlTyped && dirTyped) {
    throw new UsageError('--database-url and --data-dir name two databases: give one of them');
  }
  const postgres = !dirTyped && databaseUrl !== undefined;
  // An exported CHATKEEP_POOLER is about the exported URL; typed without any URL, it is a mistake.
  if (opts.pooler !== undefined && !postgres && command.getOptionValueSourceWithGlobals('pooler') === 'cli') {
    throw new UsageError('--pooler is for PostgreSQL (--database-url or DATABASE_URL); the embedded database has no pooler');
  }
  const options: GlobalOptions = {
    databaseUrl: dirTyped ? undefined : databaseUrl,
    dataDir: dataDir ?? DEFAULT_DATA_DIR,
    schema: opts.schema ?? 'chatkeep',
    given: urlTyped ? '--database-url' : dirTyped ? '--data-dir' : undefined,
    pooler: postgres ? opts.pooler : undefined,
  };
  checkAsTyped(command, options);
  return options;
}

/** The library's option names, as the user typed them here: a flag, or the variable it came from. */
const TYPED_AS: Readonly<Record<string, readonly [option: string, env: string | undefined]>> = {
  url: ['--database-url', 'DATABASE_URL'],
  dataDir: ['--data-dir', 'CHATKEEP_DATA_DIR'],
  schema: ['--schema', undefined],
};

/**
 * Runs the library's checks of the database options now, so a bad value is
 * refused before anything is opened and named as the user typed it: the
 * library says `url: expected a postgres:// … URL`, but on the command line
 * there is no `url`, only `--database-url` or $DATABASE_URL.
 */
function checkAsTyped(command: Command, options: GlobalOptions): void {
  try {
    assertIdentifier('schema', options.schema);
    resolveDatabaseOptions(databaseOptions(options), {});
  } catch (error) {
    const field = isChatkeepError(error) ? (error.details as { field?: unknown } | undefined)?.field : undefined;
    const names = typeof field === 'string' ? TYPED_AS[field] : undefined;
    if (!isChatkeepError(error) || error.code !== 'CK_CONFIG' || names === undefined) throw error;
    const [option, env] = names;
    const source = command.getOptionValueSourceWithGlobals(field === 'url' ? 'databaseUrl' : (field as string));
    const typed = source === 'env' && env !== undefined ? `$${env}` : option;
    const message = error.message
      .replace(new RegExp(`^${field as string}:`), `${typed}:`)
      .replace(/goes in url$/, 'goes in --database-url');
    throw new ChatkeepError('CK_CONFIG', message, { field: typed });
  }
}

/** What to pass to `openDatabase`/`openStore`. */
export function databaseOptions(options: GlobalOptions): DatabaseOptions {
  return options.databaseUrl !== undefined
    ? { url: options.databaseUrl, ...(options.pooler !== undefined ? { pooler: options.pooler } : {}) }
    : { dataDir: options.dataDir };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
