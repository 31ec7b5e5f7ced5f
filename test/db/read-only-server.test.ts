import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type ChatkeepError, type Store } from '../../src/index.js';
import { adminQuery, createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';
import { newUser } from '../support/store-fixture.js';

/**
 * After a failover, pooled connections can be left on a server that now
 * refuses writes (a primary turned standby, an old writer endpoint still in
 * DNS): it answers reads and every write fails with 25006. A pool that
 * keeps such a connection keeps failing writes until the process restarts
 * (a known failure of long-lived pools). chatkeep reports the refused write
 * as CK_DB_UNAVAILABLE (nothing was written; retry) and drops the
 * connection, so the next call gets a new one.
 *
 * Simulated on one database: its sessions opened while
 * `default_transaction_read_only` was on refuse writes, and sessions opened
 * after it was reset do not.
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING read-only-server cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);


describe.skipIf(!PG_AVAILABLE)('postgres: connections left on a server that refuses writes', () => {
  const POOL = 4;
  let database: { url: string; name: string; drop: () => Promise<void> };
  let store: Store;
  const user = newUser('failover');
  let conversationId: string;

  beforeAll(async () => {
    database = await createPgDatabase();
    const setup = await openStore({ url: database.url });
    conversationId = (await setup.conversations.create(user, { title: 'before the failover' })).id;
    await setup.turns.append(user, conversationId, { user: 'one', assistant: 'two' });
    await setup.close();
    await adminQuery(`alter database ${database.name} set default_transaction_read_only = on`);
    store = await openStore({ url: database.url, migrate: false, poolSize: POOL });
    // Fill the pool with sessions on the "standby": every one of them answers reads.
    await Promise.all(Array.from({ length: POOL }, () => store.messages.list(user, conversationId)));
    await adminQuery(`alter database ${database.name} reset default_transaction_read_only`);
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('a refused write is CK_DB_UNAVAILABLE and writes nothing; its connection is dropped, so writes recover within the pool size', async () => {
    const outcomes: string[] = [];
    // conversations.update goes through Kysely, turns.append through the hot statement: both paths.
    for (let i = 0; i < 3 * POOL; i++) {
      const write = i % 2 === 0
        ? store.conversations.update(user, conversationId, { title: `after ${i}` })
        : store.turns.append(user, conversationId, { user: `q${i}`, assistant: `a${i}` });
      const error = (await write.then(() => undefined, (e: unknown) => e)) as ChatkeepError | undefined;
      if (error !== undefined) {
        expect(error.code).toBe('CK_DB_UNAVAILABLE');
        expect(error.message).toContain('refuses writes');
        expect(error.details).toEqual({ sqlState: '25006' });
      }
      outcomes.push(error === undefined ? 'ok' : 'refused');
    }
    const refused = outcomes.filter((o) => o === 'refused').length;
    expect(refused, outcomes.join(' ')).toBeGreaterThan(0);
    expect(refused, outcomes.join(' ')).toBeLessThanOrEqual(POOL);
    // Once recovered, it stays recovered.
    expect(outcomes.slice(outcomes.lastIndexOf('refused') + 1).length).toBeGreaterThanOrEqual(2 * POOL);
    // Every refused turn wrote nothing: the conversation holds the first turn and the accepted ones, gap-free.
    const accepted = outcomes.filter((o, i) => o === 'ok' && i % 2 === 1).length;
    const page = await store.messages.list(user, conversationId, { limit: 100 });
    expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: 2 + 2 * accepted }, (_, i) => i + 1));
  });
});
