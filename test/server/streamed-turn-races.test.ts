import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { demoAgent, type StreamingAgent } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer } from '../support/server-fixture.js';
import { openEventStream } from '../support/sse-client.js';
import { newUser } from '../support/store-fixture.js';

/** The streamed-turn lifecycle and idempotency over real HTTP: races, hang-ups, shared keys, bad input. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: streamed turns over HTTP under races and bad input`, () => {
    const stream: StreamingAgent = async function* ({ message, signal }) {
      if (message.startsWith('huge')) {
        // More than maxContentLength (100,000) in all: the reply cannot be stored.
        yield 'x'.repeat(60_000);
        yield 'y'.repeat(60_000);
        return;
      }
      if (message.startsWith('nul')) {
        yield 'half a reply ';
        yield 'then a NUL \u0000 byte';
        return;
      }
      if (message.startsWith('emoji')) {
        // A model may split an emoji's surrogate pair across two pieces; the client hangs up between them.
        yield 'half a reply ';
        yield '\ud83d';
        await sleep(30_000, undefined, { signal });
        yield '\ude00';
        return;
      }
      for (let i = 0; i < 5; i++) {
        await sleep(20, undefined, { signal });
        yield `w${i} `;
      }
    };
    const f = useServer(backend.name, { agent: { name: 'review', run: demoAgent, stream }, abandonAfterMs: 60_000 });

    async function setup() {
      const user = newUser('review');
      const token = await jwtFor(user);
      const { body } = await f.call('POST', '/v1/conversations', { token, body: {} });
      const history = async () => (await f.call('GET', `/v1/conversations/${body.id}/messages`, { token })).body.messages as any[];
      return { user, token, id: body.id as string, history };
    }

    for (const message of ['huge reply', 'nul in reply']) {
      it(`/turns/stream with keepPartialOnAbort and an unstorable reply (${message}) ends the turn, not leaves it streaming`, async () => {
        const { token, id, history } = await setup();
        const events = await openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, {
          token,
          body: { message, keepPartialOnAbort: true },
        }).done;
        expect(events.at(-1)?.event).toBe('error');
        const begin = events.find((e) => e.event === 'begin');
        const turn = await f.call('GET', `/v1/streamed-turns/${begin?.data.id}`, { token });
        // The request is over and the server alive: the turn must be finished, not held 'streaming' until the sweeper.
        expect(turn.body.state).toBe('aborted');
        // Its idempotency key (none here) aside, nothing half-done is visible.
        expect((await history()).filter((m) => !m.aborted).length % 2).toBe(0);
      });
    }

    it('/turns/stream with keepPartialOnAbort: a hang-up between the halves of an emoji keeps the partial reply before it', async () => {
      const { token, id, history } = await setup();
      const s = openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, { token, body: { message: 'emoji please', keepPartialOnAbort: true } });
      const begin = await s.next('begin');
      await s.next('text');
      await s.next('text');
      s.cancel();
      await expect.poll(async () => (await f.call('GET', `/v1/streamed-turns/${begin.data.id}`, { token })).body.state, { timeout: 5000 }).toBe('aborted');
      expect((await history()).map((m) => [m.content, m.aborted])).toEqual([
        ['emoji please', false],
        ['half a reply ', true],
      ]);
    });

    it('a plain turn with the key of a turn still streaming does not take the key from it', async () => {
      const { token, id, history } = await setup();
      const key = `k-${randomUUID()}`;
      const begun = await f.call('POST', `/v1/conversations/${id}/streamed-turns`, { token, body: { message: 'hello', idempotencyKey: key } });
      expect(begun.status).toBe(201);
      await f.call('POST', `/v1/streamed-turns/${begun.body.id}/text`, { token, body: { text: 'streamed reply' } });
      // The same key, for another request: it is bound to the streamed turn's request already.
      const plain = await f.call('POST', `/v1/conversations/${id}/turns`, {
        token,
        headers: { 'idempotency-key': key },
        body: { user: 'something else', assistant: 'other reply' },
      });
      const commit = await f.call('POST', `/v1/streamed-turns/${begun.body.id}/commit`, { token });
      // Keys are one namespace per user: the plain turn is refused (it once took the key, 201, and the
      // streamed turn could then never commit: 409 on idempotency_keys_pkey, streaming until swept).
      expect({ plain: plain.status, code: plain.body.error?.code, commit: commit.status }).toEqual({ plain: 409, code: 'CK_IDEMPOTENCY_MISMATCH', commit: 200 });
      expect((await f.call('GET', `/v1/streamed-turns/${begun.body.id}`, { token })).body.state).not.toBe('streaming');
      expect((await history()).map((m) => m.content)).toContain('streamed reply');
    });

    it('a /turns/run with the key of a turn still streaming does not take the key from it', async () => {
      const { token, id } = await setup();
      const key = `k-${randomUUID()}`;
      const begun = await f.call('POST', `/v1/conversations/${id}/streamed-turns`, { token, body: { message: 'hello', idempotencyKey: key } });
      await f.call('POST', `/v1/streamed-turns/${begun.body.id}/text`, { token, body: { text: 'streamed reply' } });
      const run = await f.call('POST', `/v1/conversations/${id}/turns/run`, { token, body: { message: 'hello', idempotencyKey: key } });
      const commit = await f.call('POST', `/v1/streamed-turns/${begun.body.id}/commit`, { token });
      expect({ run: run.status, code: run.body.error?.code, commit: commit.status }).toEqual({ run: 409, code: 'CK_CONFLICT', commit: 200 });
    });

    it('commit twice and commit+abort concurrently: one outcome, gap-free history', async () => {
      const { token, id, history } = await setup();
      for (let round = 0; round < 10; round++) {
        const begun = await f.call('POST', `/v1/conversations/${id}/streamed-turns`, { token, body: { message: `q${round}` } });
        await f.call('POST', `/v1/streamed-turns/${begun.body.id}/text`, { token, body: { text: `a${round}` } });
        const ops = round % 2 === 0 ? ['commit', 'commit', 'abort'] : ['abort', 'commit', 'abort'];
        const results = await Promise.all(
          ops.map((op) => f.call('POST', `/v1/streamed-turns/${begun.body.id}/${op}`, { token, ...(op === 'abort' ? { body: { keepPartial: true } } : {}) })),
        );
        for (const r of results) expect([200, 409]).toContain(r.status);
      }
      const h = await history();
      expect(h.map((m) => m.seq)).toEqual(h.map((_, i) => i + 1));
      for (let i = 0; i < h.length; i += 2) expect([h[i].role, h[i + 1].role]).toEqual(['user', 'assistant']);
    });

    it('another user can neither read nor change a streamed turn', async () => {
      const a = await setup();
      const b = await setup();
      const begun = await f.call('POST', `/v1/conversations/${a.id}/streamed-turns`, { token: a.token, body: { message: 'mine' } });
      const t = begun.body.id;
      for (const [method, path, body] of [
        ['GET', `/v1/streamed-turns/${t}`, undefined],
        ['POST', `/v1/streamed-turns/${t}/text`, { text: 'theirs' }],
        ['POST', `/v1/streamed-turns/${t}/keep-alive`, undefined],
        ['POST', `/v1/streamed-turns/${t}/commit`, { content: 'theirs' }],
        ['POST', `/v1/streamed-turns/${t}/abort`, { keepPartial: true, content: 'theirs' }],
        ['POST', `/v1/conversations/${a.id}/streamed-turns`, { message: 'into theirs' }],
      ] as const) {
        const r = await f.call(method, path, { token: b.token, ...(body !== undefined ? { body } : {}) });
        expect([path, r.status]).toEqual([path, 404]);
      }
      const mine = await f.call('GET', `/v1/streamed-turns/${t}`, { token: a.token });
      expect([mine.body.state, mine.body.partialContent]).toEqual(['streaming', '']);
    });

    it('one key begun 10 times at once: one turn, the same id for all; another body with it is a mismatch', async () => {
      const { token, id } = await setup();
      const key = `k-${randomUUID()}`;
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          f.call('POST', `/v1/conversations/${id}/streamed-turns`, { token, headers: { 'idempotency-key': key }, body: { message: i < 8 ? 'same' : 'other' } }),
        ),
      );
      const ok = results.filter((r) => r.status === 200 || r.status === 201);
      expect(new Set(ok.map((r) => r.body.id)).size).toBe(1);
      expect(results.filter((r) => r.status === 201).length).toBe(1);
      for (const r of results) expect([200, 201, 409]).toContain(r.status);
      for (const r of results.filter((x) => x.status === 409)) expect(r.body.error.code).toBe('CK_IDEMPOTENCY_MISMATCH');
    });

    it('streamed turns (caller-driven and /turns/stream) and plain turns at once on one conversation: gap-free pairs, never half a turn', async () => {
      const { token, id, history } = await setup();
      let stop = false;
      const watcher = (async () => {
        const seen: string[] = [];
        while (!stop) {
          const h = await history();
          for (let i = 0; i < h.length; i++) expect(h[i].seq).toBe(i + 1);
          expect(h.length % 2).toBe(0);
          for (let i = 0; i < h.length; i += 2) expect([h[i].role, h[i + 1].role, h[i].turnId]).toEqual(['user', 'assistant', h[i + 1].turnId]);
          seen.push(String(h.length));
        }
        return seen;
      })();
      const driven = Array.from({ length: 6 }, async (_, i) => {
        const b = await f.call('POST', `/v1/conversations/${id}/streamed-turns`, { token, body: { message: `driven ${i}` } });
        for (const piece of ['a', 'b', 'c']) await f.call('POST', `/v1/streamed-turns/${b.body.id}/text`, { token, body: { text: piece } });
        return f.call('POST', `/v1/streamed-turns/${b.body.id}/${i % 3 === 2 ? 'abort' : 'commit'}`, { token, ...(i % 3 === 2 ? { body: { keepPartial: true } } : {}) });
      });
      const plain = Array.from({ length: 6 }, (_, i) => f.call('POST', `/v1/conversations/${id}/turns`, { token, body: { user: `plain ${i}`, assistant: 'ok' } }));
      const streamed = Array.from({ length: 3 }, (_, i) => openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, { token, body: { message: `sse ${i}` } }).done);
      const results = await Promise.all([...driven, ...plain]);
      for (const r of results) expect([200, 201]).toContain(r.status);
      for (const events of await Promise.all(streamed)) expect(events.at(-1)?.event).toBe('commit');
      stop = true;
      await watcher;
      const h = await history();
      expect(h.length).toBe(2 * (6 + 6 + 3));
    });

    it('bad input on the streamed-turn routes is 400 or 413 naming the field, never 500, and writes nothing', async () => {
      const { token, id, history } = await setup();
      const begun = await f.call('POST', `/v1/conversations/${id}/streamed-turns`, { token, body: { message: 'bad input' } });
      const t = begun.body.id;
      const cases: [string, string, unknown, number, string | undefined][] = [
        ['POST', `/v1/streamed-turns/${t}/text`, { text: 5 }, 400, 'text'],
        ['POST', `/v1/streamed-turns/${t}/text`, {}, 400, 'text'],
        ['POST', `/v1/streamed-turns/${t}/text`, '{"text":"\\ud800"}', 400, 'text'],
        ['POST', `/v1/streamed-turns/${t}/text`, '{"text":"a\\u0000b"}', 400, 'text'],
        ['POST', `/v1/streamed-turns/${t}/text`, { text: 'x'.repeat(2_000_000) }, 413, undefined],
        ['POST', `/v1/streamed-turns/${t}/commit`, { content: 5 }, 400, 'content'],
        ['POST', `/v1/streamed-turns/${t}/commit`, '{"content":"\\udc00"}', 400, 'content'],
        ['POST', `/v1/streamed-turns/${t}/commit`, { metadata: [] }, 400, 'metadata'],
        ['POST', `/v1/streamed-turns/${t}/commit`, { metadata: { 'a\u0000': 1 } }, 400, 'metadata'],
        ['POST', `/v1/streamed-turns/${t}/abort`, { keepPartial: 'yes' }, 400, 'keepPartial'],
        ['POST', `/v1/streamed-turns/${t}/abort`, { keepPartial: true, content: 'a\u0000' }, 400, 'content'],
        ['POST', `/v1/streamed-turns/not-a-uuid/text`, { text: 'x' }, 400, 'turnId'],
        ['POST', `/v1/conversations/${id}/streamed-turns`, { message: 'x', abandonAfterMs: 'soon' }, 400, 'abandonAfterMs'],
        ['POST', `/v1/conversations/${id}/streamed-turns`, { message: 'x', idempotencyKey: '\u0000' }, 400, 'idempotencyKey'],
        ['POST', `/v1/conversations/${id}/streamed-turns`, { message: { content: 'x', metadata: { k: '\ud800' } } }, 400, undefined],
        ['POST', `/v1/conversations/${id}/streamed-turns`, { message: 'x', abandonAfterMs: 1e300 }, 400, 'abandonAfterMs'],
      ];
      for (const [method, path, body, status, field] of cases) {
        const r = await f.call(method, path, { token, body });
        expect({ path, body: typeof body === 'string' ? body : JSON.stringify(body).slice(0, 80), status: r.status }).toEqual({
          path,
          body: typeof body === 'string' ? body : JSON.stringify(body).slice(0, 80),
          status,
        });
        if (field !== undefined) expect(String(r.body.error.details.field)).toContain(field);
      }
      const after = await f.call('GET', `/v1/streamed-turns/${t}`, { token });
      expect([after.body.state, after.body.partialContent]).toEqual(['streaming', '']);
      expect(await history()).toEqual([]);
    });
  });
}
