import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Agent, StreamingAgent } from '../../src/index.js';
import { buildServer } from '../../src/server/index.js';
import { BACKENDS } from '../support/backends.js';
import { TEST_JWT_AUTH, jwtFor } from '../support/server-fixture.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * A turn request whose headers arrived before close() (so the
 * onRequest hook let it in) but whose body arrives after the drain found
 * nothing in flight. Its agent must not run past the shutdown grace: close()
 * is bounded by shutdownGraceMs, not by agentTimeoutMs.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: shutdown with a turn whose body comes late`, () => {
    const store = useStore(backend.name);

    for (const route of ['turns/run', 'turns/stream'] as const) {
      it(`${route}: a request let in before close() whose body comes after the drain does not hold close() for the agent timeout`, async () => {
        const aborted: string[] = [];
        const untilAborted = (signal: AbortSignal) =>
          new Promise<never>((_, reject) => signal.addEventListener('abort', () => (aborted.push('x'), reject(signal.reason as Error))));
        const run: Agent = async ({ signal }) => untilAborted(signal);
        const stream: StreamingAgent = async function* ({ signal }) {
          yield 'partial ';
          await untilAborted(signal);
        };
        const server = await buildServer(store.get(), {
          auth: TEST_JWT_AUTH,
          agent: { name: 'never-finishes', run, stream },
          agentTimeoutMs: 8_000,
          shutdownGraceMs: 200,
          logger: false,
        });
        const url = new URL(await server.app.listen({ host: '127.0.0.1', port: 0 }));
        const user = newUser('late');
        const token = await jwtFor(user);
        const { id } = await store.get().conversations.create(user);
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
        // Let the onRequest hook (auth) run on the headers.
        await sleep(300);
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
