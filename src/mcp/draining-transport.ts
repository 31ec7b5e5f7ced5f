import type {
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/**
 * A Transport that counts the client's requests it has not answered yet, so
 * a front door can let them finish before it closes. Closing the server
 * closes its transport at once, and an answer sent after that is dropped: a
 * client that writes a request and then closes stdin (`printf … | chatkeep
 * mcp`), or a SIGTERM arriving mid-call, would see the task written but never
 * hear so. Everything else passes straight through to `inner`.
 *
 * @example
 * const transport = new DrainingTransport(new StdioServerTransport());
 * await server.connect(transport);
 * // … on shutdown:
 * await transport.drained(30_000);
 * await server.close();
 */
export class DrainingTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?:
    (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;

  readonly #inner: Transport;
  /** Unanswered request ids, counted: nothing stops a client from reusing one. */
  readonly #pending = new Map<RequestId, number>();
  readonly #waiters = new Set<() => void>();
  #closed = false;

  constructor(inner: Transport) {
    this.#inner = inner;
    inner.onclose = () => {
      // Nothing can be answered any more: nobody should wait for it.
      this.#closed = true;
      this.#pending.clear();
      this.#wake();
      this.onclose?.();
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = (message, extra) => {
      if (isJSONRPCRequest(message)) this.#pending.set(message.id, this.#count(message.id) + 1);
      else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
        // The SDK answers a cancelled request with nothing at all (MCP
        // cancellation: "receivers … SHOULD NOT send a response").
        const id = (message.params as { requestId?: unknown } | undefined)?.requestId;
        if (typeof id === 'string' || typeof id === 'number') this.#settle(id);
      }
      this.onmessage?.(message, extra);
    };
  }

  /** Requests received and not yet answered. */
  get pending(): number {
    let total = 0;
    for (const count of this.#pending.values()) total += count;
    return total;
  }

  /**
   * Resolves `true` once every request received so far has been answered or
   * cancelled, or the transport has closed; `false` when `limitMs` ran out
   * first (a call stuck on the database must not hold a shutdown forever).
   */
  drained(limitMs: number): Promise<boolean> {
    if (this.#closed || this.#pending.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (outcome: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(outcome);
      };
      const wake = (): void => done(true);
      const timer = setTimeout(() => done(false), limitMs);
      this.#waiters.add(wake);
    });
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    try {
      await this.#inner.send(message, options);
    } finally {
      // Settled even when the write failed: that answer will never go out.
      if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
        if (message.id !== undefined) this.#settle(message.id);
      }
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  setProtocolVersion(version: string): void {
    this.#inner.setProtocolVersion?.(version);
  }

  #count(id: RequestId): number {
    return this.#pending.get(id) ?? 0;
  }

  #settle(id: RequestId): void {
    const count = this.#count(id);
    if (count <= 1) this.#pending.delete(id);
    else this.#pending.set(id, count - 1);
    if (this.#pending.size === 0) this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
