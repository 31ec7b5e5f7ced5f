import { ChatkeepError } from '../errors/index.js';

/**
 * Where the data lives. Exactly one backend is chosen, and what the caller
 * passes beats the environment: `url` selects PostgreSQL and `dataDir` the
 * embedded database whatever `DATABASE_URL` and `CHATKEEP_DATA_DIR` say;
 * passing both is CK_CONFIG. With neither, `DATABASE_URL` selects
 * PostgreSQL, else `CHATKEEP_DATA_DIR`, else `./.chatkeep/data`.
 *
 * @example
 * // PGlite in memory, even in a shell that exports DATABASE_URL.
 * const options: DatabaseOptions = { dataDir: 'memory://' };
 */
export interface DatabaseOptions {
  /** `postgres://…` selects PostgreSQL. Defaults to `DATABASE_URL` when `dataDir` is not given either. */
  readonly url?: string;
  /**
   * Folder of the embedded PGlite database, created on first use, or
   * `memory://` for a throw-away in-memory database. Given, it beats
   * `DATABASE_URL`. Defaults to `CHATKEEP_DATA_DIR`, else `./.chatkeep/data`.
   */
  readonly dataDir?: string;
  /** PostgreSQL pool size (default 10). */
  readonly poolSize?: number;
  /**
   * How long a call waits for a connection (default 5000 ms): for PostgreSQL
   * to answer a new one (at open and later), and for one of a full pool's
   * to be released. Past it the call is CK_DB_UNAVAILABLE.
   */
  readonly connectTimeoutMs?: number;
  /**
   * `'transaction'`: `url` is a connection pooler in transaction mode
   * (PgBouncer `pool_mode = transaction`, the pooled URLs of Supabase or
   * Neon), which hands one server session to many clients between
   * transactions. chatkeep then keeps nothing in its sessions: no named
   * prepared statements, no session settings (the database's own defaults
   * are checked instead), no migrations (they need a session-level lock:
   * run `chatkeep migrate up` against PostgreSQL itself), and for a role
   * that row-level security binds, the acting user is set in a transaction
   * around each statement instead of per session. Without it, such a pooler
   * is refused.
   */
  readonly pooler?: 'transaction';
}

export type ResolvedDatabaseOptions =
  | { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number; readonly connectTimeoutMs: number; readonly transactionPooler: boolean }
  | { readonly kind: 'pglite'; readonly dataDir: string };

export const MEMORY_DATA_DIR = 'memory://';
export const DEFAULT_DATA_DIR = './.chatkeep/data';

/**
 * Applies environment defaults and checks the options; throws CK_CONFIG naming the field.
 * The environment only fills in what the options leave open: a caller who
 * names a database gets that one, not whatever the shell happens to export
 * (a quick start with `dataDir: 'memory://'` must not write into the
 * `DATABASE_URL` of the developer's shell).
 */
export function resolveDatabaseOptions(
  options: DatabaseOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedDatabaseOptions {
  if (options.url !== undefined && options.dataDir !== undefined) {
    throw new ChatkeepError('CK_CONFIG', 'url: pass either url (PostgreSQL) or dataDir (the embedded database), not both', { field: 'url' });
  }
  if (options.pooler !== undefined && options.pooler !== 'transaction') {
    throw new ChatkeepError('CK_CONFIG', "pooler: expected 'transaction' (or leave it out for PostgreSQL itself or a session-mode pooler)", { field: 'pooler' });
  }
  const url = options.url ?? (options.dataDir === undefined ? nonEmpty(env['DATABASE_URL']) : undefined);
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new ChatkeepError('CK_CONFIG', 'url: expected a postgres:// or postgresql:// URL', { field: 'url' });
    }
    const poolSize = options.poolSize ?? 10;
    if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
      throw new ChatkeepError('CK_CONFIG', 'poolSize: expected an integer from 1 to 1000', { field: 'poolSize' });
    }
    const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1) {
      throw new ChatkeepError('CK_CONFIG', 'connectTimeoutMs: expected a positive integer', { field: 'connectTimeoutMs' });
    }
    return { kind: 'postgres', url, poolSize, connectTimeoutMs, transactionPooler: options.pooler === 'transaction' };
  }
  if (options.pooler !== undefined) {
    throw new ChatkeepError('CK_CONFIG', 'pooler: only for PostgreSQL (a url); the embedded database has no pooler', { field: 'pooler' });
  }
  const dataDir = options.dataDir ?? nonEmpty(env['CHATKEEP_DATA_DIR']) ?? DEFAULT_DATA_DIR;
  if (dataDir.trim() === '') {
    throw new ChatkeepError('CK_CONFIG', 'dataDir: must not be empty', { field: 'dataDir' });
  }
  // `memory://x` (or `idb://…`, `file://…`) would otherwise be a relative
  // folder named `memory:`: data written to disk by someone who asked for a
  // throw-away database.
  if (dataDir !== MEMORY_DATA_DIR && /^[a-z][a-z0-9+.-]*:\/\//i.test(dataDir)) {
    throw new ChatkeepError('CK_CONFIG', `dataDir: "${dataDir}" is neither a folder nor ${MEMORY_DATA_DIR} (exactly, for a throw-away in-memory database); a PostgreSQL URL goes in url`, {
      field: 'dataDir',
    });
  }
  return { kind: 'pglite', dataDir };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** A URL safe to print: the password is masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}
