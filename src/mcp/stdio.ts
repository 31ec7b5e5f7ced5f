import { Transform, type Readable, type Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { ChatkeepError } from '../errors/index.js';
import { ParamsCheckingTransport } from './params-check.js';
import { DrainingTransport } from './draining-transport.js';
import { buildMcpServer, type McpServerOptions } from './mcp-server.js';
import type { TaskStore } from './task-store.js';

/** What the stdio front door needs. */
export interface ServeStdioOptions extends McpServerOptions {
  readonly tasks: TaskStore;
  /** The one user this process acts for, fixed when the chat backend spawns it. */
  readonly userId: string;
  /** Default `process.stdin` / `process.stdout`. Nothing else may write to `stdout`. */
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  /** Stops serving (e.g. on SIGTERM), once the calls already received are answered. */
  readonly signal?: AbortSignal;
  /** How long stopping waits for calls already received to be answered (default 30 s). */
  readonly drainMs?: number;
  /** The longest stdin line (one JSON-RPC message) read, in bytes (default 1 MiB, the HTTP front door's body limit); a longer one is dropped and answered with error -32600. */
  readonly maxLineBytes?: number;
}

const DEFAULT_DRAIN_MS = 30_000;
const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

/**
 * Serves the task tools for one user over stdio (newline-delimited JSON-RPC
 * on stdin/stdout) until the client closes stdin, the transport closes or
 * `signal` aborts; then answers the calls already received (up to `drainMs`),
 * closes the server and resolves. A client may write its requests and close
 * stdin at once: it still gets every answer. The process is the credential:
 * whoever spawned it chose the user, so there is no token.
 *
 * @example
 * await serveStdio({ tasks: new TaskStore(database.db), userId: 'alice' });
 */
export async function serveStdio(options: ServeStdioOptions): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
    throw new ChatkeepError('CK_CONFIG', 'maxLineBytes: a whole number of bytes >= 1', { field: 'maxLineBytes' });
  }
  const input = boundedLines(stdin, maxLineBytes, (bytes) => {
    // JSON-RPC's answer to a request it could not read: id null, Invalid Request.
    const message = `A line of ${bytes} bytes is longer than the ${maxLineBytes} bytes a message may have; it was dropped`;
    stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message } })}\n`);
    options.onProtocolError?.(Object.assign(new Error(message), { name: 'LineTooLong' }));
  });
  const server = buildMcpServer(options.tasks, options.userId, options);
  const draining = new DrainingTransport(new StdioServerTransport(input, stdout));
  const transport = new ParamsCheckingTransport(draining);
  const done = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    // The end of `input`, not of stdin: its last line is read only then.
    input.once('end', () => resolve());
    stdin.once('close', () => resolve());
    if (options.signal?.aborted === true) resolve();
    options.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.connect(transport);
  try {
    await done;
    await draining.drained(options.drainMs ?? DEFAULT_DRAIN_MS);
    await server.close();
  } finally {
    // Let go of stdin as the SDK's transport would: a stdin still piped
    // would keep the process alive after a stop signal.
    stdin.unpipe(input);
    if (stdin.listenerCount('data') === 0) stdin.pause();
  }
}

/**
 * `stdin` cut into lines the SDK can take: a newline added at its end when
 * its last line has none, and no line longer than `maxLineBytes`.
 *
 * The SDK reads a message only when its newline arrives, so a client that
 * closes stdin right after its last message (`printf '%s' "$json" |
 * chatkeep mcp`) would get no answer, and a message cut short by a client
 * dying mid-write would vanish without a trace; terminated, the first is
 * answered and the second reported like any other line that is not MCP.
 *
 * The SDK also buffers a line until its newline, without a limit: a client
 * writing without newlines would grow this process without bound. Past
 * `maxLineBytes` the line is ended where it is (the SDK reports the cut line
 * as not MCP), the rest of it up to its newline is dropped, and `oversized`
 * is told, once per line, with its length.
 */
function boundedLines(stdin: Readable, maxLineBytes: number, oversized: (bytes: number) => void): Transform {
  let endsInNewline = true;
  // Bytes of the current line passed on, and, once it is too long, all of its bytes seen.
  let passed = 0;
  let dropping: number | undefined;
  const input = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (chunk.length > 0) endsInNewline = chunk[chunk.length - 1] === 0x0a;
      const out: Buffer[] = [];
      for (let start = 0; start < chunk.length; ) {
        const newline = chunk.indexOf(0x0a, start);
        const end = newline === -1 ? chunk.length : newline;
        const piece = chunk.subarray(start, end);
        if (dropping !== undefined) {
          dropping += piece.length;
        } else if (passed + piece.length > maxLineBytes) {
          const room = maxLineBytes - passed;
          out.push(piece.subarray(0, room), NEWLINE);
          dropping = passed + piece.length;
        } else {
          out.push(piece);
          passed += piece.length;
        }
        if (newline === -1) break;
        if (dropping === undefined) out.push(NEWLINE);
        else oversized(dropping);
        passed = 0;
        dropping = undefined;
        start = newline + 1;
      }
      callback(null, Buffer.concat(out));
    },
    flush(callback) {
      if (dropping !== undefined) oversized(dropping);
      callback(null, endsInNewline || dropping !== undefined ? undefined : '\n');
    },
  });
  return stdin.pipe(input);
}

const NEWLINE = Buffer.from('\n');
