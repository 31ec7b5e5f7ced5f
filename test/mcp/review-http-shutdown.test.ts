import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import {
  TaskStore,
  createMcpHttpHandler,
  startMcpHttpServer,
  staticTokens,
} from '../../src/mcp/index.js';

const TOKEN = 'alice-token-0123456789abcdef';

/** Resolves when the server ends the socket (or it errors): the connection is gone. */
const ended = (socket: Socket): Promise<void> =>
  new Promise((resolve) => {
    socket.once('close', () => resolve());
  });

/**
 * Stopping the HTTP server (SIGTERM) finishes the requests in flight, but a
 * client that stalls half-way must not keep the process alive: Node would
 * wait for its request timeout (300 s), longer than any orchestrator waits
 * before SIGKILL, which then cuts off every other call too.
 */
describe('MCP HTTP server shutdown with a stalled client', () => {
  let database: Database;

  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
  });
  afterAll(async () => {
    await database?.close();
  });

  it('close() ends a connection whose request body never finishes, once its drain time is up', { timeout: 15_000 }, async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const users = staticTokens([{ userId: 'alice', token: TOKEN }]);
    const server = await startMcpHttpServer({
      handler: createMcpHttpHandler({
        tasks: new TaskStore(database.db),
        authenticate: (token) => {
          entered();
          return users(token);
        },
      }),
      drainMs: 200,
    });
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    const gone = ended(socket);
    // Headers and a tenth of the declared body; the rest never comes.
    socket.write(
      [
        'POST /mcp HTTP/1.1',
        'Host: 127.0.0.1',
        'Content-Type: application/json',
        'Accept: application/json, text/event-stream',
        `Authorization: Bearer ${TOKEN}`,
        'Content-Length: 1000',
        '',
        '{"jsonrpc":',
      ].join('\r\n'),
    );
    await inHandler;
    await server.close();
    await gone;
    expect(socket.destroyed).toBe(true);
  });

  // A timer given Infinity or NaN fires after 1 ms: close() would have cut every call at once.
  it('a drainMs a timer cannot hold is CK_CONFIG naming drainMs, before anything listens', async () => {
    const handler = createMcpHttpHandler({ tasks: new TaskStore(database.db), authenticate: staticTokens([{ userId: 'alice', token: TOKEN }]) });
    for (const drainMs of [Infinity, Number.NaN, -1, 1.5, 2 ** 31]) {
      await expect(startMcpHttpServer({ handler, drainMs })).rejects.toMatchObject({ code: 'CK_CONFIG', details: { field: 'drainMs' } });
    }
  });
});
