import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { requestHash } from '../../src/store/turn-parts.js';
import { caught, useStore } from '../support/store-fixture.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An agent that answers only when the test says so, counting its calls. */
function heldAgent(reply = 'the reply') {
  let release: () => void = () => undefined;
  let started: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const running = new Promise<void>((resolve) => (started = resolve));
  const agent = Object.assign(
    (async () => {
      agent.calls++;
      started();
      await gate;
      return reply;
    }) as Agent,
    { calls: 0 },
  );
  return { agent, release: () => release(), running };
}

/**
 * `turns.run` reserves its turn while the agent works (migration 0009). Before
 * that, nothing in the database said a run was in flight: a retention purge
 * deleted the conversation under it (the commit then failed with
 * CK_NOT_FOUND, losing the user's message and a paid reply), and a retry
 * under the same idempotency key called the agent a second time.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a run's reservation`, () => {
    const fixture = useStore(backend.name);
    const db = () => fixture.scratch().database.db;

    it('a retention purge keeps an old conversation whose run is waiting for its agent, and the turn is stored', async () => {
      const { store, user, id } = await fixture.conversation('purge');
      await sql`update chatkeep.conversations set created_at = '1990-01-01' where id = ${id}::uuid`.execute(db());
      const { agent, release, running } = heldAgent();
      const run = store.turns.run(user, id, 'remember this', agent);
      await running;
      const report = await store.retention.purge({ before: new Date('2000-01-01T00:00:00Z') });
      expect(report.conversations).toBe(0);
      release();
      const turn = await run;
      expect([turn.userMessage.content, turn.assistantMessage.content, turn.replayed]).toEqual(['remember this', 'the reply', false]);
      expect((await store.messages.list(user, id)).messages.map((m) => m.content)).toEqual(['remember this', 'the reply']);
      // Finished, the run no longer protects the conversation: its activity is now, so a purge of old ones passes it by.
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    it('concurrent runs under one key call the agent once; the others wait and return the same turn', async () => {
      const { store, user, id } = await fixture.conversation('burst');
      const { agent, release, running } = heldAgent('one answer');
      const first = store.turns.run(user, id, 'question', agent, { idempotencyKey: 'burst-1' });
      await running;
      const others = Array.from({ length: 4 }, () => store.turns.run(user, id, 'question', agent, { idempotencyKey: 'burst-1' }));
      // Time for the others to reach the reservation and start waiting.
      await sleep(100);
      expect(agent.calls).toBe(1);
      release();
      const turns = await Promise.all([first, ...others]);
      expect(agent.calls).toBe(1);
      expect(new Set(turns.map((t) => t.id)).size).toBe(1);
      expect(turns.map((t) => t.replayed)).toEqual([false, true, true, true, true]);
      expect(turns.every((t) => t.assistantMessage.content === 'one answer')).toBe(true);
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    it('a waiting retry whose first call fails runs the agent itself; a failed run leaves its key free', async () => {
      const { store, user, id } = await fixture.conversation('fail');
      let calls = 0;
      let failFirst: (error: Error) => void = () => undefined;
      let firstStarted: () => void = () => undefined;
      const started = new Promise<void>((resolve) => (firstStarted = resolve));
      const agent: Agent = () => {
        calls++;
        if (calls > 1) return Promise.resolve(`answer ${calls}`);
        firstStarted();
        return new Promise((_, reject) => (failFirst = reject));
      };
      const first = caught(() => store.turns.run(user, id, 'q', agent, { idempotencyKey: 'k' }));
      await started;
      const retry = store.turns.run(user, id, 'q', agent, { idempotencyKey: 'k' });
      await sleep(50);
      expect(calls, 'the retry waits for the first call').toBe(1);
      failFirst(new Error('model overloaded'));
      expect((await first).code).toBe('CK_AGENT_FAILED');
      const turn = await retry;
      expect([turn.replayed, turn.assistantMessage.content, calls]).toEqual([false, 'answer 2', 2]);
      const held = await sql`select state from chatkeep.streamed_turns where user_id = ${user} and state = 'streaming'`.execute(db());
      expect(held.rows).toEqual([]);
    });

    it('a retry gives up with CK_CONFLICT after its own timeout while the first is still running, without calling the agent', async () => {
      const { store, user, id } = await fixture.conversation('slow');
      const { agent, release, running } = heldAgent('late');
      const first = store.turns.run(user, id, 'slow question', agent, { idempotencyKey: 'slow' });
      await running;
      const started = Date.now();
      const retry = await caught(() => store.turns.run(user, id, 'slow question', agent, { idempotencyKey: 'slow', timeoutMs: 300 }));
      expect([retry.code, retry.details?.['field']]).toEqual(['CK_CONFLICT', 'idempotencyKey']);
      expect(retry.message).toMatch(/still running its agent/);
      expect(Date.now() - started, 'it waited its whole timeout').toBeGreaterThanOrEqual(280);
      expect(agent.calls).toBe(1);
      const aborted = new AbortController();
      const leaving = caught(() => store.turns.run(user, id, 'slow question', agent, { idempotencyKey: 'slow', signal: aborted.signal }));
      aborted.abort();
      expect((await leaving).code).toBe('CK_AGENT_FAILED');
      release();
      expect((await first).assistantMessage.content).toBe('late');
      expect(agent.calls).toBe(1);
    });

    it('a different request under a key held by a run is CK_IDEMPOTENCY_MISMATCH at once', async () => {
      const { store, user, id } = await fixture.conversation('mismatch');
      const { agent, release, running } = heldAgent();
      const first = store.turns.run(user, id, 'one thing', agent, { idempotencyKey: 'mine' });
      await running;
      expect((await caught(() => store.turns.run(user, id, 'another thing', agent, { idempotencyKey: 'mine' }))).code).toBe('CK_IDEMPOTENCY_MISMATCH');
      expect((await caught(() => store.turns.append(user, id, { user: 'one thing', assistant: 'x', idempotencyKey: 'mine' }))).code).toBe('CK_CONFLICT');
      release();
      await first;
      expect(agent.calls).toBe(1);
    });

    it("a streamed begin under a key a run holds is CK_CONFLICT while the agent works, and replays the run's turn once stored", async () => {
      const { store, user, id } = await fixture.conversation('begin');
      const { agent, release, running } = heldAgent('the run answered');
      const run = store.turns.run(user, id, 'same question', agent, { idempotencyKey: 'shared-key' });
      await running;
      // Handing out the run's reservation let this client append to, commit or abort the run's turn under its agent.
      const refused = await caught(() => store.turns.begin(user, id, 'same question', { idempotencyKey: 'shared-key' }));
      expect([refused.code, refused.details?.['field']]).toEqual(['CK_CONFLICT', 'idempotencyKey']);
      expect(refused.message).toMatch(/agent is still running/);
      release();
      const turn = await run;
      expect([turn.replayed, turn.assistantMessage.content]).toEqual([false, 'the run answered']);
      const replay = await store.turns.begin(user, id, 'same question', { idempotencyKey: 'shared-key' });
      expect([replay.replayed, replay.state, replay.partialContent]).toEqual([true, 'committed', 'the run answered']);
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    it('the conversation deleted while the agent works: CK_NOT_FOUND naming the conversation, nothing stored', async () => {
      const { store, user, id } = await fixture.conversation('deleted');
      const { agent, release, running } = heldAgent();
      const run = caught(() => store.turns.run(user, id, 'q', agent));
      await running;
      await store.conversations.delete(user, id);
      release();
      const error = await run;
      expect([error.code, error.message]).toEqual(['CK_NOT_FOUND', expect.stringMatching(/conversation/i)]);
      expect(await sql`select 1 from chatkeep.messages where conversation_id = ${id}::uuid`.execute(db()).then((r) => r.rows)).toEqual([]);
    });

    it('the sweeper releases the reservation of a run whose process died, so a retry under its key runs again', async () => {
      const { store, user, id } = await fixture.conversation('dead');
      // What a process killed while its agent worked leaves behind, its expiry passed.
      await sql`insert into chatkeep.streamed_turns (user_id, id, conversation_id, user_message_id, assistant_message_id, user_content,
                  idempotency_key, request_hash, abandon_after_ms, expires_at, run_reservation)
                values (${user}, gen_random_uuid(), ${id}::uuid, gen_random_uuid(), gen_random_uuid(), 'q',
                        'dead-key', ${requestHash(id, { content: 'q', metadata: {} })}, 61000, now() - interval '1 second', true)`.execute(db());
      const refused = await caught(() => store.turns.run(user, id, 'q', async () => 'too early', { idempotencyKey: 'dead-key', timeoutMs: 50 }));
      expect(refused.code, 'before the sweep the reservation looks alive').toBe('CK_CONFLICT');
      const report = await store.turns.sweep();
      expect(report.abandoned).toBeGreaterThanOrEqual(1);
      const left = await sql`select state from chatkeep.streamed_turns where user_id = ${user} and idempotency_key = 'dead-key'`.execute(db());
      expect(left.rows).toEqual([]);
      const turn = await store.turns.run(user, id, 'q', async () => 'after the crash', { idempotencyKey: 'dead-key' });
      expect([turn.replayed, turn.assistantMessage.content]).toEqual([false, 'after the crash']);
    });

    it("a client's streamed turn abandoned the same way is aborted, not deleted: its key stays spent", async () => {
      const { store, user, id } = await fixture.conversation('stream');
      const begun = await store.turns.begin(user, id, 'q', { idempotencyKey: 'streamed-key' });
      await sql`update chatkeep.streamed_turns set expires_at = now() - interval '1 second' where id = ${begun.id}::uuid`.execute(db());
      await store.turns.sweep();
      expect((await store.turns.getStreamed(user, begun.id)).state).toBe('aborted');
      expect((await caught(() => store.turns.run(user, id, 'q', async () => 'x', { idempotencyKey: 'streamed-key' }))).code).toBe('CK_CONFLICT');
    });
  });
}
