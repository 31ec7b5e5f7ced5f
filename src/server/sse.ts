import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * A Server-Sent Events response (WHATWG HTML §9.2) on a raw Node response.
 * Written by hand because the format is four lines of text and every
 * Fastify SSE plugin we looked at either buffers through its own stream
 * abstraction or lags Fastify majors; we need precise control of when the
 * response ends relative to the turn's commit.
 */
export class SseStream {
  readonly #res: ServerResponse;
  readonly #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * `heartbeatMs` > 0: after that long without an event, a comment line
   * (`: keep-alive`, which EventSource and SSE parsers skip) goes out. A
   * model can think for a minute before its first token, and proxies and
   * load balancers close a response that stays silent for about as long.
   */
  constructor(res: ServerResponse, headers: OutgoingHttpHeaders, heartbeatMs = 0) {
    this.#res = res;
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Tell reverse proxies (nginx) not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    if (heartbeatMs > 0) {
      this.#heartbeat = setInterval(() => this.#write(': keep-alive\n\n'), heartbeatMs);
      this.#heartbeat.unref();
    }
    res.on('close', () => {
      this.#closed = true;
      clearInterval(this.#heartbeat);
    });
  }

  /** Whether the client is gone. */
  get closed(): boolean {
    return this.#closed || this.#res.destroyed;
  }

  /** Sends one event; `data` is JSON-encoded, so it never contains a bare newline. */
  send(event: string, data: unknown): void {
    this.#write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    // The next heartbeat is due a full interval after this event.
    this.#heartbeat?.refresh();
  }

  end(): void {
    clearInterval(this.#heartbeat);
    if (!this.#res.writableEnded) this.#res.end();
  }

  #write(text: string): void {
    if (this.closed || this.#res.writableEnded) return;
    this.#res.write(text);
  }
}
