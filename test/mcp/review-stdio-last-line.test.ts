import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { CLI_PATH, assertBuilt, target } from '../cli/cli-process.js';
import { INITIALIZE, INITIALIZED } from './fixtures/handshake.js';
import { serveStdioInput } from './fixtures/stdio-input.js';
import { HOST_SCHEMA, createTodoLocation, type TodoLocation } from './fixtures/todo-location.js';

const line = (message: unknown): string => `${JSON.stringify(message)}\n`;

/**
 * A client that closes stdin right after its last message without a final
 * newline (`printf '%s' "$json" | chatkeep mcp`, or a client that writes
 * each message and then its newline, and dies between the two) must not
 * lose that message without a word: a complete message is answered, an
 * incomplete one is reported like any other line that is not MCP.
 * Transport-level, so one backend is enough.
 */
describe('stdio: the last line before stdin closes has no newline', () => {
  let location: TodoLocation;
  beforeAll(async () => {
    location = await createTodoLocation('pglite');
  });
  afterAll(() => location?.drop());

  it('a complete message is answered', async () => {
    const { answers } = await serveStdioInput(
      location,
      line(INITIALIZE) +
        line(INITIALIZED) +
        JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'add_task', arguments: { title: 'no newline after me' } },
        }),
    );
    expect(answers.map((a) => a.id).sort()).toEqual([0, 1]);
    expect(answers.find((a) => a.id === 1)?.result?.isError).not.toBe(true);
  });

  it('a message cut short is reported, not dropped in silence', async () => {
    const { answers, reported } = await serveStdioInput(
      location,
      line(INITIALIZE) + line(INITIALIZED) + '{"jsonrpc":"2.0","id":1,"method":"tools/ca',
    );
    expect(answers.map((a) => a.id)).toEqual([0]);
    expect(reported).toEqual(['SyntaxError']);
  });

  it('the CLI still ends on SIGTERM while its stdin stays open', { timeout: 40_000 }, async () => {
    assertBuilt();
    const child = spawn(
      process.execPath,
      [CLI_PATH, ...target(location), 'mcp', '--user', 'alice', '--host-schema', HOST_SCHEMA, '--role', location.role],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    // A process that never ends must not outlive the test.
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    let signalled = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!signalled && stderr.includes('serving task tools')) signalled = child.kill('SIGTERM');
    });
    child.stdin.write(line(INITIALIZE));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/stopped/);
  });
});
