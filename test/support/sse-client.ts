/** One Server-Sent Event as the tests see it. */
export interface SseEvent {
  readonly event: string;
  readonly data: any;
}

/**
 * A real streaming HTTP request (fetch) whose text/event-stream body is
 * parsed as it arrives. `next(name)` waits for the next event of that name;
 * `done` resolves with every event once the server ends the response (or
 * the connection dies); `cancel()` drops the connection like a closed tab.
 * Comment blocks are skipped as a browser's EventSource skips them, and
 * their positions kept in `comments`.
 */
export function openEventStream(url: string, init: { token: string; body: unknown; headers?: Record<string, string> }) {
  const events: SseEvent[] = [];
  /** Per comment block received, how many events had arrived before it. */
  const comments: number[] = [];
  const waiters: { name: string; from: number; resolve: (e: SseEvent) => void; reject: (e: Error) => void }[] = [];
  const controller = new AbortController();
  let status = 0;
  let headers: Headers | undefined;
  let consumed = 0;
  const deliver = () => {
    for (const w of [...waiters]) {
      const found = events.slice(w.from).find((e) => e.event === w.name);
      if (found) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(found);
      }
    }
  };
  const done = (async () => {
    try {
      const response = await fetch(url, {
        method: 'POST',
        signal: controller.signal,
        headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json', ...init.headers },
        body: JSON.stringify(init.body),
      });
      status = response.status;
      headers = response.headers;
      if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
        events.push({ event: 'http-error', data: await response.json() });
        deliver();
        return events;
      }
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          // A block of comment lines only (": keep-alive") is no event; parsers skip it. Noted for the heartbeat tests.
          if (block.split('\n').every((line) => line.startsWith(':'))) {
            comments.push(events.length);
            continue;
          }
          const name = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          const data = /^data: (.*)$/m.exec(block)?.[1];
          events.push({ event: name, data: data === undefined ? undefined : JSON.parse(data) });
          deliver();
        }
      }
    } catch {
      // connection dropped (cancel, or the server died): `done` reports what arrived
    }
    for (const w of waiters.splice(0)) w.reject(new Error(`stream ended before a "${w.name}" event; got ${events.map((e) => e.event).join(', ')}`));
    return events;
  })();
  return {
    events,
    comments,
    done,
    status: () => status,
    /** The response's headers, once they arrived. */
    headers: () => headers,
    /** The next event named `name` after those already consumed by earlier `next` calls. */
    next(name: string): Promise<SseEvent> {
      const from = consumed;
      return new Promise<SseEvent>((resolve, reject) => {
        waiters.push({
          name,
          from,
          resolve: (e) => {
            consumed = events.indexOf(e) + 1;
            resolve(e);
          },
          reject,
        });
        deliver();
      });
    },
    cancel: () => controller.abort(),
  };
}
