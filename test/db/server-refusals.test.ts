import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type ChatkeepError } from '../../src/index.js';
import { PG_ADMIN_URL, PG_AVAILABLE, scratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { dropScratchWithRoles, storeRoleUrl } from '../support/plain-role.js';
import { newUser } from '../support/store-fixture.js';

/**
 * What a production PostgreSQL does to a call it will not serve now, as a
 * DBA configures it: `statement_timeout` and `lock_timeout` on the database,
 * a connection limit on the role. Each is CK_DB_UNAVAILABLE (503 over HTTP)
 * with its SQLSTATE and a message that says what happened, not an internal
 * error, and the refused call wrote nothing.
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING server-refusal cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);

async function failure(call: Promise<unknown>): Promise<ChatkeepError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call should have failed').toBeDefined();
  return error as ChatkeepError;
}

describe.skipIf(!PG_AVAILABLE)('postgres: calls the server refuses', () => {
  let scratch: ScratchDatabase;
  let name: string;
  const user = newUser('refused');
  let conversationId: string;

  beforeAll(async () => {
    scratch = await scratchDatabase('postgres');
    name = new URL(scratch.url!).pathname.slice(1);
    const setup = await openStore({ url: scratch.url! });
    conversationId = (await setup.conversations.create(user, { title: 'locked' })).id;
    await setup.turns.append(user, conversationId, { user: 'one', assistant: 'two' });
    await setup.close();
  });
  afterAll(async () => {
    await dropScratchWithRoles(scratch, [`ck_limited_${process.pid}`]);
  });

  /** Runs `work` while another session holds the conversation's row lock. */
  async function whileLocked<T>(work: () => Promise<T>): Promise<T> {
    const locker = new pg.Client({ connectionString: scratch.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('select 1 from chatkeep.conversations where id = $1 for update', [conversationId]);
      return await work();
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
  }

  it.each([
    ['statement_timeout', '57014', /cancelled the statement \(57014: statement_timeout/],
    ['lock_timeout', '55P03', /stayed locked past lock_timeout \(55P03\)/],
  ] as const)('%s fires on a turn that waits for a locked conversation: CK_DB_UNAVAILABLE %s, nothing written', async (setting, sqlState, message) => {
    // Long enough that no other statement of the store (open, the read after) reaches it on a busy machine.
    await sql.raw(`alter database ${name} set ${setting} = '2s'`).execute(scratch.database.db);
    const store = await openStore({ url: scratch.url!, migrate: false });
    try {
      const error = await whileLocked(() => failure(store.turns.append(user, conversationId, { user: 'waits', assistant: 'never' })));
      expect(error.code).toBe('CK_DB_UNAVAILABLE');
      expect(error.details).toEqual({ sqlState });
      expect(error.message).toMatch(message);
      const page = await store.messages.list(user, conversationId);
      expect(page.messages.map((m) => m.content)).toEqual(['one', 'two']);
    } finally {
      await store.close();
      await sql.raw(`alter database ${name} reset ${setting}`).execute(scratch.database.db);
    }
  });

  it('a role over its connection limit: the calls that get no connection are CK_DB_UNAVAILABLE 53300 naming poolSize; the others succeed', async () => {
    const role = `ck_limited_${process.pid}`;
    const url = await storeRoleUrl(scratch, role);
    await sql.raw(`alter role ${role} connection limit 2`).execute(scratch.database.db);
    const store = await openStore({ url, migrate: false, poolSize: 6 });
    try {
      // Six reads at once want six connections; the role may open two.
      const settled = await Promise.allSettled(Array.from({ length: 6 }, () => store.messages.list(user, conversationId)));
      const refused = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as ChatkeepError);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.length).toBeLessThan(6);
      for (const error of refused) {
        expect(error.code).toBe('CK_DB_UNAVAILABLE');
        expect(error.details).toEqual({ sqlState: '53300' });
        expect(error.message).toContain('lower poolSize or raise the limit');
      }
    } finally {
      await store.close();
    }
  });
});
