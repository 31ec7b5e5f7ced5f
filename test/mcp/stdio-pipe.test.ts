import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, assertBuilt, target } from '../cli/cli-process.js';
import { INITIALIZE, INITIALIZED } from './fixtures/handshake.js';
import { HOST_SCHEMA, createTodoLocation, type TodoLocation } from './fixtures/todo-location.js';

/** Runs the built `chatkeep mcp --user alice` with `input` piped to stdin, as `printf … | chatkeep mcp` would. */
function pipeThrough(
  location: TodoLocation,
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    [
      CLI_PATH,
      ...target(location),
      'mcp',
      '--user',
      'alice',
      '--host-schema',
      HOST_SCHEMA,
      '--role',
      location.role,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`chatkeep mcp did not exit after stdin closed:\n${stderr}`));
    }, 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const line = (message: unknown): string => `${JSON.stringify(message)}\n`;

/**
 * The stdio front door as a shell pipe sees it: requests written and stdin
 * closed at once. Every request is answered on stdout before the process
 * exits 0; a line that is not JSON-RPC gets no answer (the SDK skips it) but
 * is reported on stderr, by kind only, never quoting what was sent.
 * Transport-level, so one backend is enough.
 */
describe('chatkeep mcp over stdio, fed by a pipe', () => {
  let location: TodoLocation;
  beforeAll(async () => {
    assertBuilt();
    location = await createTodoLocation('pglite');
  });
  afterAll(() => location?.drop());

  it('answers every request written before stdin closed and reports a malformed line on stderr', async () => {
    const secret = 'SECRET-not-json-payload';
    const run = await pipeThrough(
      location,
      `${secret}\n` +
        line(INITIALIZE) +
        line(INITIALIZED) +
        line({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'add_task', arguments: { title: 'piped' } },
        }) +
        line({
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: { name: 'list_tasks', arguments: {} },
        }),
    );
    expect(run.code, run.stderr).toBe(0);
    const answers = run.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { id: number; result?: { structuredContent?: unknown } });
    expect(answers.map((a) => a.id).sort()).toEqual([0, 1, 2]);
    expect(JSON.stringify(answers.find((a) => a.id === 2))).toContain('piped');
    expect(run.stderr).toMatch(/ignored input that is not a valid MCP message \(SyntaxError\)/);
    expect(run.stderr).not.toContain(secret);
  });

  it('answers a call whose arguments are not an object with -32602 naming them, and adds nothing', async () => {
    const run = await pipeThrough(
      location,
      line(INITIALIZE) +
        line(INITIALIZED) +
        line({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'add_task', arguments: null } }) +
        line({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'list_tasks', arguments: {} } }),
    );
    expect(run.code, run.stderr).toBe(0);
    const answers = run.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { id: number; error?: { code: number; message: string }; result?: { structuredContent?: { tasks?: unknown[] } } });
    expect(answers.map((a) => a.id).sort()).toEqual([0, 1, 2]);
    expect(answers.find((a) => a.id === 1)?.error).toEqual({ code: -32602, message: expect.stringMatching(/^Invalid params: params\.arguments: /) });
    expect(JSON.stringify(answers.find((a) => a.id === 2))).not.toContain('"title":null');
  });
});
