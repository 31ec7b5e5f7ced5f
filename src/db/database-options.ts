import { ChatkeepError } from '../errors/index.js';

/** Where the data lives. Exactly one backend is chosen; PostgreSQL wins when a URL is given. */
export interface DatabaseOptions {
  /** `postgres://…` selects PostgreSQL. Defaults to `DATABASE_URL`. */
  readonly url?: string;
  /**
   * Folder of the embedded PGlite database, created on first use, or
   * `memory://` for a throw-away in-memory database. Defaults to
   * `CHATKEEP_DATA_DIR`, else `./.chatkeep/data`.
   */
  readonly dataDir?: string;
  /** PostgreSQL pool size (default 10). */
  readonly poolSize?: number;
  /** How long to wait for PostgreSQL to answer the first query (default 5000 ms). */
  readonly connectTimeoutMs?: number;
}

export type ResolvedDatabaseOptions =
  | { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number; readonly connectTimeoutMs: number }
  | { readonly kind: 'pglite'; readonly dataDir: string };

export const MEMORY_DATA_DIR = 'memory://';
export const DEFAULT_DATA_DIR = './.chatkeep/data';

/** Applies environment defaults and checks the options; throws CK_CONFIG naming the field. */
export function resolveDatabaseOptions(
  options: DatabaseOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedDatabaseOptions {
  const url = options.url ?? nonEmpty(env['DATABASE_URL']);
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
    return { kind: 'postgres', url, poolSize, connectTimeoutMs };
  }
  const dataDir = options.dataDir ?? nonEmpty(env['CHATKEEP_DATA_DIR']) ?? DEFAULT_DATA_DIR;
  if (dataDir.trim() === '') {
    throw new ChatkeepError('CK_CONFIG', 'dataDir: must not be empty', { field: 'dataDir' });
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
