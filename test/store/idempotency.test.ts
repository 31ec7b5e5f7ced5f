import { describe, expect, it } from 'vitest';
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
