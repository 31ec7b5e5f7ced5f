import { createServer, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { ChatkeepError } from '../errors/index.js';
import { LOOPBACK_HOSTS, isLoopbackAddress, refusedHost } from './allowed-hosts.js';
import type { McpHttpHandler } from './http-handler.js';

/** Where the standalone MCP HTTP server listens. */
export interface McpHttpServerOptions {
  readonly handler: McpHttpHandler;
  /** Default 127.0.0.1: expose it deliberately, behind TLS. */
  readonly host?: string;
  /** Default 0 (a free port; read it from `url`). */
  readonly port?: number;
  /** Default `/mcp`; every other path is 404. */
  readonly path?: string;
  /**
   * Host names (no ports; IPv6 in brackets) the `Host` header, and a
   * browser's `Origin`, must name; anything else gets 403 before the
   * request is read. Default: `localhost`, `127.0.0.1` and `[::1]` when
   * `host` is a loopback address (DNS-rebinding protection), no check
   * otherwise (behind a proxy, the names are the proxy's business).
   */
  readonly allowedHosts?: readonly string[];
  /** Called when the handler fails unexpectedly (the request gets a 500). */
  readonly onError?: (error: unknown) => void;
  /**
   * How long `close()` lets the requests in flight finish before it ends
   * their connections (default 30 s, as stdio's drain).
   */
  readonly drainMs?: number;
}

/** A listening MCP HTTP server. */
export interface McpHttpServer {
  /** `http://127.0.0.1:PORT/mcp` */
  readonly url: string;
  /**
   * Stops accepting connections, lets the requests in flight finish (each
   * answered with `Connection: close`) for up to `drainMs`, then ends the
   * connections still open, and resolves when every connection has ended.
   */
  close(): Promise<void>;
}

/** How long close() waits for requests in flight (see McpHttpServerOptions.drainMs). */
const DEFAULT_DRAIN_MS = 30_000;
/** The longest drain: an hour (a timer holds at most 2^31 − 1 ms). */
const MAX_DRAIN_MS = 3_600_000;

/** How long an idle keep-alive connection stays open (see startMcpHttpServer). */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * Listens with `node:http` and routes `path` to the handler: the standalone
 * host behind `chatkeep mcp --transport http`. A framework that already
 * listens mounts `createMcpHttpHandler` itself instead.
 *
 * @example
 * const mcp = await startMcpHttpServer({ handler, port: 3001 });
 * console.error(`MCP at ${mcp.url}`);
 */
export async function startMcpHttpServer(options: McpHttpServerOptions): Promise<McpHttpServer> {
  const path = options.path ?? '/mcp';
  const host = options.host ?? '127.0.0.1';
  // A timer fires after 1 ms for anything it cannot hold (Infinity, NaN, past 2^31 − 1): close() would cut every call at once.
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  if (!Number.isInteger(drainMs) || drainMs < 0 || drainMs > MAX_DRAIN_MS) {
    throw new ChatkeepError('CK_CONFIG', `drainMs: a whole number of milliseconds from 0 to ${MAX_DRAIN_MS}`, { field: 'drainMs' });
  }
  // A host given by name (`127.1`, a name in /etc/hosts) is judged by the
  // address it was bound to, once listening; until then the check is on.
  let allowedHosts =
    options.allowedHosts ??
    (isLoopbackAddress(host) || isIP(host) === 0 ? loopbackNames(host) : undefined);
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  const server: Server = createServer((req, res) => {
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    if (closing) res.setHeader('Connection', 'close');
    const refused = allowedHosts === undefined ? undefined : refusedHost(req.headers, allowedHosts);
    if (refused !== undefined) {
      return sendJson(res, 403, {
        jsonrpc: '2.0',
        error: { code: -32000, message: `Forbidden: ${refused}` },
        id: null,
      });
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      return sendJson(res, 404, { error: `Not found: the MCP endpoint is ${path}` });
    }
    options.handler(req, res).catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) {
        sendJson(res, 500, {
          jsonrpc: '2.0',
          error: { code: -32603, message: 'Internal error' },
          id: null,
        });
      } else res.destroy();
    });
  });
  // Node closes an idle keep-alive connection after 5 s. Behind a load
  // balancer that keeps idle connections for longer (60 s is common), the
  // balancer can send a request down a socket the server is closing, and
  // the client gets a 502. The server should outlast the balancer: 72 s,
  // Fastify's default, which chatkeep's HTTP API has too.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  if (options.allowedHosts === undefined) {
    allowedHosts =
      isLoopbackAddress(host) || isLoopbackAddress(address) ? loopbackNames(host) : undefined;
  }
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        // A client that stalls half-way through its request (or never reads
        // the answer) would hold close() open until Node's request timeout,
        // 300 s: longer than an orchestrator waits after SIGTERM before
        // SIGKILL, which would cut off every other call too. After the drain
        // time its connection is ended instead.
        const drain = setTimeout(() => server.closeAllConnections(), drainMs);
        drain.unref();
        server.close((error) => {
          clearTimeout(drain);
          if (error) reject(error);
          else resolve();
        });
        // Idle keep-alive sockets would hold close() open until their
        // timeout; so would the socket of a request in flight, which goes
        // idle once answered: `Connection: close` ends it with the answer.
        server.closeIdleConnections();
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      }),
  };
}

/**
 * The names a server bound to loopback answers to: the usual three, and the
 * address it was given as a `Host` header carries it (`127.1`,
 * `[0:0:0:0:0:0:0:1]`), so the URL it prints works as printed.
 */
function loopbackNames(host: string): readonly string[] {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  // An IPv6 address as written, and as a URL spells it (`[::ffff:7f00:1]` for `::ffff:127.0.0.1`).
  const given = isIP(bare) === 6 ? [`[${bare}]`, new URL(`http://[${bare}]`).hostname] : [bare];
  return [...new Set([...LOOPBACK_HOSTS, ...given])];
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}
