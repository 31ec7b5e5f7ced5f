import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ChatkeepError, type Store } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { waitingLocks } from '../support/pg-locks.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * Finishing a streamed turn (commit, or abort keeping the partial reply)
 * writes to its conversation, and deleting a conversation deletes its turns
 * by cascade. Both lock the conversation before the turn, so when they meet
 * one waits for the other; they used to lock in opposite orders, and the
 * commit died in a deadlock (40P01, a 500 over HTTP). PostgreSQL only: on
 * PGlite every transaction runs alone.
 *
 * To make the two meet, a side connection holds the turn row (FOR SHARE)
 * while the commit starts and the delete queues; pg_locks says when each is
 * waiting, so nothing depends on timing.
 */
const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: a streamed turn finishing while its conversation is deleted', () => {
  const fixture = useStore('postgres');

  /** Runs `body` with a second connection to the store's database (the side that holds locks), closed after. */
  async function withSide<T>(body: (side: pg.Client) => Promise<T>): Promise<T> {
    const side = new pg.Client({ connectionString: fixture.scratch().url });
    await side.connect();
    try {
      return await body(side);
    } finally {
      await side.end();
    }
  }

  /** The ChatkeepError a settled call was refused with; fails the test if it succeeded or threw anything else. */
  function refusal(outcome: { ok: boolean; error?: unknown }): ChatkeepError {
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toBeInstanceOf(ChatkeepError);
    return outcome.error as ChatkeepError;
  }

  /** The call's outcome, its value or its error, without rejecting: it is awaited after the side lets go. */
  const settle = <T>(call: Promise<T>) =>
    call.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );

  /** Runs `finish` and then `remove` against one turn held by a side connection; returns both outcomes once it lets go. */
  async function race(store: Store, user: string, finish: (turnId: string) => Promise<unknown>, remove: (conversationId: string) => Promise<unknown>) {
    const conversation = await store.conversations.create(user);
    const turn = await store.turns.begin(user, conversation.id, 'almost there');
    await store.turns.appendText(user, turn.id, 'partial reply');
    return withSide(async (side) => {
      await side.query('begin');
      await side.query(`select 1 from chatkeep.streamed_turns where user_id = $1 and id = $2 for share`, [user, turn.id]);
      const finishing = settle(finish(turn.id));
      await waitingLocks(side, 1);
      const removing = settle(remove(conversation.id));
      await waitingLocks(side, 2);
      await side.query('commit');
      return { conversationId: conversation.id, finished: await finishing, removed: await removing };
    });
  }

  it('a commit and a conversation delete queue one behind the other: the commit lands, then the delete takes it all', async () => {
    const store = fixture.get();
    const user = newUser('lock-order');
    const { conversationId, finished, removed } = await race(
      store,
      user,
      (turnId) => store.turns.commit(user, turnId),
      (id) => store.conversations.delete(user, id),
    );
    expect(finished.ok ? 'committed' : (finished.error as ChatkeepError).code).toBe('committed');
    expect(removed.ok ? 'deleted' : (removed.error as ChatkeepError).code).toBe('deleted');
    const gone = await store.conversations.get(user, conversationId).catch((error: ChatkeepError) => error.code);
    expect(gone).toBe('CK_NOT_FOUND');
  });

  it('an abort keeping its partial reply and a conversation delete do the same', async () => {
    const store = fixture.get();
    const user = newUser('lock-order');
    const { finished, removed } = await race(
      store,
      user,
      (turnId) => store.turns.abort(user, turnId, { keepPartial: true }),
      (id) => store.conversations.delete(user, id),
    );
    expect(finished.ok ? 'aborted' : (finished.error as ChatkeepError).code).toBe('aborted');
    expect(removed.ok ? 'deleted' : (removed.error as ChatkeepError).code).toBe('deleted');
  });

  it('a commit and an erase of the user: the commit lands, then the erase takes everything', async () => {
    const store = fixture.get();
    const user = newUser('lock-order');
    const { finished, removed } = await race(
      store,
      user,
      (turnId) => store.turns.commit(user, turnId),
      () => store.eraseUser(user),
    );
    expect(finished.ok ? 'committed' : (finished.error as ChatkeepError).code).toBe('committed');
    expect(removed.ok ? removed.value : (removed.error as ChatkeepError).code).toMatchObject({ conversations: 1, messages: 2 });
  });

  it('a begin that meets a delete of its conversation, committed under it, is CK_NOT_FOUND with nothing written (was CK_VALIDATION naming the foreign key)', async () => {
    const store = fixture.get();
    const user = newUser('lock-order');
    const conversation = await store.conversations.create(user);
    // The side deletes the conversation and holds the commit: the begin still
    // sees the row in its snapshot, and its foreign key check waits on the
    // delete's lock; once the delete commits, the key is gone.
    const outcome = await withSide(async (side) => {
      await side.query('begin');
      await side.query(`delete from chatkeep.conversations where user_id = $1 and id = $2`, [user, conversation.id]);
      const beginning = settle(store.turns.begin(user, conversation.id, 'too late'));
      await waitingLocks(side, 1);
      await side.query('commit');
      return beginning;
    });
    const error = refusal(outcome);
    expect(error.code).toBe('CK_NOT_FOUND');
    expect(error.details).toEqual({ resource: 'conversation' });
    const { rows } = await sql`select id from chatkeep.streamed_turns where user_id = ${user}`.execute(fixture.scratch().database.db);
    expect(rows).toEqual([]);
  });

  it('a store call that loses a deadlock to a writer of another lock order is CK_CONFLICT (nothing written, retry), not CK_INTERNAL', async () => {
    const store = fixture.get();
    const user = newUser('lock-order');
    const conversation = await store.conversations.create(user);
    const turn = await store.turns.begin(user, conversation.id, 'held');
    // The side locks the turn, then the conversation; the delete locks the conversation, then the turn.
    // The side looks for a deadlock after 10 s, the store's session after 1 s: the delete is the victim.
    const outcome = await withSide(async (side) => {
      await side.query(`set deadlock_timeout = '10s'`);
      await side.query('begin');
      await side.query(`select 1 from chatkeep.streamed_turns where user_id = $1 and id = $2 for update`, [user, turn.id]);
      const deleting = settle(store.conversations.delete(user, conversation.id));
      await waitingLocks(side, 1);
      await side.query(`update chatkeep.conversations set updated_at = now() where user_id = $1 and id = $2`, [user, conversation.id]);
      await side.query('commit');
      return deleting;
    });
    const error = refusal(outcome);
    expect(error.code).toBe('CK_CONFLICT');
    expect(error.details).toMatchObject({ sqlState: '40P01' });
    // Rolled back whole: the conversation and its turn are still there, and a retry deletes them.
    expect((await store.conversations.get(user, conversation.id)).id).toBe(conversation.id);
    await store.conversations.delete(user, conversation.id);
  });
});
