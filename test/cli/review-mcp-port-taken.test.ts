import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTodoLocation, HOST_SCHEMA, type TodoLocation } from '../mcp/fixtures/todo-location.js';
import { assertBuilt, chatkeep, target } from './cli-process.js';

const TOKENS = { CHATKEEP_MCP_TOKENS: 'alice=a-good-token-0123456789' };

/**
 * `chatkeep mcp --transport http` on a port that is taken: `serve` says so
 * naming the option (exit 1, before the database is opened); `mcp` printed
 * `error [CK_INTERNAL]: listen EADDRINUSE …`, the label of a chatkeep bug,
 * after opening (on a new folder: creating) the database.
 */
describe('chatkeep mcp --transport http: a port that is taken', () => {
  let holder: Server;
  let port = 0;
  let location: TodoLocation;
  let dir = '';
  beforeAll(async () => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'chatkeep-review-mcp-'));
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, resolve));
    port = (holder.address() as { port: number }).port;
    location = await createTodoLocation('pglite');
  }, 120_000);
  afterAll(async () => {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    await location.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a command failure naming --port (exit 1), not an internal error', { timeout: 60_000 }, async () => {
    const run = await chatkeep(
      [...target(location), 'mcp', '--transport', 'http', '--port', String(port), '--host-schema', HOST_SCHEMA, '--role', location.role],
      TOKENS,
    );
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).not.toContain('CK_INTERNAL');
    expect(run.stderr).toContain(`error: cannot listen on 127.0.0.1:${port}: the port is already in use; stop what holds it or choose another with --port (EADDRINUSE)`);
    expect(run.stdout).toBe('');
  });

  it('is found before a new data folder is created', { timeout: 60_000 }, async () => {
    const dataDir = join(dir, 'never-created');
    const run = await chatkeep(['--data-dir', dataDir, 'mcp', '--transport', 'http', '--port', String(port)], TOKENS);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain('the port is already in use');
    expect(existsSync(dataDir)).toBe(false);
  });
});
