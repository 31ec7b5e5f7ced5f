import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';

/**
 * The backends every integration suite loops over (STYLE 14). PGlite always
 * runs; PostgreSQL runs whenever a server answers at CHATKEEP_TEST_PG (default
 * postgres://postgres@127.0.0.1:5432/postgres). CHATKEEP_TEST_BACKENDS=pglite
 * (or postgres) narrows the loop.
 */
export type BackendName = 'pglite' | 'postgres';

export const PG_ADMIN_URL = process.env['CHATKEEP_TEST_PG'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let reachable: Promise<boolean> | undefined;

/** Whether the test PostgreSQL answers; probed once per test file. */
export function postgresReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

const wanted = (process.env['CHATKEEP_TEST_BACKENDS'] ?? 'pglite,postgres').split(',').map((s) => s.trim());

export const PG_AVAILABLE = wanted.includes('postgres') ? await postgresReachable() : false;

if (wanted.includes('postgres') && !PG_AVAILABLE) {
  console.warn(`[chatkeep tests] SKIPPING PostgreSQL cases: no server answers at ${PG_ADMIN_URL}`);
}

/**
 * `migrate plan --rehearse-copy` copies a PostgreSQL database with the
 * `pg_dump` and `psql` binaries; its tests are skipped, visibly, where they
 * are not on PATH (e.g. a remote server and no client tools installed).
 */
export const PG_DUMP_SKIP: string | false = (() => {
  const missing = ['pg_dump', 'psql'].filter((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return false;
  const reason = `${missing.join(' and ')} not on PATH`;
  if (PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING PostgreSQL rehearsal-copy cases: ${reason}`);
  return reason;
})();

/** The backends to loop over in this run, with the reason when one is skipped. */
export const BACKENDS: readonly { readonly name: BackendName; readonly skip: string | false }[] = [
  { name: 'pglite', skip: wanted.includes('pglite') ? false : 'excluded by CHATKEEP_TEST_BACKENDS' },
  {
    name: 'postgres',
    skip: !wanted.includes('postgres')
      ? 'excluded by CHATKEEP_TEST_BACKENDS'
      : PG_AVAILABLE
        ? false
        : `no PostgreSQL answers at ${PG_ADMIN_URL}`,
  },
];

/** A brand-new empty database on the named backend, and a way to drop it. */
export interface ScratchDatabase {
  readonly backend: BackendName;
  readonly database: Database;
  /** For PostgreSQL: the URL of the scratch database (other processes can connect). */
  readonly url: string | undefined;
  drop(): Promise<void>;
}

/** Creates an empty PostgreSQL database and returns its URL; `drop` removes it. */
export async function createPgDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `ck_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function scratchDatabase(backend: BackendName): Promise<ScratchDatabase> {
  if (backend === 'pglite') {
    const database = await openDatabase({ dataDir: 'memory://' });
    return { backend, database, url: undefined, drop: () => database.close() };
  }
  const created = await createPgDatabase();
  const database = await openDatabase({ url: created.url, poolSize: 20 });
  return {
    backend,
    database,
    url: created.url,
    drop: async () => {
      await database.close();
      await created.drop();
    },
  };
}

/**
 * Gives the enclosing suite a brand-new database of `backend`, created before
 * its tests and dropped after them; `onReady` receives it (assign it to the
 * suite's variables).
 */
export function useScratchDatabase(backend: BackendName, onReady: (scratch: ScratchDatabase) => void): void {
  let current: ScratchDatabase | undefined;
  beforeAll(async () => {
    current = await scratchDatabase(backend);
    onReady(current);
  });
  afterAll(() => current?.drop());
}

/**
 * A database another process can open, for tests that spawn (and kill)
 * children: a fresh PostgreSQL database's URL, or a new PGlite data folder.
 * Its removal is pushed onto `cleanups`.
 */
export async function processTarget(backend: BackendName, cleanups: (() => Promise<void>)[]): Promise<string> {
  if (backend === 'postgres') {
    const db = await createPgDatabase();
    cleanups.push(db.drop);
    return db.url;
  }
  const dir = mkdtempSync(join(tmpdir(), 'chatkeep-process-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'data');
}

/** The schemas named `chatkeep…` in the PostgreSQL database at `url`: what chatkeep wrote there, if anything. */
export async function chatkeepSchemas(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>("select nspname from pg_namespace where nspname like 'chatkeep%' order by 1");
    return rows.map((r) => r.nspname);
  } finally {
    await client.end();
  }
}

/** Runs one statement as the admin user, on a connection of its own. */
export async function adminQuery(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
