import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import {
  TaskStore,
  createMcpHttpHandler,
  startMcpHttpServer,
  staticTokens,
  type McpHttpServer,
} from '../../src/mcp/index.js';
import { HOST_SCHEMA, createTodoLocation, type TodoLocation } from './fixtures/todo-location.js';

const TOKEN = 'alice-token-0123456789abcdef';

const addTask = (id: number, title: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'add_task', arguments: { title } },
});

/**
 * A JSON-RPC batch whose requests share an id: the SDK runs every one of
 * them but answers only one per id, so a call could write a task and the
 * client never hear of it. Such a batch is refused whole, before any call
 * runs. Transport-level, so one backend is enough.
 */
describe('MCP HTTP: a batch that reuses a request id', () => {
  let location: TodoLocation;
  let database: Database;
  let server: McpHttpServer;
  beforeAll(async () => {
    location = await createTodoLocation('pglite');
    database = await openDatabase({ dataDir: location.dataDir ?? '' });
    server = await startMcpHttpServer({
      handler: createMcpHttpHandler({
        tasks: new TaskStore(database.db, { hostSchema: HOST_SCHEMA, role: location.role }),
        authenticate: staticTokens([{ userId: 'alice', token: TOKEN }]),
      }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
    await location?.drop();
  });

  const post = (body: unknown) =>
    fetch(server.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${TOKEN}`,
      },
      body: JSON.stringify(body),
    });

  it('is 400 -32600 naming the id, and no call in it runs', async () => {
    const response = await post([addTask(7, 'first of two'), addTask(7, 'second of two')]);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: number; message: string } };
    expect(body.error).toEqual({
      code: -32600,
      message: 'Invalid Request: the request id 7 is used twice in one batch',
    });
    const tasks = await new TaskStore(database.db, { hostSchema: HOST_SCHEMA, role: location.role }).list('alice', { limit: 200 });
    expect(tasks.map((t) => t.title)).not.toContain('first of two');
    expect(tasks.map((t) => t.title)).not.toContain('second of two');
  });

  it('a batch with distinct ids is answered, every call once', async () => {
    const response = await post([addTask(1, 'one'), addTask(2, 'two')]);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { id: number }[]).map((m) => m.id).sort()).toEqual([1, 2]);
  });
});
