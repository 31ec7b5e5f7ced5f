import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent, type Agent, type StreamingAgent } from '../../src/index.js';
import { buildServer } from '../../src/server/index.js';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer } from '../support/server-fixture.js';
import { openEventStream } from '../support/sse-client.js';
import { caught, newUser } from '../support/store-fixture.js';

/** A slow model: one word every 40 ms, so a test can act in the middle of a reply. */
const slowWords: StreamingAgent = async function* ({ signal }) {
  for (const word of 'one two three four five six seven eight nine ten eleven twelve'.split(' ')) {
    await sleep(40, undefined, { signal });
    yield `${word} `;
  }
};

/** Slower than the 1 s between saves of the partial reply, so a save happens mid-stream. */
const longWords: StreamingAgent = async function* ({ signal }) {
  for (let i = 0; i < 40; i++) {
    await sleep(50, undefined, { signal });
    yield `w${i} `;
  }
};

/** A model that thinks for 2 s before its first token, then talks fast: a word every 50 ms for 2 s. */
const thinking: StreamingAgent = async function* ({ signal }) {
  await sleep(2000, undefined, { signal });
  for (let i = 0; i < 40; i++) {
    await sleep(50, undefined, { signal });
    yield `t${i} `;
  }
};

const failing: StreamingAgent = async function* () {
  yield 'partial ';
  throw new Error('upstream model error');
};

/** A slow non-streaming model that notes when it starts and when it is told to stop. */
const running: string[] = [];
const stopped: string[] = [];
const slowRun: Agent = async ({ message, signal }) => {
  running.push(message);
  try {
    await sleep(10_000, undefined, { signal });
  } catch (error) {
    stopped.push(message);
    throw error;
  }
  return 'too late';
};

/** Streamed turns over HTTP: SSE to the client, commit/abort, dead clients (issue 3). */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: streaming turns over HTTP`, () => {
    const f = useServer(backend.name, {
      agent: {
        name: 'switch',
        run: (input) => (input.message.startsWith('slow') ? slowRun : demoAgent)(input),
        // The message picks the behaviour, so one server covers every case.
        stream: (input) =>
          (input.message.startsWith('fail')
            ? failing
            : input.message.startsWith('slow')
              ? slowWords
              : input.message.startsWith('long')
                ? longWords
                : input.message.startsWith('think')
                  ? thinking
                  : demoStreamingAgent({ delayMs: 1 }))(input),
      },
      abandonAfterMs: 2000,
      sseHeartbeatMs: 800,
    });

    async function setup() {
      const user = newUser();
      const token = await jwtFor(user);
      const { body } = await f.call('POST', '/v1/conversations', { token, body: {} });
      const history = async () =>
        (await f.call('GET', `/v1/conversations/${body.id}/messages`, { token })).body
          .messages as any[];
      return { user, token, id: body.id as string, history };
    }

    it('streams begin, text…, commit; nothing is in history until commit', async () => {
      const { token, id, history } = await setup();
      const stream = openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, {
        token,
        body: { message: 'slow please' },
      });
      const begin = await stream.next('begin');
      expect(begin.data.state).toBe('streaming');
      // The event stream keeps the headers every other response has: request id and rate-limit state.
      expect(stream.headers()?.get('x-request-id')).toMatch(/\S/);
      expect(stream.headers()?.get('x-ratelimit-limit')).toMatch(/^\d+$/);
      expect(stream.headers()?.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
      await stream.next('text');
      expect(await history()).toEqual([]);
      const events = await stream.done;
      const commit = events.find((e) => e.event === 'commit');
      const text = events
        .filter((e) => e.event === 'text')
        .map((e) => e.data.text)
        .join('');
      expect(text).toBe('one two three four five six seven eight nine ten eleven twelve ');
      expect(commit?.data.assistantMessage.content).toBe(text);
      expect(commit?.data.id).toBe(begin.data.id);
      expect((await history()).map((m) => [m.role, m.content, m.aborted])).toEqual([
        ['user', 'slow please', false],
        ['assistant', text, false],
      ]);
    });

    it('while the agent is silent, a keep-alive comment goes out every sseHeartbeatMs; none while events flow', async () => {
      const { token, id, history } = await setup();
      const stream = openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, {
        token,
        body: { message: 'think first' },
      });
      const events = await stream.done;
      expect(events.map((e) => e.event)).toEqual(['begin', ...Array<string>(40).fill('text'), 'commit']);
      // 2 s of silence after begin at 800 ms each: two comments, both after begin and before the first text.
      expect(stream.comments.filter((at) => at === 1).length).toBeGreaterThanOrEqual(2);
      // Then a word every 50 ms: each event puts the next heartbeat off by a full interval, so none is due.
      expect(stream.comments.filter((at) => at > 1)).toEqual([]);
      expect((await history()).map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    });

    it('an sseHeartbeatMs that is not a whole number of ms from 0 to an hour is a CK_CONFIG error naming it', async () => {
      for (const bad of [-1, 1.5, 3_600_001, Number.NaN]) {
        const error = await caught(() => buildServer(f.store(), { auth: {}, agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent() }, sseHeartbeatMs: bad }));
        expect(error).toMatchObject({ code: 'CK_CONFIG', details: { field: 'sseHeartbeatMs' } });
      }
    });

    it('a client that disconnects mid-stream aborts the turn: nothing visible', async () => {
      const { token, id, history } = await setup();
      const stream = openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, {
        token,
        body: { message: 'slow then gone' },
      });
      const begin = await stream.next('begin');
      await stream.next('text');
      stream.cancel();
      await expect
        .poll(
          async () =>
            (await f.call('GET', `/v1/streamed-turns/${begin.data.id}`, { token })).body.state,
          { timeout: 5000 },
        )
        .toBe('aborted');
      await sleep(200);
      expect(await history()).toEqual([]);
    });

    it('a client that hangs up on /turns/run stops the agent, and nothing is stored', async () => {
      const { token, id, history } = await setup();
      const hangUp = new AbortController();
      const request = fetch(`${f.url()}/v1/conversations/${id}/turns/run`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: `slow ${id}` }),
        signal: hangUp.signal,
      });
      // Hang up once the agent runs: a fixed pause could end before a busy server even reached the handler.
      await expect.poll(() => running.includes(`slow ${id}`), { timeout: 10_000 }).toBe(true);
      hangUp.abort();
      await expect(request).rejects.toThrow();
      await expect.poll(() => stopped.includes(`slow ${id}`), { timeout: 3000 }).toBe(true);
      expect(await history()).toEqual([]);
    });

    it('with keepPartialOnAbort, a disconnect keeps the partial reply, marked aborted', async () => {
      const { token, id, history } = await setup();
      const stream = openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, {
        token,
        body: { message: 'slow but keep', keepPartialOnAbort: true },
      });
      await stream.next('begin');
      await stream.next('text');
      await stream.next('text');
      stream.cancel();
      await expect.poll(async () => (await history()).length, { timeout: 5000 }).toBe(2);
      const [question, reply] = await history();
      expect([question.content, question.aborted]).toEqual(['slow but keep', false]);
      expect(reply.aborted).toBe(true);
      expect(reply.content.startsWith('one two')).toBe(true);
      expect(reply.content.length).toBeLessThan(
        'one two three four five six seven eight nine ten eleven twelve '.length,
      );
    });

    it('an agent failing mid-stream ends with an error event and stores nothing', async () => {
      const { token, id, history } = await setup();
      const events = await openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, {
        token,
        body: { message: 'fail now' },
      }).done;
      expect(events.map((e) => e.event)).toEqual(['begin', 'text', 'error']);
      expect(events.at(-1)?.data.error.code).toBe('CK_AGENT_FAILED');
      expect(await history()).toEqual([]);
    });

    // The partial reply is saved every second while the agent streams; a save
    // that fails because the turn was committed or aborted from outside (these
    // routes, another worker, the sweeper) was an unhandled rejection, and
    // `chatkeep serve` exited.
    for (const ending of ['commit', 'abort'] as const) {
      it(`a server-streamed turn ${ending === 'commit' ? 'committed' : 'aborted'} from outside mid-stream ends its stream with an error event, and the server lives on`, async () => {
        const unhandled: unknown[] = [];
        const note = (reason: unknown) => unhandled.push(reason);
        process.on('unhandledRejection', note);
        try {
          const { token, id, history } = await setup();
          const stream = openEventStream(`${f.url()}/v1/conversations/${id}/turns/stream`, {
            token,
            body: { message: 'long answer please' },
          });
          const begin = await stream.next('begin');
          await stream.next('text');
          const outside = await f.call('POST', `/v1/streamed-turns/${begin.data.id}/${ending}`, {
            token,
            ...(ending === 'commit' ? { body: { content: 'the caller’s own reply' } } : {}),
          });
          expect(outside.status).toBe(200);
          const events = await stream.done;
          expect(events.at(-1)).toMatchObject({
            event: 'error',
            data: { error: { code: 'CK_TURN_FINISHED' } },
          });
          await sleep(1500);
          expect(unhandled).toEqual([]);
          expect((await history()).map((m) => m.content)).toEqual(
            ending === 'commit' ? ['long answer please', 'the caller’s own reply'] : [],
          );
        } finally {
          process.off('unhandledRejection', note);
        }
      });
    }

    it('errors known before streaming are plain JSON: unknown conversation 404, bad body 400', async () => {
      const { token } = await setup();
      const missing = await f.call(
        'POST',
        '/v1/conversations/0190f0f0-0000-7000-8000-000000000000/turns/stream',
        { token, body: { message: 'x' } },
      );
      expect([missing.status, missing.body.error.code]).toEqual([404, 'CK_NOT_FOUND']);
      const { id } = await setup();
      const bad = await f.call('POST', `/v1/conversations/${id}/turns/stream`, {
        token,
        body: { message: '' },
      });
      expect([bad.status, bad.body.error.details.field]).toEqual([400, 'message']);
    });

    it('client-driven: begin, text, commit over HTTP; both messages appear together', async () => {
      const { token, id, history } = await setup();
      const begun = await f.call('POST', `/v1/conversations/${id}/streamed-turns`, {
        token,
        body: { message: 'from my own model' },
      });
      expect(begun.status).toBe(201);
      const turnId = begun.body.id;
      for (const text of ['Hello', ', ', 'world']) {
        expect(
          (await f.call('POST', `/v1/streamed-turns/${turnId}/text`, { token, body: { text } }))
            .status,
        ).toBe(200);
      }
      expect(await history()).toEqual([]);
      const committed = await f.call('POST', `/v1/streamed-turns/${turnId}/commit`, { token });
      expect([committed.status, committed.body.assistantMessage.content]).toEqual([
        200,
        'Hello, world',
      ]);
      const again = await f.call('POST', `/v1/streamed-turns/${turnId}/commit`, {
        token,
        body: {},
      });
      expect([again.status, again.body.replayed]).toEqual([200, true]);
      const late = await f.call('POST', `/v1/streamed-turns/${turnId}/text`, {
        token,
        body: { text: 'more' },
      });
      expect([late.status, late.body.error.code]).toEqual([409, 'CK_TURN_FINISHED']);
      expect((await history()).map((m) => m.content)).toEqual([
        'from my own model',
        'Hello, world',
      ]);
    });

    it('client-driven: keep-alive holds off the sweeper while the model thinks, and adds no text', async () => {
      const { token, id, history } = await setup();
      const begun = await f.call('POST', `/v1/conversations/${id}/streamed-turns`, { token, body: { message: 'think', abandonAfterMs: 1000 } });
      const turn = begun.body.id as string;
      // 2.4 s without text against a 1 s timeout (the fixture's sweeper runs every second): keep-alives every
      // 200 ms, so a busy machine has 800 ms of slack between two.
      for (let i = 0; i < 12; i++) {
        await sleep(200);
        const kept = await f.call('POST', `/v1/streamed-turns/${turn}/keep-alive`, { token });
        expect([kept.status, kept.body.state, kept.body.partialContent]).toEqual([200, 'streaming', '']);
      }
      await f.call('POST', `/v1/streamed-turns/${turn}/text`, { token, body: { text: 'Thought it through.' } });
      const committed = await f.call('POST', `/v1/streamed-turns/${turn}/commit`, { token });
      expect(committed.status).toBe(200);
      expect((await history()).map((m: { content: string }) => m.content)).toEqual(['think', 'Thought it through.']);
      const late = await f.call('POST', `/v1/streamed-turns/${turn}/keep-alive`, { token });
      expect([late.status, late.body.error.code]).toEqual([409, 'CK_TURN_FINISHED']);
    });

    it('client-driven abort keeps nothing, or the marked partial reply on request', async () => {
      const { token, id, history } = await setup();
      const a = (
        await f.call('POST', `/v1/conversations/${id}/streamed-turns`, {
          token,
          body: { message: 'drop me' },
        })
      ).body.id;
      await f.call('POST', `/v1/streamed-turns/${a}/text`, { token, body: { text: 'half' } });
      const dropped = await f.call('POST', `/v1/streamed-turns/${a}/abort`, { token });
      expect([dropped.status, dropped.body.kept, dropped.body.turn.state]).toEqual([
        200,
        null,
        'aborted',
      ]);
      const b = (
        await f.call('POST', `/v1/conversations/${id}/streamed-turns`, {
          token,
          body: { message: 'keep me' },
        })
      ).body.id;
      await f.call('POST', `/v1/streamed-turns/${b}/text`, {
        token,
        body: { text: 'half a reply' },
      });
      const kept = await f.call('POST', `/v1/streamed-turns/${b}/abort`, {
        token,
        body: { keepPartial: true },
      });
      expect(kept.body.kept.assistantMessage.aborted).toBe(true);
      expect((await history()).map((m) => [m.content, m.aborted])).toEqual([
        ['keep me', false],
        ['half a reply', true],
      ]);
    });

    it('a turn whose client goes silent is aborted by the sweeper after its timeout', async () => {
      const { token, id, history } = await setup();
      const turnId = (
        await f.call('POST', `/v1/conversations/${id}/streamed-turns`, {
          token,
          body: { message: 'then silence', abandonAfterMs: 1000 },
        })
      ).body.id;
      await f.call('POST', `/v1/streamed-turns/${turnId}/text`, {
        token,
        body: { text: 'some text' },
      });
      await expect
        .poll(
          async () => (await f.call('GET', `/v1/streamed-turns/${turnId}`, { token })).body.state,
          { timeout: 6000, interval: 250 },
        )
        .toBe('aborted');
      const late = await f.call('POST', `/v1/streamed-turns/${turnId}/commit`, {
        token,
        body: { content: 'too late' },
      });
      expect([late.status, late.body.error.code]).toEqual([409, 'CK_TURN_FINISHED']);
      expect(await history()).toEqual([]);
    });
  });
}
