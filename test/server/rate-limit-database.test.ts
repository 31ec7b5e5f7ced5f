import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent, openStore, type Store } from '../../src/index.js';
import { buildServer, type ChatkeepServer, type ServerOptions } from '../../src/server/index.js';
import { BACKENDS, scratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { JWT_SECRET, TEST_JWT_AUTH, jwtFor } from '../support/server-fixture.js';
import { caught, newUser } from '../support/store-fixture.js';

/**
 * `rateLimit: { scope: 'database' }` (`chatkeep serve --rate-limit-scope
 * database`): servers that share a database share one count per user, and
 * one count of failed authentications per address — what several machines
 * behind a load balancer need. Each server here has its own store (its own
 * pool on PostgreSQL), as another machine would.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: rate limits counted in the database`, () => {
    let scratch: ScratchDatabase;
    const stores: Store[] = [];
    const servers: ChatkeepServer[] = [];

    /** Two listening servers on the database, with these limits; their URLs. */
    async function twoServers(limits: Partial<ServerOptions>): Promise<[string, string]> {
      const urls: string[] = [];
      for (let i = 0; i < 2; i++) {
        // PGlite lives in one process: the two servers share its one store, but still not a counter.
        const store = backend.name === 'postgres' ? await openStore({ url: scratch.url! }) : await openStore({ database: scratch.database });
        stores.push(store);
        const server = await buildServer(store, {
          auth: TEST_JWT_AUTH,
          agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent({ delayMs: 5 }) },
          logger: false,
          ...limits,
        });
        servers.push(server);
        urls.push(await server.app.listen({ host: '127.0.0.1', port: 0 }));
      }
      return [urls[0]!, urls[1]!];
    }

    async function get(url: string, token: string): Promise<{ status: number; retryAfter: string | null; code?: string }> {
      const response = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await response.json()) as { error?: { code: string } };
      return { status: response.status, retryAfter: response.headers.get('retry-after'), ...(body.error ? { code: body.error.code } : {}) };
    }

    beforeAll(async () => {
      scratch = await scratchDatabase(backend.name);
    });
    afterAll(async () => {
      for (const server of servers) await server.close();
      for (const store of stores) await store.close();
      await scratch?.drop();
    });

    it("a user's requests spread over two servers share one limit: the 6th of 5 is 429 on either", async () => {
      const [a, b] = await twoServers({ rateLimit: { max: 5, windowMs: 60_000, scope: 'database' } });
      const token = await jwtFor(newUser('spread'));
      const statuses = [];
      for (const url of [a, b, a, b, a]) statuses.push((await get(url, token)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      for (const url of [b, a]) {
        const refused = await get(url, token);
        expect(refused).toMatchObject({ status: 429, code: 'CK_RATE_LIMITED' });
        expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
      }
      // Another user has a count of its own.
      expect((await get(b, await jwtFor(newUser('other')))).status).toBe(200);
    });

    it('(the same requests against servers that count for themselves get twice the limit)', async () => {
      const [a, b] = await twoServers({ rateLimit: { max: 5, windowMs: 60_000, scope: 'process' } });
      const token = await jwtFor(newUser('alone'));
      const statuses = [];
      for (const url of [a, b, a, b, a, b]) statuses.push((await get(url, token)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    });

    it('failed authentications from one address are counted across servers: at most the limit + 1 with two', async () => {
      const [a, b] = await twoServers({
        rateLimit: { max: 1000, windowMs: 60_000, scope: 'database' },
        authFailureLimit: { max: 3, windowMs: 60_000, scope: 'database' },
      });
      const bad = 'not-a-valid-token';
      const statuses = [];
      for (const url of [a, b, a]) statuses.push((await get(url, bad)).status);
      expect(statuses).toEqual([401, 401, 401]);
      // a saw the failure that met the limit; b has not yet, so it looks at one more token.
      expect((await get(a, bad)).status).toBe(429);
      expect((await get(b, bad)).status).toBe(401);
      expect((await get(b, bad)).status).toBe(429);
      // Refused before the token is looked at: a valid one from the address too.
      expect((await get(a, await jwtFor(newUser('same-address')))).status).toBe(429);
    });

    it('refuses at build time a window the database cannot count, naming the field', async () => {
      const store = await openStore({ database: scratch.database });
      stores.push(store);
      for (const windowMs of [0, 1.5, 86_400_001]) {
        const refused = await caught(() =>
          buildServer(store, {
            auth: { jwtSecret: JWT_SECRET },
            agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent({ delayMs: 5 }) },
            logger: false,
            rateLimit: { max: 5, windowMs, scope: 'database' },
          }),
        );
        expect(refused, String(windowMs)).toMatchObject({ code: 'CK_CONFIG', details: { field: 'rateLimit.windowMs' } });
      }
    });

    it('a server that counts in the database deletes ended windows as it sweeps', async () => {
      // The sweeper runs every abandonAfterMs / 4, at least every second.
      await twoServers({ rateLimit: { max: 5, windowMs: 60_000, scope: 'database' }, abandonAfterMs: 4000 });
      const hash = createHash('sha256').update(`user:${newUser('short')}`).digest('hex');
      const windows = () => sql<{ n: number }>`select count(*)::int as n from chatkeep.rate_limit_windows where key_hash = ${hash}`.execute(scratch.database.db);
      await sql`insert into chatkeep.rate_limit_windows (key_hash, hits, started_at, ends_at) values (${hash}, 1, now() - interval '2 minutes', now() - interval '1 minute')`.execute(scratch.database.db);
      expect((await windows()).rows[0]!.n).toBe(1);
      await expect.poll(async () => (await windows()).rows[0]!.n, { timeout: 5000, interval: 100 }).toBe(0);
    });
  });
}
