import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChatkeepError } from '../errors/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { bearerToken, type Authenticate } from './authenticate.js';
import { DEFAULT_MAX_BATCH, batchProblem } from './batch-limit.js';
import { ParamsCheckingTransport } from './params-check.js';
import { buildMcpServer, type McpServerOptions } from './mcp-server.js';
import { readJsonBody, RequestBodyError } from './read-json-body.js';
import { DEFAULT_TOOL_CALL_LIMIT, ToolCallLimit, toolCallsIn, type ToolCallLimitOptions } from './tool-call-limit.js';
import type { TaskStore } from './task-store.js';

/** What the streamable HTTP front door needs. */
export interface McpHttpHandlerOptions extends McpServerOptions {
  readonly tasks: TaskStore;
  /** Bearer token → user id; see {@link Authenticate}. */
  readonly authenticate: Authenticate;
  /** Largest request body accepted, in bytes (default 1 MiB); larger ones get 413. */
  readonly maxBodyBytes?: number;
  /** Most messages a JSON-RPC batch may hold (default 20); larger or empty batches get 400. */
  readonly maxBatch?: number;
  /**
   * Tool calls per user per window (default 600 per minute; `max: 0` = no
   * limit). A request that would pass it gets 429 with Retry-After, and none
   * of its calls run. A batch with more tool calls than `max` can never
   * pass and gets 400 instead.
   */
  readonly toolCallLimit?: ToolCallLimitOptions;
  /** Called when `authenticate` throws (the request gets a 500). */
  readonly onError?: (error: unknown) => void;
}

/** A Node request handler; pass `parsedBody` when a framework (Fastify) has read the body already. */
export type McpHttpHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  parsedBody?: unknown,
) => Promise<void>;

/**
 * The MCP streamable HTTP transport (SDK `StreamableHTTPServerTransport`) in
 * stateless mode, behind bearer-token authentication. Each POST is
 * authenticated first; then a server bound to that request's user is built,
 * answers it (as JSON), and is dropped. Stateless, because the calling user
 * then comes from the credential of every request, never from a session id
 * that could outlive or be detached from it, and any process behind a load
 * balancer can answer. GET (a server-to-client stream) and DELETE (ending a
 * session) have nothing to serve and get 405.
 *
 * Mount it at a path of your choice (`startMcpHttpServer` uses `/mcp`); in
 * Fastify: `reply.hijack(); await handler(request.raw, reply.raw, request.body)`.
 */
export function createMcpHttpHandler(options: McpHttpHandlerOptions): McpHttpHandler {
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const limit = toolCallLimit(options.toolCallLimit ?? DEFAULT_TOOL_CALL_LIMIT);
  return async (req, res, parsedBody) => {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return sendError(
        res,
        405,
        -32000,
        'Method not allowed: this MCP server is stateless; send requests with POST',
      );
    }
    const token = bearerToken(req.headers.authorization);
    let userId: string | undefined;
    try {
      userId = token === undefined ? undefined : await options.authenticate(token);
    } catch (error) {
      options.onError?.(error);
      return sendError(res, 500, -32603, 'Authentication failed on the server');
    }
    // An empty id would build a server for nobody; it is as good as no user.
    if (typeof userId !== 'string' || userId.trim() === '') {
      res.setHeader('WWW-Authenticate', 'Bearer realm="chatkeep-mcp"');
      return sendError(res, 401, -32001, 'Unauthorized: send Authorization: Bearer <token>');
    }
    let body = parsedBody;
    if (body === undefined) {
      try {
        body = await readJsonBody(req, maxBodyBytes);
      } catch (error) {
        if (!(error instanceof RequestBodyError)) throw error;
        res.setHeader('Connection', 'close');
        return sendError(res, error.status, error.status === 413 ? -32600 : -32700, error.message);
      }
    }
    const refused = batchProblem(body, options.maxBatch ?? DEFAULT_MAX_BATCH);
    if (refused !== undefined) return sendError(res, 400, -32600, refused);
    const calls = toolCallsIn(body);
    // More calls than a whole window allows can never pass: a 429 would have
    // the client wait Retry-After and send it again, forever.
    if (limit.max > 0 && calls > limit.max) {
      return sendError(res, 400, -32600, `Invalid Request: ${calls} tool calls in one request; at most ${limit.max} tool calls per user per window`);
    }
    const waitMs = limit.take(userId, calls);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      res.setHeader('Retry-After', String(seconds));
      return sendError(res, 429, -32000, `Rate limited: at most ${limit.max} tool calls per user per window; retry in ${seconds} s`);
    }
    const server = buildMcpServer(options.tasks, userId, options);
    // No sessionIdGenerator: stateless mode (the SDK's own spelling is
    // `sessionIdGenerator: undefined`, which exactOptionalPropertyTypes refuses).
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(new ParamsCheckingTransport(transport));
    await transport.handleRequest(req, res, body);
  };
}

/** A JSON-RPC error response with no id: the request was refused before it was read as JSON-RPC. */
function sendError(res: ServerResponse, status: number, code: number, message: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/** The limiter for `options`, checked so a bad setting names itself instead of limiting nothing. */
function toolCallLimit(options: ToolCallLimitOptions): ToolCallLimit {
  if (!Number.isInteger(options.max) || options.max < 0 || !Number.isInteger(options.windowMs) || options.windowMs < 1) {
    throw new ChatkeepError('CK_CONFIG', 'toolCallLimit: max must be a whole number >= 0 and windowMs one >= 1', { field: 'toolCallLimit' });
  }
  return new ToolCallLimit(options);
}
