import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  /** Called when the handler fails unexpectedly (the request gets a 500). */
  readonly onError?: (error: unknown) => void;
}

/** A listening MCP HTTP server. */
export interface McpHttpServer {
  /** `http://127.0.0.1:PORT/mcp` */
  readonly url: string;
  /** Stops accepting connections and resolves when the open ones have finished. */
  close(): Promise<void>;
}

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
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      res.statusCode = 404;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ error: `Not found: the MCP endpoint is ${path}` }));
      return;
    }
    options.handler(req, res).catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            jsonrpc: '2.0',
            error: { code: -32603, message: 'Internal error' },
            id: null,
          }),
        );
      } else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Stateless requests are short; idle keep-alive sockets would hold close() open.
        server.closeIdleConnections();
      }),
  };
}
