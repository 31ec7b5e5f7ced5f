import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import {
  TaskStore,
  createMcpHttpHandler,
  isLoopbackAddress,
  startMcpHttpServer,
  staticTokens,
} from '../../src/mcp/index.js';

/**
 * docs/mcp.md, "DNS-rebinding protection": bound to a loopback address, the
 * server answers only requests whose Host names this machine. Node binds
 * loopback under other spellings than `127.0.0.1` and `::1` too —
 * `0:0:0:0:0:0:0:1`, `[0::1]`, `::ffff:127.0.0.1` (IPv4-mapped) and `127.1`
 * (what getaddrinfo reads as 127.0.0.1) — and each is still reachable from
 * this machine only, so the check must be on for each of them: a web page
 * whose name an attacker points at 127.0.0.1 must get 403, not a server.
 */

const TOKEN = 'alice-token-0123456789abcdef';

function rawPost(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const listTools = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
const headers = {
  'Content-Type': 'application/json',
  Accept: 'application/json, text/event-stream',
  Authorization: `Bearer ${TOKEN}`,
};

describe('MCP HTTP: loopback in every spelling gets the Host/Origin check', () => {
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
