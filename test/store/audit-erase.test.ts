import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { waitingLocks } from '../support/pg-locks.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * Erasing a user while that user writes (SPEC R-CHAT-5): the erase is all or
 * nothing, and nothing the user wrote before the erase's final check
 * survives it. PostgreSQL only: on PGlite every transaction runs alone, so
 * there is no interleaving to test.
 */
const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: erasing a user while the user writes', () => {
  const fixture = useStore('postgres');
  const TABLES = ['api_keys', 'conversations', 'messages', 'idempotency_keys', 'streamed_turns', 'onboarding_sessions', 'feature_flag_overrides'];

  async function leftOf(user: string): Promise<Record<string, number>> {
    const left: Record<string, number> = {};
    for (const table of TABLES) {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`chatkeep.${table}`)} where user_id = ${user}`.execute(fixture.scratch().database.db);
      if (rows[0]!.n > 0) left[table] = rows[0]!.n;
    }
    return left;
  }

  /** Some of everything, so the erase has rows in every table to delete. */
  async function seed(store: Store, user: string): Promise<void> {
    const conversation = await store.conversations.create(user);
    await store.turns.append(user, conversation.id, { user: 'hi', assistant: 'hello', idempotencyKey: 'seed-turn' });
    await store.turns.begin(user, conversation.id, 'streaming…');
    await store.onboarding.start(user, { flow: 'seeded', phase: 'welcome', conversationId: conversation.id });
    await store.apiKeys.create(user, { name: 'seed' });
    await store.flags.define('audit-seeded');
    await store.flags.setOverride(user, 'audit-seeded', true);
  }

  /**
   * Runs `eraseUser` while another connection holds a row lock (`lockSql`)
   * the erase must wait for, runs `during` once the erase is known to be
   * waiting (pg_locks says so: no timing), then releases the lock.
   */
  async function eraseBlockedBy(store: Store, user: string, lockSql: string, during: () => Promise<void>) {
    const side = new pg.Client({ connectionString: fixture.scratch().url });
    await side.connect();
    try {
      await side.query('begin');
      const locked = await side.query(lockSql, [user]);
      expect(locked.rowCount).toBeGreaterThan(0);
      const erasing = store.eraseUser(user);
      erasing.catch(() => undefined);
      // Wait until the erase is queued behind our lock.
      await waitingLocks(side);
      await during();
      await side.query('commit');
      return await erasing;
    } finally {
      await side.end();
    }
  }

  it('a key created while the erase waits on the first table does not survive it (nothing half-erased)', async () => {
    const store = fixture.get();
    const user = newUser('erase-race');
    await seed(store, user);
    let secret = '';
    const report = await eraseBlockedBy(store, user, 'select 1 from chatkeep.api_keys where user_id = $1 for update', async () => {
      // The user, in order: a new key, then a new conversation. Without a consistent erase the
      // later conversation was erased and the earlier key survived, still authenticating.
      secret = (await store.apiKeys.create(user, { name: 'during erase' })).secret;
      await store.conversations.create(user);
    });
    expect(report.apiKeys).toBe(2);
    expect(await leftOf(user)).toEqual({});
    expect(await store.apiKeys.authenticate(secret)).toBeUndefined();
  });

  it('whatever the user wrote while the erase waits on the last table is erased with the rest', async () => {
    const store = fixture.get();
    const user = newUser('erase-race');
    await seed(store, user);
    await store.flags.define('audit-during');
    const report = await eraseBlockedBy(store, user, 'select 1 from chatkeep.conversations where user_id = $1 for update', async () => {
      await store.apiKeys.create(user, { name: 'during erase' });
      await store.onboarding.start(user, { flow: 'during', phase: 'welcome' });
      await store.flags.setOverride(user, 'audit-during', true);
      const conversation = await store.conversations.create(user);
      await store.turns.append(user, conversation.id, { user: 'still here?', assistant: 'yes' });
    });
    expect(report).toMatchObject({ conversations: 2, apiKeys: 2, onboardingSessions: 2 });
    expect(await leftOf(user)).toEqual({});
    expect(await store.flags.evaluate(user)).toMatchObject({ 'audit-during': false });
  });

  it('an erase picked as the victim of a deadlock (a writer locking a turn, then its conversation) runs again and erases everything', async () => {
    const store = fixture.get();
    const user = newUser('erase-race');
    await seed(store, user);
    const conversation = await store.conversations.create(user);
    const turn = await store.turns.begin(user, conversation.id, 'almost done');
    // chatkeep's own writers lock a conversation before its streamed turns, as the erase does; a
    // writer of another order (raw SQL of the host, say) meets the erase in a deadlock. The side waits
    // 10 s before looking for one, the erase 1 s: the erase is the victim, and runs again.
    const side = new pg.Client({ connectionString: fixture.scratch().url });
    await side.connect();
    try {
      await side.query(`set deadlock_timeout = '10s'`);
      await side.query('begin');
      await side.query(`update chatkeep.streamed_turns set updated_at = now() where user_id = $1 and id = $2`, [user, turn.id]);
      const erasing = store.eraseUser(user);
      erasing.catch(() => undefined);
      await waitingLocks(side);
      await side.query(`update chatkeep.conversations set updated_at = now() where user_id = $1 and id = $2`, [user, conversation.id]);
      await side.query('commit');
      const report = await erasing;
      expect(report.conversations).toBe(2);
    } finally {
      await side.end();
    }
    expect(await leftOf(user)).toEqual({});
  });

  it('an erase that meets a conversation delete (the same lock order) waits for it, then erases the rest', async () => {
    const store = fixture.get();
    const user = newUser('erase-race');
    await seed(store, user);
    const conversation = await store.conversations.create(user);
    const turn = await store.turns.begin(user, conversation.id, 'soon deleted');
    // The side deletes the conversation as a delete does: the conversation row, then its turns (the
    // cascade). The erase takes them in the same order, so it queues behind the side instead of
    // deadlocking with it.
    const side = new pg.Client({ connectionString: fixture.scratch().url });
    await side.connect();
    try {
      await side.query(`set deadlock_timeout = '10s'`);
      await side.query('begin');
      await side.query(`update chatkeep.conversations set updated_at = now() where user_id = $1 and id = $2`, [user, conversation.id]);
      const erasing = store.eraseUser(user);
      erasing.catch(() => undefined);
      await waitingLocks(side);
      await side.query(`delete from chatkeep.streamed_turns where user_id = $1 and id = $2`, [user, turn.id]);
      await side.query(`delete from chatkeep.conversations where user_id = $1 and id = $2`, [user, conversation.id]);
      await side.query('commit');
      const report = await erasing;
      expect(report.conversations).toBe(1);
    } finally {
      await side.end();
    }
    expect(await leftOf(user)).toEqual({});
  });
});
