import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Agent, StreamingAgent } from '../../src/index.js';
import { buildServer, type ChatkeepServer } from '../../src/server/index.js';
import { BACKENDS } from '../support/backends.js';
import { TEST_JWT_AUTH, jwtFor } from '../support/server-fixture.js';
import { openEventStream } from '../support/sse-client.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * Graceful shutdown past its grace period (ServerOptions.shutdownGraceMs):
 * turns still running are aborted rather than left running, so close()
 * ends on time and nothing half-done is stored. While it drains, the
 * requests it refuses are logged as what they are: expected, one line each.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: server close() after the shutdown grace`, () => {
    const store = useStore(backend.name);

    /**
     * A server whose agent never ends a turn by itself: the run, and the
     * stream after a first chunk, wait on `untilAborted`. Its agent timeout
     * (8 s) is far past its shutdown grace (200 ms), so only the shutdown can
     * end those turns in time.
     */
    const neverFinishingServer = (untilAborted: (turn: 'run' | 'stream', signal: AbortSignal) => Promise<never>) => {
      const run: Agent = async ({ signal }) => untilAborted('run', signal);
      const stream: StreamingAgent = async function* ({ signal }) {
        yield 'partial ';
        await untilAborted('stream', signal);
      };
      return buildServer(store.get(), {
        auth: TEST_JWT_AUTH,
        agent: { name: 'never-finishes', run, stream },
        agentTimeoutMs: 8_000,
        shutdownGraceMs: 200,
        logger: false,
      });
    };

    /** Starts `server` listening, and opens a conversation for a new user: where each case sends its turns. */
    const listenWithConversation = async (server: ChatkeepServer, userPrefix: string) => {
      const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
      const user = newUser(userPrefix);
      const token = await jwtFor(user);
      const { id } = await store.get().conversations.create(user);
      return { url, user, token, id };
    };

    /** POSTs `message` to the conversation's `turns/run` route as its user. */
    const postRun = (url: string, token: string, id: string, message: string) =>
      fetch(`${url}/v1/conversations/${id}/turns/run`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message }),
      });

    it('aborts the agent runs and streams still in flight once the grace runs out; nothing of them is stored', async () => {
      const aborted: string[] = [];
      let started = 0;
      const untilAborted = (name: string, signal: AbortSignal) =>
        new Promise<never>((_, reject) => {
          started++;
          signal.addEventListener('abort', () => {
            aborted.push(name);
            reject(signal.reason as Error);
          });
        });
      // The agent timeout is far past the grace: only the shutdown can end these turns in time.
      const server = await neverFinishingServer(untilAborted);
      const { url, user, token, id } = await listenWithConversation(server, 'shutdown');
      const running = postRun(url, token, id, 'run forever').then(async (response) => ({
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: (await response.json()) as any,
      }));
      const streaming = openEventStream(`${url}/v1/conversations/${id}/turns/stream`, {
        token,
        body: { message: 'stream forever' },
      });
      await streaming.next('text');
      while (started < 2) await sleep(10);

      // The grace is 200 ms: well before the 8 s agent timeout, both turns must be told to stop.
      const closeStarted = performance.now();
      const closing = server.close();
      for (const deadline = Date.now() + 3_000; aborted.length < 2 && Date.now() < deadline;)
        await sleep(10);
      expect(aborted.sort()).toEqual(['run', 'stream']);
      expect(await closing).toEqual({ finishedInFlight: false });
      // Not a speed target: the aborted turns' connections must close with the server, not linger for
      // the client's keep-alive (~4 s with fetch), so the margin over the 200 ms grace is wide.
      expect(performance.now() - closeStarted).toBeLessThan(2_500);

      // Told the server shut down (retry, elsewhere if need be), not that the agent failed.
      const ran = await running;
      expect([ran.status, ran.retryAfter, ran.body.error.code]).toEqual([503, '1', 'CK_SHUTTING_DOWN']);
      const events = await streaming.done;
      expect(events.map((e) => e.event)).toEqual(['begin', 'text', 'error']);
      expect(events.at(-1)?.data.error.code).toBe('CK_SHUTTING_DOWN');
      expect((await store.get().messages.list(user, id)).messages).toEqual([]);
    });

    it('while draining, each request refused with 503 CK_SHUTTING_DOWN (also /readyz, with Retry-After) is logged on one info line, without a stack trace', async () => {
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
          done();
        },
      });
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      let started = false;
      // The turn in flight keeps the server draining (not closed) while the refused requests come in.
      const run: Agent = async () => {
        started = true;
        await released;
        return 'done';
      };
      const server = await buildServer(store.get(), {
        auth: TEST_JWT_AUTH,
        agent: { name: 'waits', run, stream: async function* () {} },
        shutdownGraceMs: 10_000,
        logger: { level: 'info', stream: sink },
      });
      const { url, token, id } = await listenWithConversation(server, 'draining-log');
      const running = postRun(url, token, id, 'wait for the shutdown');
      while (!started) await sleep(10);
      const closing = server.close();
      try {
        for (let i = 0; i < 3; i++) {
          const refused = await fetch(`${url}/v1/conversations`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
          expect(refused.status).toBe(503);
          expect(((await refused.json()) as any).error.code).toBe('CK_SHUTTING_DOWN');
          // Load balancers and HTTP clients retry a 503 after Retry-After (on another instance).
          expect(refused.headers.get('retry-after')).toBe('1');
        }
        // The readiness probe says so too, in the same shape; it had no Retry-After.
        const ready = await fetch(`${url}/readyz`);
        expect([ready.status, ready.headers.get('retry-after'), ((await ready.json()) as any).error.code]).toEqual([503, '1', 'CK_SHUTTING_DOWN']);
      } finally {
        release();
      }
      expect((await running).status).toBe(201);
      expect(await closing).toEqual({ finishedInFlight: true });
      const refusals = lines.filter((line) => line['code'] === 'CK_SHUTTING_DOWN');
      expect(refusals).toHaveLength(4);
      for (const line of refusals) {
        expect(line).toMatchObject({ level: 30, msg: 'The server is shutting down; retry shortly' });
        expect(line).not.toHaveProperty('err');
      }
      expect(lines.filter((line) => Number(line['level']) >= 40)).toEqual([]);
    });

    // A turn request whose headers arrived before close() (so the onRequest
    // hook let it in) but whose body arrives after the drain found nothing in
    // flight: its agent must not run past the grace (it once held close() up
    // to agentTimeoutMs); it is refused, and nothing is written.
    for (const route of ['turns/run', 'turns/stream'] as const) {
      it(`${route}: a request let in before close() whose body comes after the drain does not hold close() for the agent timeout`, async () => {
        const aborted: string[] = [];
        const server = await neverFinishingServer(
          (_turn, signal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => (aborted.push('x'), reject(signal.reason as Error)))),
        );
        // Added after buildServer's own hooks, so it runs once authentication has let the request in.
        let authenticated!: () => void;
        const letIn = new Promise<void>((resolve) => (authenticated = resolve));
        server.app.addHook('onRequest', async () => authenticated());
        const listening = await listenWithConversation(server, 'late');
        const { user, token, id } = listening;
        const url = new URL(listening.url);
        const body = JSON.stringify({ message: 'late body' });
        let status = 0;
        let text = '';
        const req = httpRequest({
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: `/v1/conversations/${id}/${route}`,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        });
        const answered = new Promise<void>((resolve) => {
          req.on('response', (res) => {
            status = res.statusCode ?? 0;
            res.on('data', (chunk: Buffer) => (text += chunk.toString()));
            res.on('end', resolve);
            res.on('error', () => resolve());
          });
          req.on('error', () => resolve());
        });
        req.flushHeaders();
        await letIn;
        const started = performance.now();
        const closing = server.close();
        await sleep(100);
        req.end(body);
        const result = await closing;
        const took = performance.now() - started;
        await answered;
        // Whatever the answer (a refusal, or an aborted turn), close() must end near the grace, far before the 8 s agent timeout.
        expect({ took: took < 3_000, status, result }).toEqual({ took: true, status: 503, result: { finishedInFlight: true } });
        expect(JSON.parse(text).error.code).toBe('CK_SHUTTING_DOWN');
        expect((await store.get().messages.list(user, id)).messages).toEqual([]);
      }, 20_000);
    }
  });
}
