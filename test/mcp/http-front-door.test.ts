import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import {
  TaskStore,
  bearerToken,
  createMcpHttpHandler,
  parseTokenList,
  startMcpHttpServer,
  staticTokens,
  type McpHttpServer,
} from '../../src/mcp/index.js';
import { caught } from '../support/store-fixture.js';

const TOKEN = 'alice-token-0123456789abcdef';

/**
 * The streamable HTTP front door refuses what it must before any tool runs:
 * no or unknown bearer token (401), GET/DELETE on a stateless server (405),
 * an oversized body (413), a body that is not JSON (400). Transport-level, so
 * one backend is enough; the tools themselves are covered per backend.
 */
describe('MCP streamable HTTP front door', () => {
  let database: Database;
  let server: McpHttpServer;
  let authenticateCalls = 0;

  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
    const users = staticTokens([{ userId: 'alice', token: TOKEN }]);
    server = await startMcpHttpServer({
      handler: createMcpHttpHandler({
        tasks: new TaskStore(database.db),
        authenticate: (token) => {
          authenticateCalls++;
          return users(token);
        },
        maxBodyBytes: 10_000,
      }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
  });

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(server.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        ...headers,
      },
      body,
    });
  const listTools = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });

  it('401 with WWW-Authenticate without a token, with an unknown token, or with another scheme', async () => {
    for (const headers of [
      {},
      { Authorization: 'Bearer wrong-token-0123456789' },
      { Authorization: `Basic ${TOKEN}` },
    ]) {
      const response = await post(listTools, headers);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await response.json()).toMatchObject({
        jsonrpc: '2.0',
        error: { code: -32001 },
        id: null,
      });
    }
  });

  it('answers an authenticated request (tools/list) as JSON', async () => {
    const response = await post(listTools, { Authorization: `Bearer ${TOKEN}` });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { result: { tools: { name: string }[] } };
    expect(body.result.tools.map((t) => t.name)).toContain('add_task');
  });

  it('405 for GET and DELETE, 404 for another path, 413 for a large body, 400 for a body that is not JSON', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(server.url, {
        method,
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
    }
    expect((await fetch(server.url.replace('/mcp', '/other'), { method: 'POST' })).status).toBe(
      404,
    );
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'add_task', arguments: { title: 'x'.repeat(20_000) } },
    });
    expect((await post(big, { Authorization: `Bearer ${TOKEN}` })).status).toBe(413);
    expect((await post('{not json', { Authorization: `Bearer ${TOKEN}` })).status).toBe(400);
  });

  it('authenticates before reading the body: an unauthenticated large body is a 401, not a 413', async () => {
    const before = authenticateCalls;
    const response = await post('x'.repeat(20_000));
    expect(response.status).toBe(401);
    expect(authenticateCalls).toBe(before); // no token: the authenticator is not even asked
  });

  it('static tokens: parsing, and refusing weak or duplicate tokens', async () => {
    expect(parseTokenList('alice=abc=def-0123456789, bob=xyz')).toEqual([
      { userId: 'alice', token: 'abc=def-0123456789' },
      { userId: 'bob', token: 'xyz' },
    ]);
    expect((await caught(async () => parseTokenList('alice'))).code).toBe('CK_CONFIG');
    expect((await caught(async () => staticTokens([]))).code).toBe('CK_CONFIG');
    expect(
      (await caught(async () => staticTokens([{ userId: 'a', token: 'short' }]))).details?.[
        'field'
      ],
    ).toBe('tokens[0].token');
    expect(
      (
        await caught(async () =>
          staticTokens([
            { userId: 'a', token: TOKEN },
            { userId: 'b', token: TOKEN },
          ]),
        )
      ).message,
    ).toMatch(/twice/);
    // With `source`, errors name where the list came from, as its author knows it.
    const named = await caught(async () =>
      staticTokens([{ userId: 'a', token: 'short' }], { source: 'MY_TOKENS' }),
    );
    expect(named.message).toMatch(/^MY_TOKENS: entry 1 \(user "a"\): the token must have/);
    expect(named.details).toEqual({ field: 'MY_TOKENS', entry: 1 });
    expect(bearerToken(`bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`Bearer a b`)).toBeUndefined();
  });
});
