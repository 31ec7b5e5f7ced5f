import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskStore, serveStdio } from '../../src/mcp/index.js';
import { INITIALIZE, INITIALIZED } from './fixtures/handshake.js';
import { serveStdioInput } from './fixtures/stdio-input.js';
import { createTodoLocation, type TodoLocation } from './fixtures/todo-location.js';

const line = (message: unknown): string => `${JSON.stringify(message)}\n`;
const addTask = (id: number, title: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'add_task', arguments: { title } } });

/**
 * The SDK's stdio transport buffers a line until its newline, with no limit:
 * a client writing without newlines grew the server without bound. A line
 * longer than `maxLineBytes` is now dropped and answered with JSON-RPC's
 * Invalid Request (id null), and the lines after it are read as before.
 */
describe('stdio: a line longer than maxLineBytes', () => {
  let location: TodoLocation;
  beforeAll(async () => {
    location = await createTodoLocation('pglite');
  });
  afterAll(() => location?.drop());

  it.each([
    ['in one chunk', 1 << 20],
    ['split over many chunks', 997],
  ])('%s: is answered with -32600 and its length, and the next message is served', async (_how, chunkBytes) => {
    const big = line(addTask(1, 'x'.repeat(10_000)));
    const { answers, reported } = await serveStdioInput(location, line(INITIALIZE) + line(INITIALIZED) + big + line(addTask(2, 'after the long line')), { chunkBytes, maxLineBytes: 4096 });
    const refused = answers.find((a) => a.id === null);
    expect(refused?.error?.code).toBe(-32600);
    expect(refused?.error?.message).toBe(`A line of ${big.length - 1} bytes is longer than the 4096 bytes a message may have; it was dropped`);
    expect(reported).toContain('LineTooLong');
    expect(answers.some((a) => a.id === 1)).toBe(false);
    expect(answers.find((a) => a.id === 2)?.result?.isError).not.toBe(true);
  });

  it('a line exactly maxLineBytes long is served', async () => {
    const message = addTask(3, '');
    const exact = JSON.stringify({ ...message, params: { ...message.params, arguments: { title: 'y'.repeat(4096 - JSON.stringify(message).length) } } });
    expect(Buffer.byteLength(exact)).toBe(4096);
    const { answers } = await serveStdioInput(location, line(INITIALIZE) + line(INITIALIZED) + `${exact}\n`, { chunkBytes: 1000, maxLineBytes: 4096 });
    // Read and answered (the tool refuses a title that long: an answer all the same).
    expect(answers.some((a) => a.id === 3)).toBe(true);
    expect(answers.some((a) => a.id === null)).toBe(false);
  });

  it('a last line too long, without a newline before stdin closes, is answered the same way', async () => {
    const { answers } = await serveStdioInput(location, line(INITIALIZE) + 'z'.repeat(9_000), { chunkBytes: 500, maxLineBytes: 4096 });
    expect(answers.find((a) => a.id === null)?.error?.message).toMatch(/^A line of 9000 bytes/);
  });

  it('maxLineBytes that is not a whole number >= 1 is CK_CONFIG naming it', async () => {
    for (const maxLineBytes of [0, -1, 1.5, Number.NaN]) {
      await expect(serveStdio({ tasks: {} as TaskStore, userId: 'alice', stdin: new PassThrough(), stdout: new PassThrough(), maxLineBytes })).rejects.toMatchObject({
        code: 'CK_CONFIG',
        details: { field: 'maxLineBytes' },
      });
    }
  });
});
