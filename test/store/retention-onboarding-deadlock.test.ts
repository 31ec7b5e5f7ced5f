import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, openStore, type Store } from '../../src/index.js';
import { BACKENDS, createPgDatabase } from '../support/backends.js';
import { waitingLocks } from '../support/pg-locks.js';
import { newUser } from '../support/store-fixture.js';

/**
 * A retention purge locks the conversations it deletes, then (by the
 * onboarding link's ON DELETE SET NULL) the sessions linked to them. Moving a
 * session's link (onboarding.advance with a conversationId) locks in the
 * other order: the session row, then the new conversation (the foreign-key
 * check). When the two meet, PostgreSQL kills one of them as a deadlock's
 * victim — and it picks the purge, which waited first. The batch was rolled
 * back whole, so it can simply run again (as eraseUser does); the purge must
 * not fail because an application write crossed it.
 *
 * PostgreSQL only: PGlite runs one transaction at a time. A side connection
 * holds the session row so the two calls queue on it in a known order.
 */
const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: retention purge crossing an onboarding relink', () => {
  let store: Store;
  let purger: Store;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const created = await createPgDatabase();
    url = created.url;
    const database = await openDatabase({ url, poolSize: 10 });
    store = await openStore({ database });
    // Which side of a deadlock PostgreSQL kills is a race (the first whose deadlock_timeout expires looks
    // for the cycle and gives up itself). The purge's connections look sooner, so it is always the victim here.
    const purgeDatabase = await openDatabase({ url: `${url}?options=${encodeURIComponent('-c deadlock_timeout=100ms')}`, poolSize: 2 });
    purger = await openStore({ database: purgeDatabase, migrate: false });
    close = async () => {
      await purger.close();
      await purgeDatabase.close();
      await store.close();
      await database.close();
      await created.drop();
    };
  });
  afterAll(() => close());

  it('a purge whose batch deadlocks with onboarding.advance moving a link runs the batch again and deletes the idle conversations', async () => {
    const user = newUser('relink');
    const c1 = await store.conversations.create(user, { title: 'old one' });
    const c2 = await store.conversations.create(user, { title: 'old two' });
    const { session } = await store.onboarding.start(user, { flow: 'coach', phase: 'welcome', conversationId: c1.id });
    const side = new pg.Client({ connectionString: url });
    await side.connect();
    try {
      await side.query(`update chatkeep.conversations set created_at = '1970-06-01T00:00:00Z' where id = any($1::uuid[])`, [[c1.id, c2.id]]);
      await side.query('begin');
      await side.query('select 1 from chatkeep.onboarding_sessions where id = $1 for update', [session.id]);
      // The relink queues first on the session row …
      const advancing = store.onboarding.advance(user, session.id, { conversationId: c2.id }).then(
        (s) => ({ ok: true as const, conversationId: s.conversationId }),
        (e: unknown) => ({ ok: false as const, code: (e as { code?: string }).code }),
      );
      await waitingLocks(side, 1);
      // … then the purge, holding both conversations, waits there for the cascade.
      const purging = purger.retention.purge({ before: new Date('1971-01-01T00:00:00Z') }).then(
        (report) => ({ ok: true as const, report }),
        (e: unknown) => ({ ok: false as const, error: e as Error & { code?: string } }),
      );
      await waitingLocks(side, 2);
      await side.query('commit');
      const [advanced, purged] = await Promise.all([advancing, purging]);
      expect(purged.ok ? purged.report : `${purged.error.code}: ${purged.error.message}`).toMatchObject({ conversations: 2 });
      // Whichever way the relink went, both conversations are gone and the session is unlinked.
      expect(advanced.ok ? advanced.conversationId : advanced.code).toBeDefined();
      const left = await side.query('select id from chatkeep.conversations where id = any($1::uuid[])', [[c1.id, c2.id]]);
      expect(left.rows).toEqual([]);
      expect((await store.onboarding.get(user, session.id)).conversationId).toBeNull();
    } finally {
      await side.end().catch(() => undefined);
    }
  });
});
