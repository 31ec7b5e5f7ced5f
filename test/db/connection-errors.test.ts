import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hotStatement, openDatabase } from '../../src/db/index.js';
import { wrapDriverError, type ChatkeepError } from '../../src/errors/index.js';
import { adminQuery, PG_ADMIN_URL, PG_AVAILABLE, scratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { withPlainRole } from '../support/plain-role.js';

/**
 * A call that gets no connection from the pool is CK_DB_UNAVAILABLE with a
 * message saying why, on Kysely's path and on the hot statements' alike
 * (db/connection-errors.ts): a pool whose every connection stays in use, or
 * a server that refuses a new connection after the open succeeded.
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING connection-error cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);

describe.skipIf(!PG_AVAILABLE)('postgres: a call that gets no connection', () => {
  let scratch: ScratchDatabase;
  beforeAll(async () => {
    scratch = await scratchDatabase('postgres');
  });
  afterAll(async () => {
    await scratch?.drop();
  });

  const one = hotStatement('select 1 as one');
  const failure = (call: Promise<unknown>) =>
    call.then(
      () => undefined,
      (error: unknown) => wrapDriverError(error) as ChatkeepError,
    );

  // pg-pool gives up with a bare Error('timeout exceeded when trying to connect'): no SQLSTATE, no socket code.
  it('a full pool: after connectTimeoutMs it is CK_DB_UNAVAILABLE naming poolSize and connectTimeoutMs; the pool serves again once the holder is done', async () => {
    const database = await openDatabase({ url: scratch.url!, poolSize: 1, connectTimeoutMs: 300 });
    try {
      const waiters = await database.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        // The one connection is held by this transaction while these wait for it.
        return Promise.all([failure(sql`select 2`.execute(database.db)), failure(database.hot(one, []))]);
      });
      for (const error of waiters) {
        expect([error?.code, error?.message]).toEqual(['CK_DB_UNAVAILABLE', expect.stringMatching(/poolSize \(1\).*connectTimeoutMs \(300 ms\)/)]);
        expect((error?.cause as Error | undefined)?.message).toBe('timeout exceeded when trying to connect');
      }
      expect(await database.hot(one, [])).toEqual([{ one: 1 }]);
    } finally {
      await database.close();
    }
  });

  // Credentials rotated, a role disabled, pg_hba changed: the open succeeded, later connections are refused.
  it('a new connection refused after the open (the role may no longer log in) is CK_DB_UNAVAILABLE with the server’s reason; calls pass again once it may', async () => {
    await withPlainRole(scratch, 'ck_refused', async (url) => {
      const role = new URL(url).username;
      const database = await openDatabase({ url, poolSize: 2 });
      try {
        await adminQuery(`alter role ${role} nologin`);
        // Its open connections end (as on a restart): every call needs a new one.
        await adminQuery(`select pg_terminate_backend(pid) from pg_stat_activity where usename = '${role}'`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        for (const error of [await failure(sql`select 1`.execute(database.db)), await failure(database.hot(one, []))]) {
          expect([error?.code, error?.message]).toEqual(['CK_DB_UNAVAILABLE', expect.stringContaining(`role "${role}" is not permitted to log in (28000)`)]);
          expect(error?.details).toEqual({ sqlState: '28000' });
        }
        await adminQuery(`alter role ${role} login`);
        expect(await database.hot(one, [])).toEqual([{ one: 1 }]);
        expect((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows).toEqual([{ one: 1 }]);
      } finally {
        await database.close();
      }
    });
  });
});
