import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { demoAgent, type StreamingAgent } from '../../src/index.js';
import { buildServer } from '../../src/server/index.js';
import { BACKENDS } from '../support/backends.js';
import { TEST_JWT_AUTH, jwtFor } from '../support/server-fixture.js';
import { openEventStream } from '../support/sse-client.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * SSE clients that hang up at every moment of a turn leave nothing
 * behind: no turn still streaming, no half turn in history, nothing in
 * flight holding the shutdown.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: SSE clients hanging up`, () => {
    const store = useStore(backend.name);

    it('20 streams cancelled at random moments: every turn ends aborted or committed, close() finds nothing in flight', async () => {
      const stream: StreamingAgent = async function* ({ signal }) {
        for (let i = 0; i < 20; i++) {
          await sleep(10, undefined, { signal });
          yield `w${i} `;
        }
      };
      const server = await buildServer(store.get(), {
        auth: TEST_JWT_AUTH,
        agent: { name: 'words', run: demoAgent, stream },
        agentTimeoutMs: 20_000,
        shutdownGraceMs: 5_000,
        logger: false,
      });
      const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
      const user = newUser('hangup');
      const token = await jwtFor(user);
      const { id } = await store.get().conversations.create(user);
      const streams = Array.from({ length: 20 }, (_, i) => {
        const s = openEventStream(`${url}/v1/conversations/${id}/turns/stream`, { token, body: { message: `m${i}`, keepPartialOnAbort: i % 2 === 0 } });
        setTimeout(() => s.cancel(), (i * 13) % 250);
        return s.done;
      });
      await Promise.all(streams);
      // close() drains what is still running (turns whose hang-up is not noticed yet finish or abort)
      // and must not need the grace for it. (Its time is not asserted: after a cancelled
      // fetch, undici may hold a fresh connection that never sends a request, which Node's
      // closeIdleConnections() leaves open until the client drops it, ~4 s.)
      const closed = await server.close();
      expect(closed).toEqual({ finishedInFlight: true });
      const rows = await sql<{ state: string; n: number }>`select state, count(*)::int as n from chatkeep.streamed_turns where user_id = ${user} group by state`.execute(
        store.scratch().database.db,
      );
      expect(rows.rows.filter((r) => r.state === 'streaming')).toEqual([]);
      // Not vacuous: the streams began turns, and hang-ups at 0–250 ms of a ~200 ms reply end some each way.
      expect(rows.rows.reduce((n, r) => n + r.n, 0)).toBeGreaterThan(0);
      const history = (await store.get().messages.list(user, id, { limit: 1000 })).messages;
      for (let i = 0; i < history.length; i++) expect(history[i]?.seq).toBe(i + 1);
      for (let i = 0; i < history.length; i += 2) expect([history[i]?.role, history[i + 1]?.role]).toEqual(['user', 'assistant']);
    }, 30_000);
  });
}
