import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  InitializeRequestSchema,
  isJSONRPCRequest,
  ListToolsRequestSchema,
  PingRequestSchema,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type MessageExtraInfo,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { firstIssue, issueText } from '../errors/index.js';

interface ParseOutcome {
  readonly success: boolean;
  readonly error?: { readonly issues: readonly z.core.$ZodIssue[] };
}

/** The SDK's schemas are zod 4's, which take chatkeep's wording as the per-parse error map. */
interface RequestSchema {
  safeParse(value: unknown, params: { error: typeof issueText }): ParseOutcome;
}

/** The SDK's own schemas for the requests this server answers. */
const REQUEST_SCHEMAS = new Map<string, RequestSchema>([
  ['initialize', InitializeRequestSchema as RequestSchema],
  ['ping', PingRequestSchema as RequestSchema],
  ['tools/list', ListToolsRequestSchema as RequestSchema],
  ['tools/call', CallToolRequestSchema as RequestSchema],
]);

/**
 * Why a request's params do not fit its method, or `undefined`. The SDK
 * checks the same schema, but a failure there is answered -32603 (Internal
 * error) with the whole zod report as the message, e.g. for `"arguments":
 * null`: a client bug reported as a server bug, in a paragraph of JSON.
 */
export function paramsProblem(request: JSONRPCRequest): string | undefined {
  const parsed = REQUEST_SCHEMAS.get(request.method)?.safeParse(request, { error: issueText });
  if (parsed === undefined || parsed.success) return undefined;
  const issue = firstIssue(parsed.error?.issues ?? []);
  const where = issue === undefined || issue.path.length === 0 ? 'params' : issue.path.join('.');
  return `Invalid params: ${where}: ${issue?.message ?? 'does not match the method'}`;
}

/**
 * A Transport that answers a request whose params do not fit its method with
 * -32602 Invalid params naming the field, and never hands it to the server.
 * Everything else passes straight through to `inner`. Both front doors wrap
 * their transport in it (stdio outside its DrainingTransport, so the answer
 * is counted and drained like any other).
 *
 * @example
 * await server.connect(new ParamsCheckingTransport(transport));
 */
export class ParamsCheckingTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;

  readonly #inner: Transport;

  constructor(inner: Transport) {
    this.#inner = inner;
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = (message, extra) => {
      const problem = isJSONRPCRequest(message) ? paramsProblem(message) : undefined;
      if (problem === undefined || !isJSONRPCRequest(message)) {
        this.onmessage?.(message, extra);
        return;
      }
      this.#inner
        .send({ jsonrpc: '2.0', id: message.id, error: { code: ErrorCode.InvalidParams, message: problem } }, { relatedRequestId: message.id })
        .catch((error: unknown) => this.onerror?.(error instanceof Error ? error : new Error(String(error))));
    };
  }

  get sessionId(): string | undefined {
    return this.#inner.sessionId;
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.#inner.send(message, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  setProtocolVersion(version: string): void {
    this.#inner.setProtocolVersion?.(version);
  }
}
