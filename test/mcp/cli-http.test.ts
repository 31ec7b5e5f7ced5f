import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, assertBuilt, target } from '../cli/cli-process.js';
import { HOST_SCHEMA, createTodoLocation, type TodoLocation } from './fixtures/todo-location.js';

const TOKEN = 'alice-token-0123456789abcdef';

/** A JSON-RPC tools/list to the server at `url`, sent with the given Host header (fetch cannot set Host). */
function toolsList(url: string, host: string): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          host,
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts the built `chatkeep mcp --transport http` and resolves with its URL once it listens. */
function startHttpMcp(location: TodoLocation, extra: readonly string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [CLI_PATH, ...target(location), 'mcp', '--transport', 'http', '--port', '0', '--host-schema', HOST_SCHEMA, '--role', location.role, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHATKEEP_MCP_TOKENS: `alice=${TOKEN}` } },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chatkeep mcp did not start:\n${output}`));
    }, 30_000);
    const watch = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    };
    child.stdout?.on('data', watch);
    child.stderr?.on('data', watch);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chatkeep mcp exited (${code}) before listening:\n${output}`));
    });
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

/**
 * `chatkeep mcp --allowed-host`: the names the Host header may carry replace
 * the loopback default (docs/mcp.md, "DNS-rebinding protection"), e.g. for a
 * server reached through a name of its own on a private network.
 */
describe('chatkeep mcp --transport http --allowed-host', () => {
  let location: TodoLocation;
  beforeAll(async () => {
    assertBuilt();
    location = await createTodoLocation('pglite');
  });
  afterAll(() => location?.drop());

  it('answers requests naming an allowed host and refuses the loopback names it no longer lists', async () => {
    const { child, url } = await startHttpMcp(location, ['--allowed-host', 'mcp.internal', '--allowed-host', 'Tools.Internal']);
    try {
      const allowed = await toolsList(url, 'mcp.internal:3001');
      expect(allowed.status).toBe(200);
      expect(allowed.body).toContain('add_task');
      expect((await toolsList(url, 'tools.internal')).status).toBe(200);
      const refused = await toolsList(url, 'localhost');
      expect(refused.status).toBe(403);
      expect(refused.body).toContain('Host header');
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('without it, on loopback, only the loopback names are answered', async () => {
    const { child, url } = await startHttpMcp(location, []);
    try {
      expect((await toolsList(url, `localhost:${new URL(url).port}`)).status).toBe(200);
      expect((await toolsList(url, 'mcp.internal')).status).toBe(403);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });
});
