import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent, openStore, type Store } from '../../src/index.js';
import { buildServer, type ChatkeepServer } from '../../src/server/index.js';
import { PG_ADMIN_URL, PG_AVAILABLE, scratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { jwtFor, TEST_JWT_AUTH } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * A database that cannot serve a request now (here: one that refuses
 * writes, as a standby does after a failover) is `503 CK_DB_UNAVAILABLE`
 * over HTTP with `Retry-After`, which clients and load balancers honour,
 * and the request wrote nothing.
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING database-unavailable HTTP cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);

describe.skipIf(!PG_AVAILABLE)('postgres: HTTP while the database refuses writes', () => {
  let scratch: ScratchDatabase;
  let store: Store;
  let server: ChatkeepServer;
  let url: string;
  const user = newUser('http-read-only');

  beforeAll(async () => {
    scratch = await scratchDatabase('postgres');
    await (await openStore({ url: scratch.url! })).close();
    const name = new URL(scratch.url!).pathname.slice(1);
    await sql.raw(`alter database ${name} set default_transaction_read_only = on`).execute(scratch.database.db);
    store = await openStore({ url: scratch.url!, migrate: false });
    server = await buildServer(store, { auth: TEST_JWT_AUTH, agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent({ delayMs: 0 }) }, logger: false });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await scratch?.drop();
  });

  it('a write is 503 CK_DB_UNAVAILABLE with Retry-After and sqlState 25006; reads still answer; nothing was written', async () => {
    const headers = { authorization: `Bearer ${await jwtFor(user)}`, 'content-type': 'application/json' };
    const refused = await fetch(`${url}/v1/conversations`, { method: 'POST', headers, body: JSON.stringify({ title: 'never stored' }) });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    const body = (await refused.json()) as { error: { code: string; details: Record<string, unknown>; message: string } };
    expect(body.error.code).toBe('CK_DB_UNAVAILABLE');
    expect(body.error.details).toEqual({ sqlState: '25006' });
    expect(body.error.message).toContain('refuses writes');
    const listed = await fetch(`${url}/v1/conversations`, { headers });
    expect(listed.status).toBe(200);
    expect(listed.headers.get('retry-after')).toBeNull();
    expect(((await listed.json()) as { conversations: unknown[] }).conversations).toEqual([]);
  });

  // Retry-After is for the 503s a retry cures: an error the client must fix first carries none.
  it('a 4xx error answer carries no Retry-After', async () => {
    const headers = { authorization: `Bearer ${await jwtFor(user)}` };
    const missing = await fetch(`${url}/v1/conversations/00000000-0000-7000-8000-000000000000`, { headers });
    const unauthenticated = await fetch(`${url}/v1/conversations`);
    const invalid = await fetch(`${url}/v1/conversations?limit=-1`, { headers });
    expect([missing.status, unauthenticated.status, invalid.status]).toEqual([404, 401, 400]);
    for (const answer of [missing, unauthenticated, invalid]) expect(answer.headers.get('retry-after'), String(answer.status)).toBeNull();
  });
});
