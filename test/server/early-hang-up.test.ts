import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Agent, StreamingAgent } from '../../src/index.js';
import { buildServer } from '../../src/server/index.js';
import { TEST_JWT_AUTH, jwtFor } from '../support/server-fixture.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * A client that hangs up before the turn's handler runs (on a busy server
 * the hooks — authentication, rate limit — can take that long) still stops
 * the turn: its 'close' event fired before the handler could listen for it.
 * A hook here holds the request until the client has gone; the agent must
 * not run on a live signal, and nothing may be stored.
 * The HTTP layer is the same on both backends: PGlite only.
 */
describe('pglite: a client gone before the handler runs', () => {
  const store = useStore('pglite');

  for (const route of ['run', 'stream'] as const) {
    it(`/turns/${route}: the agent never runs on a live signal and nothing is stored`, async () => {
      const seen: boolean[] = [];
      // Slow enough that, left running, it would finish (and be stored) within the wait below.
      const run: Agent = async ({ signal }) => {
        seen.push(signal.aborted);
        await sleep(500);
        return 'an answer nobody waits for';
      };
      const stream: StreamingAgent = async function* ({ signal }) {
        seen.push(signal.aborted);
        for (let i = 0; i < 5; i++) {
          await sleep(100);
          yield `w${i} `;
        }
      };
      const server = await buildServer(store.get(), {
        auth: TEST_JWT_AUTH,
        agent: { name: 'slow-to-reach', run, stream },
        logger: false,
      });
      let arrived!: () => void;
      const inHook = new Promise<void>((resolve) => (arrived = resolve));
      server.app.addHook('preHandler', async (_request, reply) => {
        arrived();
        // Held until the client is gone, as by a slow hook on a busy server.
        for (const deadline = Date.now() + 10_000; !reply.raw.destroyed && Date.now() < deadline;)
          await sleep(10);
      });
      const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const user = newUser('early-hang-up');
        const token = await jwtFor(user);
        const { id } = await store.get().conversations.create(user);
        const hangUp = new AbortController();
        const request = fetch(`${url}/v1/conversations/${id}/turns/${route}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: 'hello' }),
          signal: hangUp.signal,
        });
        await inHook;
        hangUp.abort();
        await expect(request).rejects.toThrow();
        // Past the time the agent would have needed to finish and its turn to be written.
        await sleep(1500);
        // The agent never ran on a live signal: it was not called, or was called already told to stop.
        expect(seen.filter((aborted) => !aborted)).toEqual([]);
        expect((await store.get().messages.list(user, id)).messages).toEqual([]);
      } finally {
        await server.close();
      }
    });
  }
});
