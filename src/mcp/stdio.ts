import { Transform, type Readable, type Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
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
}

const DEFAULT_DRAIN_MS = 30_000;

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
  const input = newlineTerminated(stdin);
  const server = buildMcpServer(options.tasks, options.userId, options);
  const draining = new DrainingTransport(
    new StdioServerTransport(input, options.stdout ?? process.stdout),
  );
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
 * `stdin` with a newline added at its end when its last line has none. The
 * SDK reads a message only when its newline arrives, so a client that
 * closes stdin right after its last message (`printf '%s' "$json" |
 * chatkeep mcp`) would get no answer, and a message cut short by a client
 * dying mid-write would vanish without a trace; terminated, the first is
 * answered and the second reported like any other line that is not MCP.
 */
function newlineTerminated(stdin: Readable): Transform {
  let endsInNewline = true;
  const input = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (chunk.length > 0) endsInNewline = chunk[chunk.length - 1] === 0x0a;
      callback(null, chunk);
    },
    flush(callback) {
      callback(null, endsInNewline ? undefined : '\n');
    },
  });
  return stdin.pipe(input);
}
