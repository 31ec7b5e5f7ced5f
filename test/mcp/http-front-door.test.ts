import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import {
  TaskStore,
  bearerToken,
  createMcpHttpHandler,
  isLoopbackAddress,
  parseTokenList,
  startMcpHttpServer,
  staticTokens,
  type McpHttpServer,
} from '../../src/mcp/index.js';
import { caught } from '../support/store-fixture.js';

const TOKEN = 'alice-token-0123456789abcdef';

/** A raw node:http POST, because fetch will not send a Host header of our choosing. */
function rawPost(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

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
    // Idle connections outlast a load balancer's (often 60 s), not Node's 5 s default: no 502s from a closing socket.
    expect(response.headers.get('keep-alive')).toBe('timeout=72');
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

  it('DNS rebinding: on loopback, a Host or browser Origin naming another site is 403, before authentication', async () => {
    const port = new URL(server.url).port;
    const headers = {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      Authorization: `Bearer ${TOKEN}`,
    };
    const fromHost = (host: string, origin: string | undefined) =>
      rawPost(server.url, { ...headers, Host: host, ...(origin !== undefined ? { Origin: origin } : {}) }, listTools);
    const before = authenticateCalls;
    for (const [host, origin] of [
      [`evil.example:${port}`, undefined],
      [`evil.example@127.0.0.1:${port}`, undefined],
      [`127.0.0.1:${port}`, 'http://evil.example'],
      [`127.0.0.1:${port}`, 'null'],
      [`localhost:${port}`, `http://localhost.evil.example:${port}`],
    ] as const) {
      const response = await fromHost(host, origin);
      expect(response.status, `${host} ${origin}`).toBe(403);
      expect(JSON.parse(response.body)).toMatchObject({ error: { code: -32000 }, id: null });
    }
    expect(authenticateCalls).toBe(before);
    // What a local client sends: the loopback name it dialled, and a local page's origin.
    for (const [host, origin] of [
      [`127.0.0.1:${port}`, undefined],
      [`LocalHost:${port}`, 'http://localhost:6274'],
      [`[::1]:${port}`, undefined],
    ] as const) {
      const response = await fromHost(host, origin);
      expect(response.status, `${host} ${origin}`).toBe(200);
    }
  });

  it('allowedHosts names the hosts a server answers to; without loopback there is no default check', async () => {
    expect(isLoopbackAddress('127.0.0.1')).toBe(true);
    expect(isLoopbackAddress('127.1.2.3')).toBe(true);
    expect(isLoopbackAddress('::1')).toBe(true);
    expect(isLoopbackAddress('[::1]')).toBe(true);
    expect(isLoopbackAddress('localhost')).toBe(true);
    expect(isLoopbackAddress('0.0.0.0')).toBe(false);
    expect(isLoopbackAddress('::')).toBe(false);
    expect(isLoopbackAddress('192.168.1.10')).toBe(false);
    const named = await startMcpHttpServer({
      handler: createMcpHttpHandler({
        tasks: new TaskStore(database.db),
        authenticate: staticTokens([{ userId: 'alice', token: TOKEN }]),
      }),
      allowedHosts: ['mcp.example'],
    });
    try {
      const headers = {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${TOKEN}`,
      };
      expect(
        (await rawPost(named.url, { ...headers, Host: 'mcp.example' }, listTools)).status,
      ).toBe(200);
      expect((await rawPost(named.url, headers, listTools)).status).toBe(403);
    } finally {
      await named.close();
    }
  });

  it('close() lets a call in flight finish and does not wait for its keep-alive connection', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const users = staticTokens([{ userId: 'alice', token: TOKEN }]);
    const slow = await startMcpHttpServer({
      handler: createMcpHttpHandler({
        tasks: new TaskStore(database.db),
        authenticate: async (token) => {
          entered();
          await new Promise((resolve) => setTimeout(resolve, 300));
          return users(token);
        },
      }),
    });
    const inFlight = fetch(slow.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${TOKEN}`,
      },
      body: listTools,
    });
    await inHandler;
    const started = Date.now();
    const closed = slow.close().then(() => Date.now() - started);
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(response.headers.get('connection')).toBe('close');
    expect(((await response.json()) as { result: { tools: unknown[] } }).result.tools).toHaveLength(
      5,
    );
    // Node keeps an answered socket open for its 5 s keep-alive timeout unless told otherwise.
    expect(await closed).toBeLessThan(2_000);
    await expect(fetch(slow.url, { method: 'POST' })).rejects.toThrow();
  });

  const callListTasks = async (url: string): Promise<string | undefined> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${TOKEN}`,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'list_tasks', arguments: {} },
      }),
    });
    const body = (await response.json()) as {
      result: { isError?: boolean; content: { text: string }[] };
    };
    expect(body.result.isError).toBe(true);
    return body.result.content[0]?.text;
  };

  it('a missing tools role is CK_CONFIG naming the role, not bad input of the caller', async () => {
    // This database has no chatkeep_tools role: `set local role` fails with 22023.
    expect(await callListTasks(server.url)).toMatch(
      /^CK_CONFIG: The task tools' role "chatkeep_tools" is missing/,
    );
  });

  it('a call after the database was closed is CK_STORE_CLOSED, not an internal error', async () => {
    const closing = await openDatabase({ dataDir: 'memory://' });
    const late = await startMcpHttpServer({
      handler: createMcpHttpHandler({
        tasks: new TaskStore(closing.db),
        authenticate: staticTokens([{ userId: 'alice', token: TOKEN }]),
      }),
    });
    try {
      await callListTasks(late.url);
      await closing.close();
      expect(await callListTasks(late.url)).toBe('CK_STORE_CLOSED: The store is closed');
    } finally {
      await late.close();
    }
  });

  it('JSON-RPC batches: a small one is answered, an empty or oversized one is 400', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const listCall = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/list' });
    const small = await post(JSON.stringify([listCall(1), listCall(2)]), auth);
    expect(small.status).toBe(200);
    expect(((await small.json()) as { id: number }[]).map((m) => m.id).sort()).toEqual([1, 2]);
    for (const [batch, message] of [
      [[], /empty batch/],
      [
        Array.from({ length: 21 }, (_, i) => listCall(i)),
        /at most 20 messages in a batch \(21 sent\)/,
      ],
    ] as const) {
      const response = await post(JSON.stringify(batch), auth);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: number; message: string } };
      expect(body.error.code).toBe(-32600);
      expect(body.error.message).toMatch(message);
    }
  });

  it('a request whose params do not fit its method is -32602 Invalid params naming the field, in one line, with its id', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    for (const [method, params, field, says] of [
      ['tools/call', { name: 'add_task', arguments: null }, 'params.arguments', 'expected a JSON object, received null'],
      ['tools/call', { arguments: {} }, 'params.name', 'required'],
      ['tools/call', undefined, 'params', 'required'],
      ['initialize', { protocolVersion: 7 }, 'params.protocolVersion', 'expected a string, received a number'],
    ] as const) {
      const response = await post(JSON.stringify({ jsonrpc: '2.0', id: 9, method, ...(params !== undefined ? { params } : {}) }), auth);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { id: number; error: { code: number; message: string } };
      expect({ method, field, body }).toMatchObject({
        method,
        field,
        body: { id: 9, error: { code: -32602, message: `Invalid params: ${field}: ${says}` } },
      });
      // The SDK alone answered -32603 Internal error with the whole zod report as the message.
      expect(body.error.message).not.toContain('\n');
    }
    // A batch: the bad message is answered alone, the good one runs.
    const batch = await post(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_tasks', arguments: null } },
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      ]),
      auth,
    );
    const answers = (await batch.json()) as { id: number; error?: { code: number }; result?: { tools: unknown[] } }[];
    expect(answers.find((a) => a.id === 1)?.error?.code).toBe(-32602);
    expect(answers.find((a) => a.id === 2)?.result?.tools.length).toBeGreaterThan(0);
  });

  it('an authenticate that returns an empty user id is a 401, not a server for nobody', async () => {
    const nobody = await startMcpHttpServer({
      handler: createMcpHttpHandler({ tasks: new TaskStore(database.db), authenticate: () => ' ' }),
    });
    try {
      const response = await fetch(nobody.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          Authorization: `Bearer ${TOKEN}`,
        },
        body: listTools,
      });
      expect(response.status).toBe(401);
    } finally {
      await nobody.close();
    }
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

/**
 * Tool calls are limited per user (`toolCallLimit`, `chatkeep mcp
 * --rate-limit`): a model stuck in a loop must not turn into unbounded
 * transactions on the host's tables. Only `tools/call` messages count.
 */
describe('MCP streamable HTTP: tool calls per user', () => {
  const ALICE = 'alice-token-0123456789abcdef';
  const BOB = 'bob-token-0123456789abcdefgh';
  let database: Database;
  let server: McpHttpServer;
  let shortWindow: McpHttpServer;

  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
    const tokens = staticTokens([
      { userId: 'alice', token: ALICE },
      { userId: 'bob', token: BOB },
    ]);
    server = await startMcpHttpServer({
      handler: createMcpHttpHandler({ tasks: new TaskStore(database.db), authenticate: tokens, toolCallLimit: { max: 3, windowMs: 600_000 } }),
    });
    shortWindow = await startMcpHttpServer({
      handler: createMcpHttpHandler({ tasks: new TaskStore(database.db), authenticate: tokens, toolCallLimit: { max: 1, windowMs: 2000 } }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await shortWindow?.close();
    await database?.close();
  });

  const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'list_tasks', arguments: {} } });
  const send = (url: string, token: string, body: unknown) =>
    fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

  it('past the limit a request is 429 with Retry-After and a JSON-RPC error; other users and other methods are not affected', async () => {
    expect((await send(server.url, ALICE, call(1))).status).toBe(200);
    expect((await send(server.url, ALICE, call(2))).status).toBe(200);
    // A batch that would pass the limit runs none of its calls and uses none of the window.
    const batch = await send(server.url, ALICE, [call(3), call(4)]);
    expect(batch.status).toBe(429);
    expect(Number(batch.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await batch.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringMatching(/at most 3 tool calls per user/) } });
    expect((await send(server.url, ALICE, call(5))).status).toBe(200);
    expect((await send(server.url, ALICE, call(6))).status).toBe(429);
    // tools/list is no tool call; bob has a window of his own.
    expect((await send(server.url, ALICE, { jsonrpc: '2.0', id: 7, method: 'tools/list' })).status).toBe(200);
    expect((await send(server.url, BOB, call(8))).status).toBe(200);
  });

  it('once the window has passed, calls are allowed again', async () => {
    expect((await send(shortWindow.url, ALICE, call(1))).status).toBe(200);
    const refused = await send(shortWindow.url, ALICE, call(2));
    expect(refused.status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, Number(refused.headers.get('retry-after')) * 1000 + 100));
    expect((await send(shortWindow.url, ALICE, call(3))).status).toBe(200);
  });

  it('a limit that is not a whole number is CK_CONFIG naming it', async () => {
    for (const toolCallLimit of [{ max: -1, windowMs: 1000 }, { max: 1.5, windowMs: 1000 }, { max: 1, windowMs: 0 }]) {
      const error = await caught(async () => createMcpHttpHandler({ tasks: new TaskStore(database.db), authenticate: staticTokens([{ userId: 'a', token: ALICE }]), toolCallLimit }));
      expect(error.code).toBe('CK_CONFIG');
      expect(error.details?.['field']).toBe('toolCallLimit');
    }
  });
});

/**
 * docs/mcp.md, "DNS-rebinding protection": bound to a loopback address, the
 * server answers only requests whose Host names this machine. Node binds
 * loopback under other spellings than `127.0.0.1` and `::1` too —
 * `0:0:0:0:0:0:0:1`, `[0::1]`, `::ffff:127.0.0.1` (IPv4-mapped) and `127.1`
 * (what getaddrinfo reads as 127.0.0.1) — and each is still reachable from
 * this machine only, so the check must be on for each of them: a web page
 * whose name an attacker points at 127.0.0.1 must get 403, not a server.
 */

describe('MCP HTTP: loopback in every spelling gets the Host/Origin check', () => {
  const listTools = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${TOKEN}` };
  let database: Database;
  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
  });
  afterAll(async () => {
    await database?.close();
  });

  it('isLoopbackAddress knows the other spellings of ::1 and IPv4-mapped 127.0.0.0/8', () => {
    for (const address of ['0:0:0:0:0:0:0:1', '[0:0:0:0:0:0:0:1]', '0::1', '::ffff:127.0.0.1', '[::ffff:127.0.0.1]', '::FFFF:127.9.9.9']) {
      expect(isLoopbackAddress(address), address).toBe(true);
    }
    for (const address of ['::', '::ffff:10.0.0.1', '::2', '0.0.0.0', '128.0.0.1']) {
      expect(isLoopbackAddress(address), address).toBe(false);
    }
  });

  for (const host of ['0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '127.1']) {
    it(`bound to ${host}: a foreign Host or Origin is 403; the loopback names and the address it was given still answer`, async () => {
      const server = await startMcpHttpServer({
        host,
        handler: createMcpHttpHandler({
          tasks: new TaskStore(database.db),
          authenticate: staticTokens([{ userId: 'alice', token: TOKEN }]),
        }),
      });
      try {
        const port = new URL(server.url).port;
        const evil = await rawPost(server.url, { ...headers, Host: `evil.example:${port}` }, listTools);
        expect(evil.status).toBe(403);
        const fromPage = await rawPost(server.url, { ...headers, Origin: 'http://evil.example' }, listTools);
        expect(fromPage.status).toBe(403);
        // The URL it prints works as printed (node sends its authority as Host).
        expect((await rawPost(server.url, headers, listTools)).status).toBe(200);
        expect((await rawPost(server.url, { ...headers, Host: `localhost:${port}` }, listTools)).status).toBe(200);
      } finally {
        await server.close();
      }
    });
  }
});
