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
  #closed = false;

  constructor(res: ServerResponse, headers: OutgoingHttpHeaders) {
    this.#res = res;
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Tell reverse proxies (nginx) not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.on('close', () => (this.#closed = true));
  }

  /** Whether the client is gone. */
  get closed(): boolean {
    return this.#closed || this.#res.destroyed;
  }

  /** Sends one event; `data` is JSON-encoded, so it never contains a bare newline. */
  send(event: string, data: unknown): void {
    if (this.closed) return;
    this.#res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    if (!this.#res.writableEnded) this.#res.end();
  }
}
