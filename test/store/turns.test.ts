import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ChatkeepError, type AgentInput } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/** SPEC R-CHAT-3: a turn is stored whole or not at all. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: atomic turns`, () => {
    const fixture = useStore(backend.name);

    async function conversationWithHistory() {
      const store = fixture.get();
      const user = newUser();
      const conversation = await store.conversations.create(user);
      await store.turns.append(user, conversation.id, { user: 'first question', assistant: 'first answer' });
      const before = await store.conversations.get(user, conversation.id);
      return { store, user, conversation: before };
    }

    it('append stores the user message and the reply as two adjacent messages of one turn', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      const turn = await store.turns.append(user, conversation.id, {
        user: { content: 'second question', metadata: { client: 'web' } },
        assistant: { content: 'second answer', metadata: { model: 'm1', tokens: 12 } },
      });
      expect(turn.replayed).toBe(false);
      expect([turn.userMessage.seq, turn.assistantMessage.seq]).toEqual([3, 4]);
      expect([turn.userMessage.role, turn.assistantMessage.role]).toEqual(['user', 'assistant']);
      expect(turn.userMessage.turnId).toBe(turn.id);
      // Time-ordered UUIDv7 ids: the version nibble is 7, and later ids sort after earlier ones.
      expect(turn.userMessage.id[14]).toBe('7');
      expect(turn.assistantMessage.id > turn.userMessage.id).toBe(true);
      expect(turn.assistantMessage.turnId).toBe(turn.id);
      expect(turn.assistantMessage.metadata).toEqual({ model: 'm1', tokens: 12 });
      const after = await store.conversations.get(user, conversation.id);
      expect(after.messageCount).toBe(4);
      expect(after.updatedAt.getTime()).toBeGreaterThanOrEqual(conversation.updatedAt.getTime());
    });

    it('history reports exactly the messages the turn returned, timestamps to the millisecond included', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      for (let i = 0; i < 20; i++) {
        const turn = await store.turns.append(user, conversation.id, { user: `q${i}`, assistant: `a${i}` });
        const listed = (await store.messages.list(user, conversation.id, { limit: 2 })).messages;
        expect(listed).toEqual([turn.userMessage, turn.assistantMessage]);
        expect(listed[0]!.createdAt.getTime()).toBe(turn.userMessage.createdAt.getTime());
      }
    });

    it('run gives the agent the history as plain data and stores both messages when it succeeds', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      let seen: AgentInput | undefined;
      const turn = await store.turns.run(user, conversation.id, 'what did I ask?', async (input) => {
        seen = input;
        return { content: `You asked: ${input.history[0]?.content}`, metadata: { model: 'test' } };
      });
      expect(turn.assistantMessage.content).toBe('You asked: first question');
      expect(seen?.message).toBe('what did I ask?');
      expect(seen?.history.map((m) => [m.role, m.content])).toEqual([
        ['user', 'first question'],
        ['assistant', 'first answer'],
      ]);
      // R-SEC-2: the agent gets data, not a handle. Only these keys exist.
      expect(Object.keys(seen ?? {}).sort()).toEqual(['conversationId', 'history', 'message', 'signal', 'userId']);
      expect(Object.isFrozen(seen?.history)).toBe(true);
    });

    it('an agent that throws leaves no message behind and the conversation untouched', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      const error = await caught(() =>
        store.turns.run(user, conversation.id, 'boom', async () => {
          throw new Error('model overloaded');
        }),
      );
      expect(error.code).toBe('CK_AGENT_FAILED');
      expect(error.message).toContain('model overloaded');
      const after = await store.conversations.get(user, conversation.id);
      expect(after).toEqual(conversation);
      expect((await store.messages.list(user, conversation.id)).messages).toHaveLength(2);
    });

    it('an agent that times out leaves nothing behind, even when it answers later', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      let aborted = false;
      const error = await caught(() =>
        store.turns.run(
          user,
          conversation.id,
          'slow',
          async ({ signal }) => {
            signal.addEventListener('abort', () => (aborted = true));
            await sleep(400);
            return 'too late';
          },
          { timeoutMs: 50 },
        ),
      );
      expect(error.code).toBe('CK_AGENT_TIMEOUT');
      expect(aborted).toBe(true);
      await sleep(500);
      expect(await store.conversations.get(user, conversation.id)).toEqual(conversation);
    });

    it('an agent that returns an invalid reply stores nothing and names the field', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      for (const reply of ['   ', '', { content: 'ok', metadata: [] as unknown as Record<string, unknown> }]) {
        const error = await caught(() => store.turns.run(user, conversation.id, 'hi', async () => reply as string));
        expect(error.code).toBe('CK_AGENT_FAILED');
        expect(String(error.details?.['field'])).toMatch(/^reply/);
      }
      expect(await store.conversations.get(user, conversation.id)).toEqual(conversation);
    });

    it('a caller abort stops the turn and stores nothing', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 30);
      const error = await caught(() =>
        store.turns.run(user, conversation.id, 'hi', async () => {
          await sleep(300);
          return 'late';
        }, { signal: controller.signal }),
      );
      expect(error.code).toBe('CK_AGENT_FAILED');
      expect(await store.conversations.get(user, conversation.id)).toEqual(conversation);
    });

    it("an abort whose reason is a chatkeep error (a server's CK_SHUTTING_DOWN) is thrown as that error, also when the agent passes it on", async () => {
      const { store, user, conversation } = await conversationWithHistory();
      const reason = new ChatkeepError('CK_SHUTTING_DOWN', 'going away');
      for (const agent of [
        async () => { await sleep(300); return 'late'; },
        ({ signal }: { signal: AbortSignal }) => new Promise<string>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))),
      ]) {
        const controller = new AbortController();
        setTimeout(() => controller.abort(reason), 30);
        const error = await caught(() => store.turns.run(user, conversation.id, 'hi', agent, { signal: controller.signal }));
        expect(error).toBe(reason);
      }
      expect(await store.conversations.get(user, conversation.id)).toEqual(conversation);
    });

    it('with a signal aborted before the call, the agent is never called and nothing is stored', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      let called = false;
      const error = await caught(() =>
        store.turns.run(user, conversation.id, 'hi', async () => {
          called = true;
          return 'an answer nobody waits for';
        }, { signal: AbortSignal.abort() }),
      );
      expect(error.code).toBe('CK_AGENT_FAILED');
      expect(called).toBe(false);
      expect(await store.conversations.get(user, conversation.id)).toEqual(conversation);
    });

    it('the agent sees at most historyLimit recent messages, oldest first', async () => {
      const { store, user, conversation } = await conversationWithHistory();
      for (let i = 0; i < 5; i++) await store.turns.append(user, conversation.id, { user: `q${i}`, assistant: `a${i}` });
      let history: readonly string[] = [];
      await store.turns.run(user, conversation.id, 'next', async (input) => {
        history = input.history.map((m) => m.content);
        return 'ok';
      }, { historyLimit: 3 });
      expect(history).toEqual(['a3', 'q4', 'a4']);
    });
  });
}
