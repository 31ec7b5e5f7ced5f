import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from './backends.js';
import { startPgBouncerProcess, type PoolMode } from './pgbouncer-process.js';

export type { PoolMode } from './pgbouncer-process.js';

/**
 * A real PgBouncer in front of the test PostgreSQL, for the suites that
 * prove what chatkeep does behind a connection pooler. Skipped, visibly,
 * where the `pgbouncer` binary is missing (`apt-get install pgbouncer`;
 * `.ci/run` installs it when it can) or PostgreSQL does not answer.
 */
export const PGBOUNCER_SKIP: string | false = (() => {
  if (!PG_AVAILABLE) return `no PostgreSQL answers at ${PG_ADMIN_URL}`;
  if (spawnSync('pgbouncer', ['--version'], { stdio: 'ignore' }).status !== 0) {
    const reason = 'pgbouncer not on PATH';
    console.warn(`[chatkeep tests] SKIPPING connection-pooler cases: ${reason}`);
    return reason;
  }
  return false;
})();

/** A scratch database of the test server (createPgDatabase). */
export type PgDatabase = Awaited<ReturnType<typeof createPgDatabase>>;

export interface PgBouncer {
  /** The URL of `database` through the pooler, as the admin URL's user (or `user`, one of those it was started with). */
  url(database: string, user?: string): string;
  close(): Promise<void>;
}

/** Starts PgBouncer in `mode` on a free loopback port, pooling every database of the test server (`poolSize` server sessions per database and user, default 20) for the admin URL's user and `users`. */
export async function startPgBouncer(
  mode: PoolMode,
  options: { readonly poolSize?: number; readonly users?: readonly string[] } = {},
): Promise<PgBouncer> {
  const target = new URL(PG_ADMIN_URL);
  const user = decodeURIComponent(target.username || 'postgres');
  const bouncer = await startPgBouncerProcess({
    host: target.hostname,
    port: Number(target.port || '5432'),
    mode,
    users: [user, ...(options.users ?? [])],
    poolSize: options.poolSize ?? 20,
  });
  return {
    url: (database, as) => {
      const url = new URL(bouncer.through(PG_ADMIN_URL));
      if (as !== undefined) url.username = as;
      url.pathname = `/${database}`;
      return url.toString();
    },
    close: () => bouncer.close(),
  };
}

/** What {@link pooledDatabaseSuite} gives a suite, from its `beforeAll` on. */
export interface PooledDatabase {
  readonly bouncer: PgBouncer;
  /** The fresh database, reached directly. */
  readonly database: PgDatabase;
  /** The same database through the pooler. */
  readonly url: string;
}

/**
 * Call inside a `describe`: starts a PgBouncer in `mode` and creates a fresh
 * database for the suite, and closes and drops them after it.
 */
export function pooledDatabaseSuite(mode: PoolMode, options: { readonly poolSize?: number } = {}): PooledDatabase {
  let bouncer: PgBouncer | undefined;
  let database: PgDatabase | undefined;
  beforeAll(async () => {
    bouncer = await startPgBouncer(mode, options);
    database = await createPgDatabase();
  });
  afterAll(async () => {
    await bouncer?.close();
    await database?.drop();
  });
  const ready = () => {
    if (bouncer === undefined || database === undefined) throw new Error('pooledDatabaseSuite: used before its beforeAll ran');
    return { bouncer, database };
  };
  return {
    get bouncer() {
      return ready().bouncer;
    },
    get database() {
      return ready().database;
    },
    get url() {
      const { bouncer, database } = ready();
      return bouncer.url(database.name);
    },
  };
}
