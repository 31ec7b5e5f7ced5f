import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, useStore } from '../support/store-fixture.js';

/** Adversarial review of turns and streamed turns (R-CHAT-3, R-SEC-3). */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: review of turns`, () => {
    const fixture = useStore(backend.name);

    const conversation = () => fixture.conversation();

    it('a retry whose metadata has the same keys in another order replays instead of being refused', async () => {
      const { store, user, id } = await conversation();
      await store.turns.append(user, id, { user: { content: 'hello', metadata: { a: 1, b: [{ x: 1, y: 2 }] } }, assistant: 'hi', idempotencyKey: 'k' });
      const retry = await store.turns.append(user, id, { user: { content: 'hello', metadata: { b: [{ y: 2, x: 1 }], a: 1 } }, assistant: 'hi', idempotencyKey: 'k' });
      expect(retry.replayed).toBe(true);
      const ran = await store.turns.run(user, id, { content: 'hello', metadata: { b: [{ y: 2, x: 1 }], a: 1 } }, async () => 'never called', { idempotencyKey: 'k' });
      expect(ran.replayed).toBe(true);
      // Order inside arrays still matters: that is different content.
      const reordered = await caught(() =>
        store.turns.append(user, id, { user: { content: 'hello', metadata: { a: 1, b: [1, 2] } }, assistant: 'hi', idempotencyKey: 'k' }),
      );
      expect(reordered.code).toBe('CK_IDEMPOTENCY_MISMATCH');
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    it('a retry spelling the conversation id in upper case is the same request: append, run and begin replay', async () => {
      const { store, user, id } = await conversation();
      const upper = id.toUpperCase();
      const first = await store.turns.append(user, upper, { user: 'hello', assistant: 'hi', idempotencyKey: 'k' });
      expect((await store.turns.append(user, id, { user: 'hello', assistant: 'hi', idempotencyKey: 'k' })).replayed).toBe(true);
      const ran = await store.turns.run(user, id, 'hello', async () => 'never called', { idempotencyKey: 'k' });
      expect(ran.id).toBe(first.id);
      const begun = await store.turns.begin(user, upper, 'plan', { idempotencyKey: 's' });
      const again = await store.turns.begin(user, id, 'plan', { idempotencyKey: 's' });
      expect([again.replayed, again.id]).toEqual([true, begun.id]);
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    it('run: a long-lived signal shared by many turns is not left holding a listener per turn', async () => {
      const { store, user, id } = await conversation();
      const shutdown = new AbortController();
      for (let i = 0; i < 12; i++) await store.turns.run(user, id, `question ${i}`, async () => 'answer', { signal: shutdown.signal });
      await caught(() => store.turns.run(user, id, 'fails', async () => Promise.reject(new Error('model down')), { signal: shutdown.signal }));
      expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    });

    it('abort keepPartial: a partial reply of white space only (NBSP, ideographic space) is not kept as a blank message', async () => {
      const { store, user, id } = await conversation();
      for (const blank of ['\u00a0', '\u3000\u2003']) {
        const begun = await store.turns.begin(user, id, 'hello?');
        await store.turns.appendText(user, begun.id, blank);
        const result = await store.turns.abort(user, begun.id, { keepPartial: true });
        expect(result.kept).toBeNull();
        expect(result.turn.keptPartial).toBe(false);
        expect((await store.turns.getStreamed(user, begun.id)).keptPartial).toBe(false);
        // Aborting again reports the same outcome.
        expect((await store.turns.abort(user, begun.id, { keepPartial: true })).kept).toBeNull();
      }
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });

    it('stream: a plain (promise) agent passed by mistake is CK_AGENT_FAILED saying why, stores nothing, and its rejection is handled', async () => {
      const { store, user, id } = await conversation();
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const failing = await caught(() => store.turns.stream(user, id, 'q', (async () => Promise.reject(new Error('model down'))) as never));
        expect(failing.code).toBe('CK_AGENT_FAILED');
        expect(failing.message).toMatch(/async iterable/);
        const answering = await caught(() => store.turns.stream(user, id, 'q', (async () => 'a whole reply') as never));
        expect(answering.code).toBe('CK_AGENT_FAILED');
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      expect(unhandled).toEqual([]);
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });

    it('stream: an async onText or onBegin that rejects (the client went away) fails the turn like a throwing one, with no unhandled rejection', async () => {
      const { store, user, id } = await conversation();
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      const agent = async function* () {
        yield 'first ';
        await new Promise((resolve) => setTimeout(resolve, 50));
        yield 'second';
      };
      try {
        const onText = await caught(() =>
          store.turns.stream(user, id, 'q', agent, {
            onText: async () => {
              throw new Error('client gone');
            },
          }),
        );
        expect([onText.code, onText.message]).toEqual(['CK_AGENT_FAILED', 'The agent failed: client gone']);
        const onBegin = await caught(() =>
          store.turns.stream(user, id, 'q', agent, {
            onBegin: async () => {
              throw new Error('no client');
            },
          }),
        );
        expect(onBegin.code).toBe('CK_AGENT_FAILED');
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      expect(unhandled).toEqual([]);
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });

    it('stream: a failing turn closes the agent generator, so its finally (the model connection) runs', async () => {
      const { store, user, id } = await conversation();
      const closedBy: string[] = [];
      const agent = (label: string, second: unknown) =>
        async function* () {
          try {
            yield 'first';
            yield second as string;
            yield 'never';
          } finally {
            closedBy.push(label);
          }
        };
      const onTextThrows = await caught(() =>
        store.turns.stream(user, id, 'q', agent('onText', 'x'), {
          onText: () => {
            throw new Error('client gone');
          },
        }),
      );
      expect(onTextThrows.code).toBe('CK_AGENT_FAILED');
      const notText = await caught(() => store.turns.stream(user, id, 'q', agent('not text', 42)));
      expect(notText.code).toBe('CK_AGENT_FAILED');
      const outside = new AbortController();
      const aborted = await caught(() =>
        store.turns.stream(user, id, 'q', agent('outer abort', 'x'), { signal: outside.signal, onText: () => outside.abort() }),
      );
      expect(aborted.code).toBe('CK_AGENT_FAILED');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(closedBy.sort()).toEqual(['not text', 'onText', 'outer abort']);
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });
  });
}
