import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * A uuid spelt in upper case is the same id (Swift's `UUID().uuidString`
 * is upper-case): every answer carries it as the store spells it, lower-case,
 * whichever method echoes it.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: ids in upper case`, () => {
    const fixture = useStore(backend.name);

    it('turns, history pages, streamed turns and onboarding sessions answer with the lower-case id', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const upper = id.toUpperCase();
      expect(upper).not.toBe(id);

      const turn = await store.turns.append(user, upper, { user: 'hi', assistant: 'hello' });
      expect([turn.conversationId, turn.userMessage.conversationId, turn.assistantMessage.conversationId]).toEqual([id, id, id]);
      const page = await store.messages.list(user, upper);
      expect(page.messages.map((m) => m.conversationId)).toEqual([id, id]);
      const json = JSON.parse(await store.messages.pageJson(user, upper)) as { messages: { conversationId: string }[] };
      expect(json.messages.map((m) => m.conversationId)).toEqual([id, id]);
      // A cursor of the page pages the same conversation spelt either way.
      const older = await store.messages.list(user, upper, { limit: 1 });
      expect((await store.messages.list(user, id, { before: older.olderCursor! })).messages.map((m) => m.content)).toEqual(['hi']);

      const begun = await store.turns.begin(user, upper, 'and now?');
      expect(begun.conversationId).toBe(id);
      const committed = await store.turns.commit(user, begun.id.toUpperCase(), { content: 'streamed' });
      expect([committed.id, committed.conversationId]).toEqual([begun.id, id]);

      const { session } = await store.onboarding.start(user, { flow: 'intro', phase: 'welcome', conversationId: upper });
      expect(session.conversationId).toBe(id);
      expect((await store.onboarding.get(user, session.id.toUpperCase())).id).toBe(session.id);

      expect((await store.conversations.update(user, upper, { title: 'Renamed' })).id).toBe(id);
    });
  });
}
