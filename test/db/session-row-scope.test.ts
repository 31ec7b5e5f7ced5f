import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, runInRowScope, type Database } from '../../src/db/index.js';
import { wrapDriverError, type ChatkeepError } from '../../src/errors/index.js';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';

/**
 * With row-level security enforced, every reservation of a connection first
 * sets the call's row scope on it. A connection the server ended while it sat
 * idle in the pool (a restart, a failover, pg_terminate_backend) can be handed
 * out before the driver has read its end: setting the scope is then the
 * statement that fails. That call fails (CK_DB_UNAVAILABLE), and the
 * connection must go back to the pool to be destroyed: kept by nobody, it
 * would be lost to the pool for good, and after poolSize such kills every
 * call would wait for a free connection until connectTimeoutMs and fail, and
 * close() would wait for it forever.
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING session-row-scope cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);

describe.skipIf(!PG_AVAILABLE)('postgres: the row scope set on a reserved connection', () => {
  let created: Awaited<ReturnType<typeof createPgDatabase>>;
  let admin: pg.Client;
  beforeAll(async () => {
    created = await createPgDatabase();
    admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await created?.drop();
  });

  /** A one-statement call in a user's scope; its error as chatkeep types it. */
  const call = (database: Database) =>
    runInRowScope({ user: 'alice' }, () => sql<{ user: string }>`select current_setting('chatkeep.user_id') as user`.execute(database.db)).then(
      ({ rows }) => rows[0]?.user,
      (error: unknown) => wrapDriverError(error) as ChatkeepError,
    );

  const within = (ms: number, work: Promise<string>) =>
    Promise.race([work, new Promise<string>((resolve) => setTimeout(() => resolve(`still closing after ${ms} ms`), ms))]);

  it('a connection killed while idle fails at most the call that draws it (CK_DB_UNAVAILABLE); the pool keeps serving and close() returns', { timeout: 30_000 }, async () => {
    const POOL = 2;
    const database = await openDatabase({ url: created.url, poolSize: POOL, connectTimeoutMs: 2000 });
    database.enforceRowScope();
    let closing: Promise<string> | undefined;
    try {
      // More kills than the pool has connections: each one that leaked would be gone for good.
      for (let round = 0; round < POOL * 2; round++) {
        // Both connections of the pool open and idle, with no call running.
        expect(await Promise.all(Array.from({ length: POOL }, () => call(database)))).toEqual(Array(POOL).fill('alice'));
        // Returns as soon as the signal is sent: the store's next call can be handed a connection whose end it has not read.
        await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = 'chatkeep'`, [created.name]);
        // A client retries what failed for a lost connection; within a few attempts the pool answers.
        let answer: string | ChatkeepError | undefined;
        for (let attempt = 1; attempt <= POOL + 1; attempt++) {
          answer = await call(database);
          if (typeof answer === 'string') break;
          expect([answer?.code, answer?.message]).toEqual(['CK_DB_UNAVAILABLE', answer?.message]);
        }
        expect(answer, `round ${round}: ${typeof answer === 'string' ? '' : answer?.message}`).toBe('alice');
      }
      // close() waits for every connection to be back in the pool: one lost by a failed reservation hung it.
      closing = database.close().then(() => 'closed');
      expect(await within(5000, closing)).toBe('closed');
    } finally {
      // Bounded: with a connection lost to the pool, close() never returns (the database's drop ends it).
      await within(5000, closing ?? database.close().then(() => 'closed'));
    }
  });
});
