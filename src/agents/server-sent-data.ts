import { ChatkeepError } from '../errors/index.js';

/**
 * The longest line of a stream kept while waiting for its end. One event of
 * a Chat Completions stream holds a few tokens; an endpoint sending megabytes
 * with no line break is not streaming a reply (a file, a page, a loop), and
 * reading on would only fill memory until the agent's timeout.
 */
export const MAX_EVENT_LINE_CHARS = 4 * 1024 * 1024;

/**
 * The `data:` payloads of a Server-Sent Events stream (WHATWG HTML §9.2.6):
 * lines end at CRLF, LF or a lone CR; an event ends at a blank line; several
 * `data:` lines of one event are joined with LF; comments (`:`), `event:`,
 * `id:` and `retry:` lines carry no data. An event the stream ends in without
 * its blank line (or even without its line break) is still yielded: some
 * providers end that way, and the caller decides whether the reply was whole.
 *
 * @example
 * for await (const data of serverSentData(response.body)) if (data === '[DONE]') break;
 */
export async function* serverSentData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  // How much of `buffer` is known to hold no line break: a long line arriving
  // in many small chunks is scanned once, not once per chunk.
  let scanned = 0;
  let data: string[] = [];
  const take = function* (line: string): Generator<string> {
    if (line === '') {
      if (data.length > 0) yield data.join('\n');
      data = [];
    } else if (line.startsWith('data:')) {
      data.push(line.slice(5).replace(/^ /, ''));
    }
  };
  const lines = function* (ended: boolean): Generator<string> {
    let start = 0;
    for (;;) {
      const end = firstLineBreak(buffer, Math.max(start, scanned));
      if (end < 0) break;
      // A CR that is the last character so far may be the first half of a CRLF.
      if (buffer[end] === '\r' && end === buffer.length - 1 && !ended) break;
      const line = buffer.slice(start, end);
      start = buffer[end] === '\r' && buffer[end + 1] === '\n' ? end + 2 : end + 1;
      scanned = start;
      yield* take(line);
    }
    buffer = buffer.slice(start);
    scanned = Math.max(0, scanned - start);
    if (buffer.length > MAX_EVENT_LINE_CHARS) {
      throw new ChatkeepError(
        'CK_AGENT_FAILED',
        `The model endpoint sent more than ${MAX_EVENT_LINE_CHARS} characters without a line break; it is not streaming a reply`,
      );
    }
    if (!ended) scanned = buffer.length - (buffer.endsWith('\r') ? 1 : 0);
  };
  for await (const bytes of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    yield* lines(false);
  }
  buffer += decoder.decode();
  yield* lines(true);
  if (buffer !== '') yield* take(buffer);
  yield* take('');
}

const LINE_BREAK = /[\r\n]/g;

/** The index of the first CR or LF at or after `from`, or -1; scans only up to it (two indexOf calls ran to the end for each line). */
function firstLineBreak(text: string, from: number): number {
  LINE_BREAK.lastIndex = from;
  return LINE_BREAK.exec(text)?.index ?? -1;
}
