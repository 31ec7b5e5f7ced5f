import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { StreamingAgent } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * The partial reply as saved, once a save has landed (or '' after 5 s): saves run on a timer and a
 * connection of their own, so a fixed pause can end before one does on a busy machine.
 */
async function savedPartial(read: () => Promise<string>): Promise<string> {
  for (const deadline = Date.now() + 5000; ; await new Promise((r) => setTimeout(r, 20))) {
    const saved = await read();
    if (saved !== '' || Date.now() > deadline) return saved;
  }
}

/** Streamed turns: begin → text → commit | abort, never half-visible (issue 3). */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: streamed turns`, () => {
    const fixture = useStore(backend.name);

    const conversation = () => fixture.conversation();

    it('a begun turn is invisible to history until commit, then both messages appear together', async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'Plan my week');
      expect(begun.state).toBe('streaming');
      await store.turns.appendText(user, begun.id, 'Monday: ');
      const partial = await store.turns.appendText(user, begun.id, 'rest.');
      expect(partial.partialContent).toBe('Monday: rest.');
      expect((await store.messages.list(user, id)).messages).toEqual([]);
      expect((await store.conversations.get(user, id)).messageCount).toBe(0);

      const turn = await store.turns.commit(user, begun.id);
      expect(turn.id).toBe(begun.id);
      expect(turn.userMessage.id).toBe(begun.userMessageId);
      expect(turn.assistantMessage.id).toBe(begun.assistantMessageId);
      const page = await store.messages.list(user, id);
      expect(page.messages.map((m) => [m.seq, m.role, m.content, m.aborted])).toEqual([
        [1, 'user', 'Plan my week', false],
        [2, 'assistant', 'Monday: rest.', false],
      ]);
    });

    it('commit with final content replaces the streamed text; a repeated commit returns the stored turn', async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'q');
      await store.turns.appendText(user, begun.id, 'draft');
      const turn = await store.turns.commit(user, begun.id, { content: 'final answer', metadata: { model: 'demo' } });
      expect(turn.assistantMessage.content).toBe('final answer');
      const again = await store.turns.commit(user, begun.id);
      expect(again.replayed).toBe(true);
      expect(again.assistantMessage.content).toBe('final answer');
      expect(again.assistantMessage.metadata).toEqual({ model: 'demo' });
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
      expect((await caught(() => store.turns.appendText(user, begun.id, 'late'))).code).toBe('CK_TURN_FINISHED');
    });

    it('turns committed out of begin order stay adjacent pairs with gap-free seqs', async () => {
      const { store, user, id } = await conversation();
      const a = await store.turns.begin(user, id, 'first question');
      const b = await store.turns.begin(user, id, 'second question');
      await store.turns.commit(user, b.id, { content: 'answer b' });
      await store.turns.commit(user, a.id, { content: 'answer a' });
      const messages = (await store.messages.list(user, id)).messages;
      expect(messages.map((m) => [m.seq, m.content])).toEqual([
        [1, 'second question'],
        [2, 'answer b'],
        [3, 'first question'],
        [4, 'answer a'],
      ]);
    });

    it('abort leaves nothing visible; abort with keepPartial stores the partial reply marked aborted', async () => {
      const { store, user, id } = await conversation();
      const dropped = await store.turns.begin(user, id, 'never mind');
      await store.turns.appendText(user, dropped.id, 'I was say');
      const aborted = await store.turns.abort(user, dropped.id);
      expect(aborted.kept).toBeNull();
      expect(aborted.turn.state).toBe('aborted');
      expect((await store.messages.list(user, id)).messages).toEqual([]);

      const kept = await store.turns.begin(user, id, 'tell me a story');
      await store.turns.appendText(user, kept.id, 'Once upon a ');
      const result = await store.turns.abort(user, kept.id, { keepPartial: true });
      expect(result.turn.keptPartial).toBe(true);
      expect(result.kept?.assistantMessage.aborted).toBe(true);
      const messages = (await store.messages.list(user, id)).messages;
      expect(messages.map((m) => [m.seq, m.content, m.aborted])).toEqual([
        [1, 'tell me a story', false],
        [2, 'Once upon a ', true],
      ]);
      // Aborting again is harmless and reports the same outcome.
      expect((await store.turns.abort(user, kept.id, { keepPartial: true })).kept?.assistantMessage.id).toBe(kept.assistantMessageId);
      expect((await caught(() => store.turns.commit(user, kept.id))).code).toBe('CK_TURN_FINISHED');
    });

    it('keepPartial with no text yet keeps nothing', async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'hello?');
      const result = await store.turns.abort(user, begun.id, { keepPartial: true });
      expect(result.kept).toBeNull();
      expect(result.turn.keptPartial).toBe(false);
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });

    it('commit with no reply text is refused naming content, and the turn stays streaming', async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'q');
      const error = await caught(() => store.turns.commit(user, begun.id));
      expect(error.code).toBe('CK_VALIDATION');
      expect(error.details?.['field']).toBe('content');
      expect((await store.turns.getStreamed(user, begun.id)).state).toBe('streaming');
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });

    it("another user's turn behaves exactly like a missing one", async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'mine');
      const intruder = newUser('intruder');
      const missing = '0190f0f0-0000-7000-8000-000000000000';
      for (const turnId of [begun.id, missing]) {
        for (const attempt of [
          () => store.turns.appendText(intruder, turnId, 'x'),
          () => store.turns.commit(intruder, turnId, { content: 'x' }),
          () => store.turns.abort(intruder, turnId),
          () => store.turns.getStreamed(intruder, turnId),
        ]) {
          const error = await caught(attempt);
          expect([error.code, error.message]).toEqual(['CK_NOT_FOUND', 'turn not found']);
        }
      }
      expect((await caught(() => store.turns.begin(intruder, id, 'hijack'))).code).toBe('CK_NOT_FOUND');
      expect((await store.turns.getStreamed(user, begun.id)).partialContent).toBe('');
    });

    it('begin with an idempotency key returns the same turn on retry, even concurrently', async () => {
      const { store, user, id } = await conversation();
      const turns = await Promise.all(Array.from({ length: 8 }, () => store.turns.begin(user, id, 'once', { idempotencyKey: 'stream-1' })));
      expect(new Set(turns.map((t) => t.id)).size).toBe(1);
      expect(turns.filter((t) => !t.replayed)).toHaveLength(1);
      await store.turns.commit(user, turns[0]!.id, { content: 'done' });
      const retry = await store.turns.begin(user, id, 'once', { idempotencyKey: 'stream-1' });
      expect([retry.replayed, retry.state]).toEqual([true, 'committed']);
      expect((await caught(() => store.turns.begin(user, id, 'other text', { idempotencyKey: 'stream-1' }))).code).toBe(
        'CK_IDEMPOTENCY_MISMATCH',
      );
      // The committed turn's key guards plain appends too.
      const replay = await store.turns.append(user, id, { user: 'once', assistant: 'ignored', idempotencyKey: 'stream-1' });
      expect([replay.replayed, replay.assistantMessage.content]).toEqual([true, 'done']);
    });

    it('begin with a key an append already used for another request is refused and writes nothing', async () => {
      const { store, user, id } = await conversation();
      const other = await store.conversations.create(user);
      const appended = await store.turns.append(user, id, { user: 'hello', assistant: 'hi', idempotencyKey: 'k' });
      // Another message, or the same message in another conversation: another request under the same key.
      for (const attempt of [
        () => store.turns.begin(user, id, 'other text', { idempotencyKey: 'k' }),
        () => store.turns.begin(user, other.id, 'hello', { idempotencyKey: 'k' }),
      ]) {
        const error = await caught(attempt);
        expect([error.code, error.details?.['field']]).toEqual(['CK_IDEMPOTENCY_MISMATCH', 'idempotencyKey']);
      }
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from chatkeep.streamed_turns where user_id = ${user}`.execute(
        fixture.scratch().database.db,
      );
      expect(rows[0]?.n).toBe(0);
      expect((await caught(() => store.turns.getStreamed(user, appended.id))).code).toBe('CK_NOT_FOUND');
      expect((await store.messages.list(user, id)).messages.map((m) => m.content)).toEqual(['hello', 'hi']);
      expect((await store.conversations.get(user, other.id)).messageCount).toBe(0);
      // The matching request still replays the appended turn.
      const replay = await store.turns.begin(user, id, 'hello', { idempotencyKey: 'k' });
      expect([replay.replayed, replay.id, replay.state, replay.partialContent]).toEqual([true, appended.id, 'committed', 'hi']);
    });

    it('sweep aborts turns abandoned past their timeout and leaves live ones alone', async () => {
      const { store, user, id } = await conversation();
      const abandoned = await store.turns.begin(user, id, 'client died', { abandonAfterMs: 1000 });
      const live = await store.turns.begin(user, id, 'client alive', { abandonAfterMs: 60_000 });
      await new Promise((r) => setTimeout(r, 1100));
      const report = await store.turns.sweep();
      expect(report.abandoned).toBeGreaterThanOrEqual(1);
      expect((await store.turns.getStreamed(user, abandoned.id)).state).toBe('aborted');
      expect((await store.turns.getStreamed(user, live.id)).state).toBe('streaming');
      expect((await caught(() => store.turns.commit(user, abandoned.id, { content: 'too late' }))).code).toBe('CK_TURN_FINISHED');
      expect((await store.messages.list(user, id)).messages).toEqual([]);
      const purge = await store.turns.sweep({ retainFinishedMs: 0 });
      expect(purge.purged).toBeGreaterThanOrEqual(1);
      expect((await caught(() => store.turns.getStreamed(user, abandoned.id))).code).toBe('CK_NOT_FOUND');
    });

    it('bad input names the field and writes nothing', async () => {
      const { store, user, id } = await conversation();
      const cases: [() => Promise<unknown>, string][] = [
        [() => store.turns.begin(user, id, '   '), 'message'],
        [() => store.turns.begin(user, 'not-a-uuid', 'x'), 'conversationId'],
        [() => store.turns.begin(user, id, 'x', { abandonAfterMs: 5 }), 'abandonAfterMs'],
        [() => store.turns.begin(user, id, 'x', { idempotencyKey: '' }), 'idempotencyKey'],
        [() => store.turns.appendText(user, 'nope', 'x'), 'turnId'],
      ];
      for (const [attempt, field] of cases) {
        const error = await caught(attempt);
        expect([error.code, error.details?.['field']]).toEqual(['CK_VALIDATION', field]);
      }
      const begun = await store.turns.begin(user, id, 'x');
      const empty = await caught(() => store.turns.appendText(user, begun.id, ''));
      expect(empty.details?.['field']).toBe('text');
      const tooLong = await caught(() => store.turns.appendText(user, begun.id, 'y'.repeat(100_001)));
      expect([tooLong.code, tooLong.details?.['field']]).toEqual(['CK_VALIDATION', 'text']);
      expect((await store.turns.getStreamed(user, begun.id)).partialContent).toBe('');
    });

    it('stream() hands text on as it is generated and commits both messages at the end', async () => {
      const { store, user, id } = await conversation();
      const pieces: string[] = [];
      let visibleDuringStream: number | undefined;
      const agent: StreamingAgent = async function* ({ message }) {
        yield 'You ';
        visibleDuringStream = (await store.messages.list(user, id)).messages.length;
        yield 'said: ';
        yield message;
      };
      const turn = await store.turns.stream(user, id, 'hi', agent, { onText: (t) => pieces.push(t) });
      expect(pieces).toEqual(['You ', 'said: ', 'hi']);
      expect(visibleDuringStream).toBe(0);
      expect(turn.assistantMessage.content).toBe('You said: hi');
      expect((await store.messages.list(user, id)).messages.map((m) => m.content)).toEqual(['hi', 'You said: hi']);
    });

    it('stream() stores nothing when the agent fails midway, or keeps the marked partial reply on request', async () => {
      const { store, user, id } = await conversation();
      const failing: StreamingAgent = async function* () {
        yield 'half an ans';
        throw new Error('model crashed');
      };
      const error = await caught(() => store.turns.stream(user, id, 'q1', failing));
      expect(error.code).toBe('CK_AGENT_FAILED');
      expect((await store.messages.list(user, id)).messages).toEqual([]);
      await caught(() => store.turns.stream(user, id, 'q2', failing, { keepPartialOnAbort: true }));
      expect((await store.messages.list(user, id)).messages.map((m) => [m.content, m.aborted])).toEqual([
        ['q2', false],
        ['half an ans', true],
      ]);
    });

    it('stream() times out a silent agent and an outside abort stops it; nothing is stored', async () => {
      const { store, user, id } = await conversation();
      const stalled: StreamingAgent = async function* ({ signal }) {
        yield 'thinking';
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      };
      expect((await caught(() => store.turns.stream(user, id, 'q', stalled, { timeoutMs: 200 }))).code).toBe('CK_AGENT_TIMEOUT');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      expect((await caught(() => store.turns.stream(user, id, 'q', stalled, { signal: controller.signal }))).code).toBe('CK_AGENT_FAILED');
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });

    it('stream() with a signal aborted before the call stores nothing, and the agent never runs on a live signal', async () => {
      const { store, user, id } = await conversation();
      let turnId = '';
      let ranLive = false;
      const eager: StreamingAgent = async function* ({ signal }) {
        if (!signal.aborted) ranLive = true;
        yield 'an answer nobody is waiting for';
      };
      const error = await caught(() => store.turns.stream(user, id, 'q', eager, { signal: AbortSignal.abort(), onBegin: (t) => (turnId = t.id) }));
      expect(error.code).toBe('CK_AGENT_FAILED');
      expect(ranLive).toBe(false);
      expect((await store.turns.getStreamed(user, turnId)).state).toBe('aborted');
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });

    it('stream() saves the partial reply while streaming, so a crashed process leaves an abortable record', async () => {
      const { store, user, id } = await conversation();
      let turnId = '';
      let savedMidway = '';
      const slow: StreamingAgent = async function* () {
        yield 'first part. ';
        savedMidway = await savedPartial(async () => (await store.turns.getStreamed(user, turnId)).partialContent);
        yield 'second part.';
      };
      await store.turns.stream(user, id, 'q', slow, { persistEveryMs: 50, onBegin: (t) => (turnId = t.id) });
      expect(savedMidway).toBe('first part. ');
    });

    it('stream() saves a partial reply that pauses between the two halves of an emoji, and stores the emoji whole', async () => {
      const { store, user, id } = await conversation();
      let turnId = '';
      let savedMidway = '';
      // '\uD83D\uDE00' is 😀; the agent yields it in two pieces with a save in between.
      const splitting: StreamingAgent = async function* () {
        yield 'smile \uD83D';
        savedMidway = await savedPartial(async () => (await store.turns.getStreamed(user, turnId)).partialContent);
        yield '\uDE00 done';
      };
      const turn = await store.turns.stream(user, id, 'q', splitting, { persistEveryMs: 20, onBegin: (t) => (turnId = t.id) });
      expect(savedMidway).toBe('smile ');
      expect(turn.assistantMessage.content).toBe('smile \u{1F600} done');
    });

    it('keepAlive pushes the expiry on without adding text, so the sweeper leaves the turn; a finished, foreign or malformed turn is refused', async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'think about it', { abandonAfterMs: 1000 });
      await store.turns.appendText(user, begun.id, 'Hmm, ');
      // Every 200 ms: a busy machine may take most of the 1 s timeout's remaining 800 ms between two.
      for (let i = 0; i < 8; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const kept = await store.turns.keepAlive(user, begun.id);
        expect(kept.partialContent).toBe('Hmm, ');
        await store.turns.sweep();
      }
      // 1.6 s since the last text, past the 1 s timeout: only the keep-alives kept it.
      const alive = await store.turns.getStreamed(user, begun.id);
      expect(alive.state).toBe('streaming');
      expect(alive.expiresAt.getTime()).toBeGreaterThan(begun.expiresAt.getTime() + 1000);
      expect((await caught(() => store.turns.keepAlive(newUser('intruder'), begun.id))).code).toBe('CK_NOT_FOUND');
      expect(await caught(() => store.turns.keepAlive(user, 'not-a-uuid'))).toMatchObject({ code: 'CK_VALIDATION', details: { field: 'turnId' } });
      await store.turns.commit(user, begun.id);
      expect((await caught(() => store.turns.keepAlive(user, begun.id))).code).toBe('CK_TURN_FINISHED');
    });

    it('stream(): an agent silent for longer than abandonAfterMs is not swept while this process runs it', async () => {
      const { store, user, id } = await conversation();
      let begun: { id: string; expiresAt: Date } | undefined;
      let expiresMidway: Date | undefined;
      // A model that thinks for 5 s before its only token: 2.5 times the abandon timeout. (The turn is
      // kept alive every 667 ms; a 2 s timeout leaves a busy machine 1.3 s of slack between two.)
      const thinking: StreamingAgent = async function* ({ signal }) {
        await new Promise((resolve) => setTimeout(resolve, 5000));
        signal.throwIfAborted();
        expiresMidway = (await store.turns.getStreamed(user, begun!.id)).expiresAt;
        yield 'considered answer';
      };
      let running = true;
      // The server's sweeper, far more eager than its usual every 30 s.
      const sweeping = (async () => {
        while (running) {
          await store.turns.sweep();
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      try {
        const turn = await store.turns.stream(user, id, 'think hard', thinking, { abandonAfterMs: 2000, onBegin: (t) => (begun = t) });
        expect(turn.assistantMessage.content).toBe('considered answer');
        expect(expiresMidway!.getTime()).toBeGreaterThan(begun!.expiresAt.getTime() + 2000);
      } finally {
        running = false;
        await sweeping;
      }
    });

    it('stream(): a silent agent whose turn is aborted from outside is stopped at the next keep-alive, not when it speaks', async () => {
      const { store, user, id } = await conversation();
      const seen: string[] = [];
      const thinking: StreamingAgent = async function* ({ signal }) {
        try {
          await new Promise((resolve, reject) => {
            const timer = setTimeout(resolve, 5000);
            signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
          });
        } catch (error) {
          seen.push('stopped while thinking');
          throw error;
        }
        yield 'too late';
      };
      const streaming = store.turns.stream(user, id, 'q', thinking, {
        abandonAfterMs: 1000,
        onBegin: (t) => void setTimeout(() => void store.turns.abort(user, t.id), 100),
      });
      expect((await caught(() => streaming)).code).toBe('CK_TURN_FINISHED');
      expect(seen).toEqual(['stopped while thinking']);
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });

    it('history can be cut to a token budget, newest kept', async () => {
      const { store, user, id } = await conversation();
      for (let i = 0; i < 5; i++) await store.turns.append(user, id, { user: `question ${i} ${'x'.repeat(40)}`, assistant: `answer ${i}` });
      let seen: readonly string[] = [];
      await store.turns.run(user, id, 'now', async ({ history }) => {
        seen = history.map((m) => m.content);
        return 'ok';
      }, { historyTokenBudget: 40 });
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.length).toBeLessThan(10);
      expect(seen.at(-1)).toBe('answer 4');
    });

    it('erasing the user removes streamed turns and API keys too', async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'secret');
      await store.apiKeys.create(user, { name: 'phone' });
      const report = await store.eraseUser(user);
      expect(report.apiKeys).toBe(1);
      expect((await caught(() => store.turns.getStreamed(user, begun.id))).code).toBe('CK_NOT_FOUND');
      expect(await store.apiKeys.list(user)).toEqual([]);
    });
  });
}
