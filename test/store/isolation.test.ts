import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * SPEC R-SEC-1: user A, holding user B's conversation id, can neither read,
 * append to, rename nor delete it, and cannot learn that it exists: every
 * answer is the same as for an id that does not exist at all.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: per-user isolation`, () => {
    const fixture = useStore(backend.name);

    async function setup() {
      const store = fixture.get();
      const alice = newUser('alice');
      const bob = newUser('bob');
      const bobs = await store.conversations.create(bob, { title: 'Bob private', metadata: { secret: true } });
      await store.turns.append(bob, bobs.id, { user: 'my secret plan', assistant: 'noted' });
      const { session } = await store.onboarding.start(bob, { flow: 'coach', phase: 'welcome' });
      return { store, alice, bob, bobs, session };
    }

    /** The error for B's id must be indistinguishable from the error for a random id. */
    async function sameAsMissing(call: (id: string) => Promise<unknown>, foreignId: string) {
      const foreign = await caught(() => call(foreignId));
      const missing = await caught(() => call(randomUUID()));
      expect(foreign.code).toBe('CK_NOT_FOUND');
      expect({ code: foreign.code, message: foreign.message, details: foreign.details }).toEqual({
        code: missing.code,
        message: missing.message,
        details: missing.details,
      });
    }

    it('cannot read, list, append to, run a turn in, rename or delete another user’s conversation', async () => {
      const { store, alice, bob, bobs } = await setup();
      await sameAsMissing((id) => store.conversations.get(alice, id), bobs.id);
      await sameAsMissing((id) => store.messages.list(alice, id), bobs.id);
      await sameAsMissing((id) => store.turns.append(alice, id, { user: 'hi', assistant: 'x' }), bobs.id);
      let agentCalled = false;
      await sameAsMissing(
        (id) =>
          store.turns.run(alice, id, 'hi', async () => {
            agentCalled = true;
            return 'x';
          }),
        bobs.id,
      );
      expect(agentCalled).toBe(false);
      await sameAsMissing((id) => store.conversations.update(alice, id, { title: 'pwned' }), bobs.id);
      await sameAsMissing((id) => store.conversations.delete(alice, id), bobs.id);

      const after = await store.conversations.get(bob, bobs.id);
      expect(after.title).toBe('Bob private');
      expect(after.messageCount).toBe(2);
      expect((await store.conversations.list(alice)).conversations).toEqual([]);
    });

    it('cannot see, advance, complete or link into another user’s onboarding session', async () => {
      const { store, alice, bob, bobs, session } = await setup();
      await sameAsMissing((id) => store.onboarding.get(alice, id), session.id);
      await sameAsMissing((id) => store.onboarding.advance(alice, id, { phase: 'x' }), session.id);
      await sameAsMissing((id) => store.onboarding.complete(alice, id), session.id);
      await sameAsMissing((id) => store.onboarding.abandon(alice, id), session.id);
      // Linking one's own session to B's conversation is refused like a missing conversation.
      await sameAsMissing((id) => store.onboarding.start(alice, { flow: 'coach', phase: 'a', conversationId: id }), bobs.id);
      expect(await store.onboarding.active(alice, 'coach')).toBeNull();
      expect((await store.onboarding.get(bob, session.id)).phase).toBe('welcome');
    });

    it('an idempotency key of another user never replays their turn', async () => {
      const { store, alice, bob, bobs } = await setup();
      await store.turns.append(bob, bobs.id, { user: 'keyed', assistant: 'ok', idempotencyKey: 'shared-key' });
      const mine = await store.conversations.create(alice);
      const turn = await store.turns.append(alice, mine.id, { user: 'keyed', assistant: 'mine', idempotencyKey: 'shared-key' });
      expect(turn.replayed).toBe(false);
      expect(turn.assistantMessage.content).toBe('mine');
      expect(turn.userMessage.userId).toBe(alice);
    });

    it('erasing one user removes all of theirs and nothing of anyone else', async () => {
      const { store, alice, bob, bobs } = await setup();
      const a1 = await store.conversations.create(alice);
      await store.turns.append(alice, a1.id, { user: 'a', assistant: 'b' });
      await store.onboarding.start(alice, { flow: 'coach', phase: 'welcome' });
      const report = await store.eraseUser(alice);
      expect(report).toEqual({ conversations: 1, messages: 2, onboardingSessions: 1, apiKeys: 0 });
      expect((await store.conversations.list(alice)).conversations).toEqual([]);
      expect(await store.onboarding.list(alice)).toEqual([]);
      expect((await store.messages.list(bob, bobs.id)).messages.map((m) => m.content)).toEqual(['my secret plan', 'noted']);
      expect(await store.onboarding.active(bob, 'coach')).not.toBeNull();
    });
  });
}
