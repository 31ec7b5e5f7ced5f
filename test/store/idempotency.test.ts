import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/** A retried turn (same idempotency key) is stored once. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: idempotent turns`, () => {
    const fixture = useStore(backend.name);

    it('a retry with the same key returns the stored turn and writes nothing new', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const first = await store.turns.append(user, id, { user: 'hello', assistant: 'hi', idempotencyKey: 'req-1' });
      const again = await store.turns.append(user, id, { user: 'hello', assistant: 'a different reply', idempotencyKey: 'req-1' });
      expect(first.replayed).toBe(false);
      expect(again.replayed).toBe(true);
      expect(again.id).toBe(first.id);
      expect(again.assistantMessage.content).toBe('hi');
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    it('the same turn sent 20 times concurrently is stored once, with no gap in seq', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.turns.append(user, id, { user: 'once', assistant: 'only once', idempotencyKey: 'burst' })),
      );
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      const next = await store.turns.append(user, id, { user: 'next', assistant: 'ok' });
      expect(next.userMessage.seq).toBe(3);
      expect((await store.messages.list(user, id)).messages.map((m) => m.content)).toEqual(['once', 'only once', 'next', 'ok']);
    });

    it('run with a stored key replays without calling the agent; concurrent runs store one turn', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      let calls = 0;
      const agent = async () => {
        calls++;
        return `reply ${calls}`;
      };
      const runs = await Promise.all(Array.from({ length: 5 }, () => store.turns.run(user, id, 'question', agent, { idempotencyKey: 'run-1' })));
      expect(new Set(runs.map((r) => r.id)).size).toBe(1);
      const callsAfterBurst = calls;
      const replay = await store.turns.run(user, id, 'question', agent, { idempotencyKey: 'run-1' });
      expect(replay.replayed).toBe(true);
      expect(calls).toBe(callsAfterBurst);
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    /**
     * Keys are chosen by clients and so do collide between users, and so may
     * conversation ids (`conversations.create` takes a client-chosen id). A
     * key therefore names a request of one user only: if the lookup ignored
     * the user, Bob could replay Alice's stored reply by sending her key and
     * message to a conversation of his with her conversation's id.
     */
    it("run: another user's first use of a key runs the agent for them, never replays the owner's turn or reports a mismatch", async () => {
      const store = fixture.get();
      const alice = newUser('alice');
      const bob = newUser('bob');
      const { id } = await store.conversations.create(alice);
      await store.conversations.create(bob, { id });
      await store.turns.run(alice, id, 'hello', async () => 'reply for alice only', { idempotencyKey: 'same-request' });
      await store.turns.run(alice, id, 'hello again', async () => 'second reply for alice', { idempotencyKey: 'other-request' });

      const asked: string[] = [];
      const bobsAgent: Agent = async ({ message }) => {
        asked.push(message);
        return `reply for bob to ${message}`;
      };
      // Same key, same conversation id, same message as Alice's first turn.
      const same = await store.turns.run(bob, id, 'hello', bobsAgent, { idempotencyKey: 'same-request' });
      expect([same.replayed, same.userMessage.seq, same.assistantMessage.content]).toEqual([false, 1, 'reply for bob to hello']);
      // Same key as Alice's second turn, for a different message: his first use, not a mismatch.
      const different = await store.turns.run(bob, id, 'something else', bobsAgent, { idempotencyKey: 'other-request' });
      expect([different.replayed, different.assistantMessage.content]).toEqual([false, 'reply for bob to something else']);
      expect(asked).toEqual(['hello', 'something else']);

      // His own retry replays his own turn.
      const retry = await store.turns.run(bob, id, 'hello', bobsAgent, { idempotencyKey: 'same-request' });
      expect([retry.replayed, retry.id, retry.assistantMessage.content]).toEqual([true, same.id, 'reply for bob to hello']);
      expect(asked).toHaveLength(2);
      expect((await store.messages.list(bob, id)).messages.map((m) => m.content)).toEqual([
        'hello',
        'reply for bob to hello',
        'something else',
        'reply for bob to something else',
      ]);
      expect((await store.messages.list(alice, id)).messages.map((m) => m.content)).toEqual([
        'hello',
        'reply for alice only',
        'hello again',
        'second reply for alice',
      ]);
    });

    it("append: a key used by another user stores this user's turn, and a retry replays this user's turn, not the other's", async () => {
      const store = fixture.get();
      const alice = newUser('alice');
      const bob = newUser('bob');
      const { id } = await store.conversations.create(alice);
      await store.conversations.create(bob, { id });
      // Bob's keyed turns come after one of his own, so they sit at other seqs than Alice's.
      await store.turns.append(bob, id, { user: 'first', assistant: 'ok' });
      const alices = await store.turns.append(alice, id, { user: 'hello', assistant: 'reply for alice only', idempotencyKey: 'k-same' });
      await store.turns.append(alice, id, { user: 'hello again', assistant: 'second reply for alice', idempotencyKey: 'k-other' });

      const same = await store.turns.append(bob, id, { user: 'hello', assistant: 'reply for bob', idempotencyKey: 'k-same' });
      const different = await store.turns.append(bob, id, { user: 'goodbye', assistant: 'bye bob', idempotencyKey: 'k-other' });
      expect([same.replayed, same.userMessage.seq, same.assistantMessage.content]).toEqual([false, 3, 'reply for bob']);
      expect([different.replayed, different.assistantMessage.content]).toEqual([false, 'bye bob']);

      const sameAgain = await store.turns.append(bob, id, { user: 'hello', assistant: 'reply for bob', idempotencyKey: 'k-same' });
      expect([sameAgain.replayed, sameAgain.id, sameAgain.assistantMessage.id, sameAgain.assistantMessage.content]).toEqual([
        true,
        same.id,
        same.assistantMessage.id,
        'reply for bob',
      ]);
      expect(sameAgain.id).not.toBe(alices.id);
      const differentAgain = await store.turns.append(bob, id, { user: 'goodbye', assistant: 'bye bob', idempotencyKey: 'k-other' });
      expect([differentAgain.replayed, differentAgain.id, differentAgain.assistantMessage.content]).toEqual([true, different.id, 'bye bob']);
      expect((await store.conversations.get(bob, id)).messageCount).toBe(6);
      expect((await store.conversations.get(alice, id)).messageCount).toBe(4);
    });

    it("begin: a key used by another user's append or streamed turn begins a fresh turn", async () => {
      const store = fixture.get();
      const alice = newUser('alice');
      const bob = newUser('bob');
      const { id } = await store.conversations.create(alice);
      await store.conversations.create(bob, { id });
      await store.turns.append(alice, id, { user: 'hello', assistant: 'reply for alice', idempotencyKey: 'appended-1' });
      await store.turns.append(alice, id, { user: 'hello again', assistant: 'reply for alice', idempotencyKey: 'appended-2' });
      for (const [key, message] of [
        ['streamed-1', 'stream it'],
        ['streamed-2', 'stream more'],
      ] as const) {
        const streamed = await store.turns.begin(alice, id, message, { idempotencyKey: key });
        await store.turns.commit(alice, streamed.id, { content: 'streamed reply for alice' });
      }

      // Alice's keys: with her message (and conversation id), and with another message.
      for (const [key, message] of [
        ['appended-1', 'hello'],
        ['appended-2', 'something else'],
        ['streamed-1', 'stream it'],
        ['streamed-2', 'something different'],
      ] as const) {
        const begun = await store.turns.begin(bob, id, message, { idempotencyKey: key });
        expect([begun.replayed, begun.state, begun.userId, begun.message, begun.partialContent]).toEqual([false, 'streaming', bob, message, '']);
        await store.turns.abort(bob, begun.id);
      }
    });

    /**
     * Keys are one namespace per user, shared by plain and streamed turns,
     * and a streamed turn stores its key only when it commits. Before the
     * fix a plain turn under the key of a turn still streaming was stored,
     * and that turn's commit then failed on the key for good.
     */
    it("append and run under the key of a turn still streaming are refused (CK_CONFLICT), write nothing, and the streamed turn still commits", async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const begun = await store.turns.begin(user, id, 'hello', { idempotencyKey: 'shared' });
      await store.turns.appendText(user, begun.id, 'streamed reply');
      const plain = await caught(() => store.turns.append(user, id, { user: 'hello', assistant: 'other reply', idempotencyKey: 'shared' }));
      expect([plain.code, plain.details?.['field'], plain.details?.['turnId']]).toEqual(['CK_CONFLICT', 'idempotencyKey', begun.id]);
      expect(plain.message).toMatch(/still being streamed/);
      let agentCalls = 0;
      const agent: Agent = async () => `reply ${++agentCalls}`;
      const run = await caught(() => store.turns.run(user, id, 'hello', agent, { idempotencyKey: 'shared' }));
      expect(run.code).toBe('CK_CONFLICT');
      expect(agentCalls, 'the agent ran for a key it could not store').toBe(0);
      const otherRequest = await caught(() => store.turns.append(user, id, { user: 'goodbye', assistant: 'bye', idempotencyKey: 'shared' }));
      expect(otherRequest.code).toBe('CK_IDEMPOTENCY_MISMATCH');
      expect((await store.conversations.get(user, id)).messageCount).toBe(0);
      const committed = await store.turns.commit(user, begun.id);
      expect((await store.messages.list(user, id)).messages.map((m) => m.content)).toEqual(['hello', 'streamed reply']);
      // Committed, the key replays the streamed turn for a plain retry of the same request.
      const replay = await store.turns.append(user, id, { user: 'hello', assistant: 'ignored', idempotencyKey: 'shared' });
      expect([replay.id, replay.replayed, replay.assistantMessage.content]).toEqual([committed.id, true, 'streamed reply']);
      const replayedRun = await store.turns.run(user, id, 'hello', agent, { idempotencyKey: 'shared' });
      expect([replayedRun.id, replayedRun.replayed, agentCalls]).toEqual([committed.id, true, 0]);
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    it('a plain turn under the key of a streamed turn aborted with nothing kept is refused; one whose partial reply was kept replays it', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const dropped = await store.turns.begin(user, id, 'dropped', { idempotencyKey: 'gone' });
      await store.turns.abort(user, dropped.id);
      const refused = await caught(() => store.turns.append(user, id, { user: 'dropped', assistant: 'late reply', idempotencyKey: 'gone' }));
      expect([refused.code, refused.details?.['field']]).toEqual(['CK_CONFLICT', 'idempotencyKey']);
      expect(refused.message).toMatch(/aborted/);
      const kept = await store.turns.begin(user, id, 'kept', { idempotencyKey: 'partial' });
      await store.turns.appendText(user, kept.id, 'half a rep');
      const aborted = await store.turns.abort(user, kept.id, { keepPartial: true });
      const replay = await store.turns.append(user, id, { user: 'kept', assistant: 'whole reply', idempotencyKey: 'partial' });
      expect([replay.id, replay.replayed, replay.assistantMessage.content, replay.assistantMessage.aborted]).toEqual([
        aborted.kept!.id,
        true,
        'half a rep',
        true,
      ]);
      expect((await store.messages.list(user, id)).messages.map((m) => m.content)).toEqual(['kept', 'half a rep']);
    });

    it("another user's streaming turn under the same key does not hold this user's key", async () => {
      const store = fixture.get();
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const a = await store.conversations.create(alice);
      const b = await store.conversations.create(bob);
      await store.turns.begin(alice, a.id, 'hello', { idempotencyKey: 'same-key' });
      const turn = await store.turns.append(bob, b.id, { user: 'hello', assistant: 'hi', idempotencyKey: 'same-key' });
      expect(turn.replayed).toBe(false);
      expect((await store.conversations.get(bob, b.id)).messageCount).toBe(2);
    });

    /**
     * The one window left: a plain turn that takes the key between a begin's
     * check and its insert (simulated here by calling append_turn() directly,
     * as that plain turn would have). The streamed turn can then never be
     * stored under its key: commit and keep-partial abort end it, keeping
     * nothing, instead of leaving it streaming with the key until swept.
     */
    for (const ending of ['commit', 'abort keeping the partial reply'] as const) {
      it(`${ending}: a key stored by a plain turn meanwhile aborts the streamed turn with CK_CONFLICT; the plain turn stands`, async () => {
        const store = fixture.get();
        const user = newUser();
        const { id } = await store.conversations.create(user);
        const begun = await store.turns.begin(user, id, 'hello', { idempotencyKey: 'raced' });
        await store.turns.appendText(user, begun.id, 'streamed reply');
        const plain = await store.turns.append(user, id, { user: 'hello', assistant: 'plain reply' });
        await sql`insert into chatkeep.idempotency_keys (user_id, key, conversation_id, turn_id, first_seq, request_hash)
                  select user_id, 'raced', conversation_id, ${plain.id}::uuid, ${plain.userMessage.seq}, request_hash
                    from chatkeep.streamed_turns where id = ${begun.id}::uuid`.execute(fixture.scratch().database.db);
        const ended = await caught(() =>
          ending === 'commit' ? store.turns.commit(user, begun.id) : store.turns.abort(user, begun.id, { keepPartial: true }),
        );
        expect([ended.code, ended.details?.['field'], ended.details?.['turnId']]).toEqual(['CK_CONFLICT', 'idempotencyKey', begun.id]);
        const after = await store.turns.getStreamed(user, begun.id);
        expect([after.state, after.keptPartial]).toEqual(['aborted', false]);
        expect((await store.messages.list(user, id)).messages.map((m) => m.content)).toEqual(['hello', 'plain reply']);
      });
    }

    it('a key reused for a different request is refused and writes nothing', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const other = await store.conversations.create(user);
      await store.turns.append(user, id, { user: 'hello', assistant: 'hi', idempotencyKey: 'k' });
      const differentText = await caught(() => store.turns.append(user, id, { user: 'goodbye', assistant: 'bye', idempotencyKey: 'k' }));
      expect(differentText.code).toBe('CK_IDEMPOTENCY_MISMATCH');
      expect(differentText.details?.['field']).toBe('idempotencyKey');
      const differentConversation = await caught(() => store.turns.append(user, other.id, { user: 'hello', assistant: 'hi', idempotencyKey: 'k' }));
      expect(differentConversation.code).toBe('CK_IDEMPOTENCY_MISMATCH');
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
      expect((await store.conversations.get(user, other.id)).messageCount).toBe(0);
    });
  });
}
