import { describe, expect, it } from 'vitest';
import type { StreamingAgent } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { caught, useStore } from '../support/store-fixture.js';

/**
 * Found by an adversarial pass over the library API: input PostgreSQL cannot
 * store is refused naming the field (never CK_INTERNAL, never silently
 * altered), and the streamed-turn paths neither crash the host process nor
 * strand a turn or an idempotency key.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: hardening of the library API`, () => {
    const fixture = useStore(backend.name, { maxContentLength: 1000 });

    const conversation = () => fixture.conversation();

    it('NUL, unpaired surrogates and values jsonb refuses are CK_VALIDATION naming the field, and nothing is written', async () => {
      const { store, user, id } = await conversation();
      const circular: Record<string, unknown> = {};
      circular['self'] = circular;
      const checks: [() => Promise<unknown>, string][] = [
        // text columns refuse NUL (22021); jsonb refuses \u0000 (22P05) and a lone surrogate's escape (22P02)
        [() => store.turns.append(user, id, { user: { content: 'a', metadata: { x: 'a\u0000b' } }, assistant: 'b' }), 'user.metadata'],
        [() => store.turns.append(user, id, { user: 'a', assistant: { content: 'b', metadata: { 'k\u0000': 1 } } }), 'assistant.metadata'],
        [() => store.turns.append(user, id, { user: { content: 'a', metadata: { x: '\ud800' } }, assistant: 'b' }), 'user.metadata'],
        [() => store.conversations.create(user, { metadata: { nested: [{ deep: '\u0000' }] } }), 'metadata'],
        [() => store.conversations.create(user, { metadata: { toJSON: () => 5 } }), 'metadata'],
        [() => store.onboarding.start(user, { flow: 'h1', phase: 'a\u0000' }), 'phase'],
        [() => store.onboarding.start(user, { flow: 'h1', phase: 'p', goals: ['\u0000'] }), 'goals'],
        [() => store.onboarding.start(user, { flow: 'h1', phase: 'p', goals: [1n] }), 'goals'],
        [() => store.onboarding.start(user, { flow: 'h1', phase: 'p', goals: [circular] }), 'goals'],
        [() => store.onboarding.start(user, { flow: 'h1', phase: 'p', context: { a: '\udc00' } }), 'context'],
        // a lone surrogate would be stored as U+FFFD while the returned row showed the original
        [() => store.turns.append(user, id, { user: 'x\ud800y', assistant: 'b' }), 'user'],
        [() => store.conversations.create(user, { title: '\udc00' }), 'title'],
        [() => store.apiKeys.create(user, { name: 'laptop\ud83d' }), 'name'],
        // U+0085 is Unicode white space; PGlite's \S agrees, so a message of it alone is empty on both backends
        [() => store.turns.append(user, id, { user: '\u0085', assistant: 'b' }), 'user'],
        // a key beside content is a mistake, not something to drop silently
        [() => store.turns.append(user, id, { user: { content: 'a', role: 'system' } as never, assistant: 'b' }), 'user.role'],
        [() => store.turns.run(user, id, { content: 'a', meta: {} } as never, async () => 'b'), 'message.meta'],
        [() => store.retention.purge({ before: new Date(-8.64e15) }), 'before'],
        [() => store.turns.sweep({ retainFinishedMs: Number.MAX_SAFE_INTEGER }), 'retainFinishedMs'],
      ];
      for (const [call, field] of checks) {
        const error = await caught(call);
        expect(error.code, `${field}: ${error.message}`).toBe('CK_VALIDATION');
        expect(error.details?.['field']).toBe(field);
      }
      expect((await store.conversations.get(user, id)).messageCount).toBe(0);
      expect(await store.conversations.list(user)).toMatchObject({ conversations: [{ id }] });
      expect(await store.onboarding.list(user)).toEqual([]);
      expect(await store.apiKeys.list(user)).toEqual([]);
      // Emoji (proper surrogate pairs) stay welcome, in text and in metadata.
      const turn = await store.turns.append(user, id, { user: { content: '😀'.repeat(1000), metadata: { '👍': '🏽' } }, assistant: 'ok' });
      expect((await store.messages.list(user, id)).messages[0]).toMatchObject({ content: turn.userMessage.content, metadata: { '👍': '🏽' } });
    });

    it('abort validates the text it records even when it is not kept, naming `content`', async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'hi');
      for (const content of ['cut\u0000', 'x'.repeat(1001)]) {
        const error = await caught(() => store.turns.abort(user, begun.id, { content }));
        expect(error.code).toBe('CK_VALIDATION');
        expect(error.details?.['field']).toBe('content');
      }
      expect((await store.turns.getStreamed(user, begun.id)).state).toBe('streaming');
      expect((await store.turns.abort(user, begun.id, { content: '  ' })).turn.state).toBe('aborted');
    });

    it('stream: a failed intermediate save is no unhandled rejection; the turn fails as CK_AGENT_FAILED and stores nothing', async () => {
      const { store, user, id } = await conversation();
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        // 600 characters per piece against a 1000-character limit: the second save is refused by the database
        // while the agent keeps streaming, well past the moment Node reports a rejection nobody handles.
        let yielded = 0;
        let stoppedBy: unknown;
        const agent: StreamingAgent = async function* ({ signal }) {
          signal.addEventListener('abort', () => (stoppedBy = signal.reason), { once: true });
          // Many pieces, so a save slowed by a busy machine still fails long before the agent could finish.
          for (let i = 0; i < 40; i++) {
            yield 'x'.repeat(600);
            yielded++;
            await new Promise((resolve) => setTimeout(resolve, 60));
          }
        };
        const error = await caught(() => store.turns.stream(user, id, 'go', agent, { persistEveryMs: 10 }));
        expect(error.code).toBe('CK_AGENT_FAILED');
        // The failed save stopped the agent at once, instead of letting it run on to its end.
        expect(stoppedBy).toBeDefined();
        expect(yielded).toBeLessThan(40);
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      expect((await store.conversations.get(user, id)).messageCount).toBe(0);
    });

    it('stream: an onBegin that throws aborts the turn instead of leaving it streaming with its key held', async () => {
      const { store, user, id } = await conversation();
      const agent: StreamingAgent = async function* () {
        yield 'reply';
      };
      let begun: string | undefined;
      const error = await caught(() =>
        store.turns.stream(user, id, 'hi', agent, {
          idempotencyKey: 'ob-1',
          onBegin: (turn) => {
            begun = turn.id;
            throw new Error('listener failed');
          },
        }),
      );
      expect(error.message).toContain('listener failed');
      expect((await store.turns.getStreamed(user, begun!)).state).toBe('aborted');
      // The retry is told the turn is over, not that another request is still streaming it.
      expect((await caught(() => store.turns.stream(user, id, 'hi', agent, { idempotencyKey: 'ob-1' }))).code).toBe('CK_TURN_FINISHED');
    });

    it('begin and stream honour a key already used by append, and a key whose streamed record was swept', async () => {
      const { store, user, id } = await conversation();
      const appended = await store.turns.append(user, id, { user: 'question', assistant: 'answer', idempotencyKey: 'k-1' });
      const mismatch = await caught(() => store.turns.begin(user, id, 'another question', { idempotencyKey: 'k-1' }));
      expect(mismatch.code).toBe('CK_IDEMPOTENCY_MISMATCH');
      const replay = await store.turns.begin(user, id, 'question', { idempotencyKey: 'k-1' });
      expect(replay).toMatchObject({ replayed: true, state: 'committed', id: appended.id, userMessageId: appended.userMessage.id });
      expect((await store.turns.commit(user, replay.id)).assistantMessage.content).toBe('answer');

      let calls = 0;
      const agent: StreamingAgent = async function* () {
        calls++;
        yield 'streamed answer';
      };
      const first = await store.turns.stream(user, id, 'again', agent, { idempotencyKey: 'k-2' });
      await store.turns.sweep({ retainFinishedMs: 0 }); // purges the finished record; the key stays with the messages
      const retried = await store.turns.stream(user, id, 'again', agent, { idempotencyKey: 'k-2' });
      expect(calls).toBe(1);
      expect(retried).toMatchObject({ replayed: true, id: first.id, assistantMessage: { content: 'streamed answer' } });
      expect((await store.conversations.get(user, id)).messageCount).toBe(4);
    });
  });
}
