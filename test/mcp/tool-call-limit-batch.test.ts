import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { TaskStore, createMcpHttpHandler, startMcpHttpServer, staticTokens, type McpHttpServer } from '../../src/mcp/index.js';

/**
 * docs/mcp.md, "Tool calls per user": a request that would pass the limit is
 * 429 with Retry-After. Retry-After promises that the same request may pass
 * once that time is up. A batch holding more tool calls than the whole
 * limit (`--rate-limit 5`, a batch of 6: batches may hold 20) can never
 * pass, in any window: it must be refused as the bad request it is (400,
 * naming the limit), not with a 429 telling the client to wait and send it
 * again, forever.
 */

const ALICE = 'alice-token-0123456789abcdef';

describe('MCP HTTP: a batch with more tool calls than the limit', () => {
  let database: Database;
  let server: McpHttpServer;

  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
    server = await startMcpHttpServer({
      handler: createMcpHttpHandler({
        tasks: new TaskStore(database.db),
        authenticate: staticTokens([{ userId: 'alice', token: ALICE }]),
        toolCallLimit: { max: 5, windowMs: 1000 },
      }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
  });

  const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'list_tasks', arguments: {} } });
  const send = (body: unknown) =>
    fetch(server.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${ALICE}` },
      body: JSON.stringify(body),
    });

  it('is a 400 Invalid Request naming the limit, with no Retry-After, and uses none of the window', async () => {
    const batch = Array.from({ length: 6 }, (_, i) => call(i + 1));
    const first = await send(batch);
    expect(first.status).toBe(400);
    expect(first.headers.get('retry-after')).toBeNull();
    expect(await first.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringMatching(/at most 5 tool calls/) } });
    // Refused, not counted: the whole limit is still there for calls that fit.
    const fits = await send(Array.from({ length: 5 }, (_, i) => call(i + 10)));
    expect(fits.status).toBe(200);
  });

  it('waiting as long as a 429 would say does not help it: it is never answered 429', async () => {
    const batch = Array.from({ length: 6 }, (_, i) => call(i + 20));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await send(batch);
      expect(response.status).not.toBe(429);
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
  });
});
