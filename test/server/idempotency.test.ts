import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Agent, StreamingAgent } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Issue 3: idempotency keys work over HTTP as in the library. With an
 * `Idempotency-Key` header (or the body's `idempotencyKey`) a retry —
 * sequential or concurrent — stores nothing new and answers 200 with the
 * stored turn; the agent behind /turns/run is not called again; a key reused
 * for a different request is 409 CK_IDEMPOTENCY_MISMATCH.
 */

/** The `event:`/`data:` pairs of a Server-Sent Events body. */
function events(text: string): { event: string; data: any }[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return { event, data: data === undefined ? undefined : JSON.parse(data) };
    });
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: idempotent retries over HTTP`, () => {
    let runCalls = 0;
    let streamCalls = 0;
    const counting: Agent = async () => {
      runCalls++;
      // A little latency so concurrent requests really overlap.
      await new Promise((resolve) => setTimeout(resolve, 20));
      return `reply number ${runCalls}`;
    };
    const countingStream: StreamingAgent = async function* () {
      streamCalls++;
      yield 'streamed ';
      yield `reply ${streamCalls}`;
    };
    const f = useServer(backend.name, {
      agent: { name: 'counting', run: counting, stream: countingStream },
    });

    async function setup() {
      const user = newUser('retry');
      const { id } = await f.store().conversations.create(user);
      return { user, token: await jwtFor(user), id, turns: `/v1/conversations/${id}/turns` };
    }
    const key = () => `key-${randomUUID()}`;

    it('a turn retried with the same Idempotency-Key is stored once; retries answer 200 with the same turn', async () => {
      const { user, token, id, turns } = await setup();
      const headers = { 'idempotency-key': key() };
      const first = await f.call('POST', turns, {
        token,
        headers,
        body: { user: 'hello', assistant: 'hi' },
      });
      expect(first.status).toBe(201);
      expect(first.body.replayed).toBe(false);
      for (let i = 0; i < 3; i++) {
        const retry = await f.call('POST', turns, {
          token,
          headers,
          body: { user: 'hello', assistant: 'hi' },
        });
        expect(retry.status).toBe(200);
        expect(retry.body).toEqual({ ...first.body, replayed: true });
      }
      const stored = await f.store().messages.list(user, id);
      expect(stored.messages.map((m) => [m.seq, m.content])).toEqual([
        [1, 'hello'],
        [2, 'hi'],
      ]);
    });

    it('10 concurrent requests with one key store one turn, and all answer with it', async () => {
      const { user, token, id, turns } = await setup();
      const headers = { 'idempotency-key': key() };
      const replies = await Promise.all(
        Array.from({ length: 10 }, () =>
          f.call('POST', turns, { token, headers, body: { user: 'burst', assistant: 'once' } }),
        ),
      );
      expect(replies.map((r) => r.status).sort()).toEqual([
        200, 200, 200, 200, 200, 200, 200, 200, 200, 201,
      ]);
      expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
      expect((await f.store().messages.list(user, id)).messages).toHaveLength(2);
      expect((await f.store().conversations.get(user, id)).messageCount).toBe(2);
    });

    it('the body key works like the header, and a header and body that agree are accepted', async () => {
      const { token, turns } = await setup();
      const k = key();
      const first = await f.call('POST', turns, {
        token,
        body: { user: 'q', assistant: 'a', idempotencyKey: k },
      });
      const both = await f.call('POST', turns, {
        token,
        headers: { 'idempotency-key': k },
        body: { user: 'q', assistant: 'a', idempotencyKey: k },
      });
      expect([first.status, both.status]).toEqual([201, 200]);
      expect(both.body.id).toBe(first.body.id);
    });

    it('a key reused with a different message is 409 CK_IDEMPOTENCY_MISMATCH and writes nothing', async () => {
      const { user, token, id, turns } = await setup();
      const headers = { 'idempotency-key': key() };
      expect(
        (
          await f.call('POST', turns, {
            token,
            headers,
            body: { user: 'original', assistant: 'a' },
          })
        ).status,
      ).toBe(201);
      const reused = await f.call('POST', turns, {
        token,
        headers,
        body: { user: 'different', assistant: 'a' },
      });
      expect(reused.status).toBe(409);
      expect(reused.body.error).toMatchObject({
        code: 'CK_IDEMPOTENCY_MISMATCH',
        details: { field: 'idempotencyKey' },
      });
      // The same key on another conversation is a different request too.
      const other = await f.store().conversations.create(user);
      const elsewhere = await f.call('POST', `/v1/conversations/${other.id}/turns`, {
        token,
        headers,
        body: { user: 'original', assistant: 'a' },
      });
      expect(elsewhere.status).toBe(409);
      expect((await f.store().messages.list(user, id)).messages.map((m) => m.content)).toEqual([
        'original',
        'a',
      ]);
      expect((await f.store().messages.list(user, other.id)).messages).toEqual([]);
    });

    it('an Idempotency-Key header and a different body key are a 400 naming idempotencyKey, and nothing is written', async () => {
      const { user, token, id, turns } = await setup();
      const reply = await f.call('POST', turns, {
        token,
        headers: { 'idempotency-key': 'header' },
        body: { user: 'q', assistant: 'a', idempotencyKey: 'body' },
      });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatchObject({
        code: 'CK_VALIDATION',
        details: { field: 'idempotencyKey' },
      });
      const run = await f.call('POST', `${turns}/run`, {
        token,
        headers: { 'idempotency-key': 'header' },
        body: { message: 'q', idempotencyKey: 'body' },
      });
      expect(run.status).toBe(400);
      const begin = await f.call('POST', `/v1/conversations/${id}/streamed-turns`, {
        token,
        headers: { 'idempotency-key': 'header' },
        body: { message: 'q', idempotencyKey: 'body' },
      });
      expect(begin.status).toBe(400);
      expect((await f.store().messages.list(user, id)).messages).toEqual([]);
    });

    // The IETF draft sends the key as a structured-field string, quoted; most clients send it bare.
    it('an Idempotency-Key sent quoted, as the IETF draft writes it, is the same key as sent bare or in the body', async () => {
      const { user, token, id, turns } = await setup();
      const bare = key();
      const first = await f.call('POST', turns, { token, headers: { 'idempotency-key': `"${bare}"` }, body: { user: 'hello', assistant: 'hi' } });
      expect(first.status).toBe(201);
      const retried = await f.call('POST', turns, { token, headers: { 'idempotency-key': bare }, body: { user: 'hello', assistant: 'hi' } });
      expect([retried.status, retried.body.id]).toEqual([200, first.body.id]);
      const both = await f.call('POST', turns, {
        token,
        headers: { 'idempotency-key': `"${bare}"` },
        body: { user: 'hello', assistant: 'hi', idempotencyKey: bare },
      });
      expect([both.status, both.body.id]).toEqual([200, first.body.id]);
      expect((await f.store().messages.list(user, id)).messages).toHaveLength(2);
    });

    it('/turns/run retried with a key calls the agent once and answers 200 with the stored turn', async () => {
      const { user, token, id, turns } = await setup();
      const headers = { 'idempotency-key': key() };
      const before = runCalls;
      const first = await f.call('POST', `${turns}/run`, {
        token,
        headers,
        body: { message: 'plan my day' },
      });
      expect(first.status).toBe(201);
      for (let i = 0; i < 3; i++) {
        const retry = await f.call('POST', `${turns}/run`, {
          token,
          headers,
          body: { message: 'plan my day' },
        });
        expect(retry.status).toBe(200);
        expect(retry.body).toEqual({ ...first.body, replayed: true });
      }
      expect(runCalls - before).toBe(1);
      expect((await f.store().messages.list(user, id)).messages).toHaveLength(2);

      const mismatch = await f.call('POST', `${turns}/run`, {
        token,
        headers,
        body: { message: 'something else' },
      });
      expect(mismatch.status).toBe(409);
      expect(mismatch.body.error.code).toBe('CK_IDEMPOTENCY_MISMATCH');
      expect(runCalls - before).toBe(1);
    });

    // The duplicates wait for the first call's agent (its reserved turn holds the key) instead of each paying for an answer.
    it('/turns/run sent 10 times concurrently calls the agent once, stores one turn and every answer carries its reply', async () => {
      const { user, token, id, turns } = await setup();
      const headers = { 'idempotency-key': key() };
      const callsBefore = runCalls;
      const replies = await Promise.all(
        Array.from({ length: 10 }, () =>
          f.call('POST', `${turns}/run`, { token, headers, body: { message: 'burst' } }),
        ),
      );
      expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
      expect(replies.filter((r) => r.status === 200)).toHaveLength(9);
      expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
      expect(new Set(replies.map((r) => r.body.assistantMessage.content)).size).toBe(1);
      expect(runCalls - callsBefore).toBe(1);
      const stored = await f.store().messages.list(user, id);
      expect(stored.messages.map((m) => m.content)).toEqual([
        'burst',
        replies[0]!.body.assistantMessage.content,
      ]);
      // Once stored, a retry never reaches the agent.
      const calls = runCalls;
      expect(
        (await f.call('POST', `${turns}/run`, { token, headers, body: { message: 'burst' } }))
          .status,
      ).toBe(200);
      expect(runCalls).toBe(calls);
    });

    it('a streamed turn begun twice with one key is one turn; a different message under it is 409', async () => {
      const { user, token, id } = await setup();
      const path = `/v1/conversations/${id}/streamed-turns`;
      const headers = { 'idempotency-key': key() };
      const first = await f.call('POST', path, { token, headers, body: { message: 'stream me' } });
      expect(first.status).toBe(201);
      const again = await f.call('POST', path, { token, headers, body: { message: 'stream me' } });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: first.body.id, replayed: true, state: 'streaming' });

      const burst = await Promise.all(
        Array.from({ length: 10 }, () =>
          f.call('POST', path, { token, headers, body: { message: 'stream me' } }),
        ),
      );
      expect(burst.map((r) => [r.status, r.body.id])).toEqual(
        Array.from({ length: 10 }, () => [200, first.body.id]),
      );

      const mismatch = await f.call('POST', path, {
        token,
        headers,
        body: { message: 'another thing' },
      });
      expect(mismatch.status).toBe(409);
      expect(mismatch.body.error).toMatchObject({
        code: 'CK_IDEMPOTENCY_MISMATCH',
        details: { field: 'idempotencyKey' },
      });

      expect(
        (
          await f.call('POST', `/v1/streamed-turns/${first.body.id}/commit`, {
            token,
            body: { content: 'done' },
          })
        ).status,
      ).toBe(200);
      expect((await f.store().messages.list(user, id)).messages.map((m) => m.content)).toEqual([
        'stream me',
        'done',
      ]);
      // After the commit, the same begin still replays the one turn, now committed.
      const late = await f.call('POST', path, { token, headers, body: { message: 'stream me' } });
      expect(late.body).toMatchObject({ id: first.body.id, state: 'committed', replayed: true });
    });

    it('/turns/stream retried with a key replays the committed turn without streaming the agent again', async () => {
      const { user, token, turns, id } = await setup();
      const headers = { 'idempotency-key': key() };
      const before = streamCalls;
      const first = events(
        (await f.call('POST', `${turns}/stream`, { token, headers, body: { message: 'tell me' } }))
          .body,
      );
      const committed = first.find((e) => e.event === 'commit')?.data;
      expect(committed).toBeDefined();
      const second = events(
        (await f.call('POST', `${turns}/stream`, { token, headers, body: { message: 'tell me' } }))
          .body,
      );
      expect(second.find((e) => e.event === 'commit')?.data).toMatchObject({
        id: committed.id,
        replayed: true,
      });
      expect(second.filter((e) => e.event === 'text')).toEqual([]);
      expect(streamCalls - before).toBe(1);
      expect((await f.store().messages.list(user, id)).messages).toHaveLength(2);
    });
  });
}
