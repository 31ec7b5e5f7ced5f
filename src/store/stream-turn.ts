import { z } from 'zod';
import { ChatkeepError, ConflictError } from '../errors/index.js';
import { abortedTurnError, type AgentMessage, type StreamingAgent } from './agent.js';
import { cutToTokenBudget } from './history-budget.js';
import type { Messages } from './messages.js';
import type { Turn } from './rows.js';
import type { StreamedTurn, StreamedTurns } from './streamed-turns.js';
import { agentTurnOptionFields, type MessageInput } from './turn-parts.js';
import { parse } from './validation.js';

export interface StreamTurnOptions {
  /** Give up on the agent after this long in total (default 120,000 ms). */
  readonly timeoutMs?: number;
  /** How many earlier messages the agent sees (default 50, max 1000). */
  readonly historyLimit?: number;
  /** Also cut the history, oldest first, to about this many tokens. */
  readonly historyTokenBudget?: number;
  readonly idempotencyKey?: string;
  /** Abort from outside (e.g. the HTTP client went away). */
  readonly signal?: AbortSignal;
  /** On failure or abort, keep the text produced so far, marked `aborted` (default false: nothing is kept). */
  readonly keepPartialOnAbort?: boolean;
  /** How often the partial reply is saved while streaming (default 1,000 ms). */
  readonly persistEveryMs?: number;
  /**
   * The sweeper aborts the turn if this process dies and nothing is saved
   * for this long (default 120,000 ms). While the agent runs, a silent spell
   * does not count: the turn is kept alive every third of this time.
   */
  readonly abandonAfterMs?: number;
  /** Called once the turn is reserved, before the agent starts. A throw, or a returned promise that rejects, fails the turn. */
  readonly onBegin?: (turn: StreamedTurn) => unknown;
  /**
   * Called for every piece of text the agent yields (not awaited: the agent
   * is not held up). A throw, or a returned promise that rejects, fails the turn.
   */
  readonly onText?: (text: string) => unknown;
}

const optionsSchema = z
  .object({
    ...agentTurnOptionFields,
    keepPartialOnAbort: z.boolean().optional(),
    persistEveryMs: z.number().int().min(10).max(60_000).optional(),
    abandonAfterMs: z.number().int().min(1000).max(86_400_000).optional(),
    onBegin: z.function().optional(),
    onText: z.function().optional(),
  })
  .strict();

/**
 * Runs a streaming agent as one streamed turn: begin, feed it the history,
 * pass its text on as it arrives (saving it every `persistEveryMs` so a
 * crash can be swept), then commit — or, if the agent fails, times out or is
 * aborted, abort the turn so nothing (or only the marked partial reply) is
 * visible.
 */
export async function streamTurn(
  streamed: StreamedTurns,
  messages: Messages,
  userId: string,
  conversationId: string,
  message: string | MessageInput,
  agent: StreamingAgent,
  options: StreamTurnOptions,
): Promise<Turn> {
  if (typeof agent !== 'function') throw new ChatkeepError('CK_VALIDATION', 'agent: expected a function', { field: 'agent' });
  const o = parse(optionsSchema, options);
  const begun = await streamed.begin(userId, conversationId, message, {
    ...(o.idempotencyKey !== undefined ? { idempotencyKey: o.idempotencyKey } : {}),
    ...(o.abandonAfterMs !== undefined ? { abandonAfterMs: o.abandonAfterMs } : {}),
  });
  if (begun.replayed) {
    if (begun.state === 'committed') return streamed.stored(begun);
    if (begun.state === 'streaming') throw new ConflictError('This turn is being streamed by another request', { field: 'idempotencyKey' });
    throw new ChatkeepError('CK_TURN_FINISHED', 'This turn was aborted; retry with a new idempotency key', { field: 'idempotencyKey', state: 'aborted' });
  }
  let text = '';
  let unsaved = '';
  let saving: Promise<unknown> = Promise.resolve();
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new ChatkeepError('CK_AGENT_TIMEOUT', `The agent did not finish within ${o.timeoutMs ?? 120_000} ms`)),
    o.timeoutMs ?? 120_000,
  );
  const onOuterAbort = () => controller.abort(abortedTurnError(o.signal, 'The turn was aborted'));
  if (o.signal?.aborted) onOuterAbort();
  o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let savedSinceKeepAlive = false;
  const flush = () => {
    // An agent may split text anywhere, also between the two halves of a
    // surrogate pair (an emoji): a save ending in the first half would be a
    // lone surrogate, which appendText refuses, failing the whole turn. That
    // half waits for the next save, with its second half.
    const cut = /[\uD800-\uDBFF]$/.test(unsaved) ? unsaved.length - 1 : unsaved.length;
    if (cut === 0) return;
    const piece = unsaved.slice(0, cut);
    unsaved = unsaved.slice(cut);
    savedSinceKeepAlive = true;
    // Saves are chained so pieces land in order. A failed save (the reply
    // broke a content rule, or the turn was committed, aborted or swept from
    // outside) stops the agent at once: nothing it says now can be stored,
    // and it should not keep running, and costing, until it finishes. The
    // chain is marked handled because nothing awaits it until the loop
    // ends, and an unhandled rejection would end the Node process.
    save(() => streamed.appendText(userId, begun.id, piece));
  };
  const save = (write: () => Promise<unknown>) => {
    saving = saving.then(write).catch((error: unknown) => {
      controller.abort(error);
      throw error;
    });
    saving.catch(() => undefined);
  };
  const flusher = setInterval(flush, o.persistEveryMs ?? 1000);
  // A model may think for minutes before its next token. This process is
  // alive and the turn is not abandoned, so with no save since the last tick
  // the turn's expiry is pushed on, well before the sweeper would take it.
  const keepAlive = setInterval(() => {
    if (!savedSinceKeepAlive) save(() => streamed.keepAlive(userId, begun.id));
    savedSinceKeepAlive = false;
  }, begun.abandonAfterMs / 3);
  let iterator: AsyncIterator<string> | undefined;
  // An async callback (`onText: async (t) => { await sse.write(t) }`)
  // that rejects stops the turn as a throwing one does; left alone, its
  // rejection was unhandled, which ends the Node process.
  const settled = (result: unknown) => {
    if (typeof (result as Partial<PromiseLike<unknown>> | null | undefined)?.then === 'function') {
      Promise.resolve(result).catch((error: unknown) => controller.abort(error));
    }
  };
  try {
    // Inside the try: a throwing callback aborts the turn instead of leaving it streaming, holding its idempotency key.
    settled(options.onBegin?.(begun));
    const page = await messages.list(userId, conversationId, { limit: o.historyLimit ?? 50 });
    const history: readonly AgentMessage[] = cutToTokenBudget(
      page.messages.map((m) => Object.freeze({ role: m.role, content: m.content, createdAt: m.createdAt })),
      o.historyTokenBudget,
    );
    const output: unknown = agent({
      userId: begun.userId,
      conversationId: begun.conversationId,
      history: Object.freeze(history),
      message: begun.message,
      signal: controller.signal,
    });
    iterator = asyncIteratorOf(output);
    const stopped = new Promise<never>((_, reject) => {
      const fail = () => reject(controller.signal.reason);
      if (controller.signal.aborted) fail();
      controller.signal.addEventListener('abort', fail, { once: true });
    });
    stopped.catch(() => undefined);
    for (;;) {
      const next = await Promise.race([iterator.next(), stopped]);
      if (next.done === true) break;
      if (typeof next.value !== 'string') throw new ChatkeepError('CK_AGENT_FAILED', 'The agent yielded something other than text');
      text += next.value;
      unsaved += next.value;
      settled(options.onText?.(next.value));
    }
    clearInterval(flusher);
    clearInterval(keepAlive);
    await saving;
    return await streamed.commit(userId, begun.id, { content: text });
  } catch (error) {
    clearInterval(flusher);
    clearInterval(keepAlive);
    await saving.catch(() => undefined);
    // Close the agent as `for await` would on a break: its finally blocks
    // (the model's HTTP stream) run, instead of leaving it suspended and
    // holding its connection. Not awaited: an agent stuck in an await
    // closes when that settles, and must not hold up this turn's answer.
    void Promise.resolve()
      .then(() => iterator?.return?.())
      .catch(() => undefined);
    const failure = agentFailure(error);
    // Cut off mid-pair (the agent yielded the first half of an emoji, then
    // failed or the client left), the text so far ends in a lone surrogate,
    // which no stored reply may hold: the partial reply ends before it.
    const partial = text.replace(/[\uD800-\uDBFF]$/, '');
    const keep = o.keepPartialOnAbort === true && /\S/.test(partial);
    await streamed
      .abort(userId, begun.id, keep ? { keepPartial: true, content: partial } : {})
      // A partial reply that cannot be kept all the same (too long, or text
      // PostgreSQL cannot store: the very reason the turn failed) must not
      // leave the turn streaming, holding its idempotency key until the
      // sweeper comes: it is aborted keeping nothing.
      .catch(() => (keep ? streamed.abort(userId, begun.id, {}) : undefined))
      .catch(() => undefined);
    throw failure;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onOuterAbort);
  }
}

/**
 * The agent's output as an async iterator. A plain `Agent` (one returning a
 * promise, as `turns.run` takes) passed here by mistake is refused saying so;
 * its promise is marked handled first, since nothing else will await it and
 * its rejection (the model call failing) would otherwise end the process.
 */
function asyncIteratorOf(output: unknown): AsyncIterator<string> {
  const open = (output as Partial<AsyncIterable<string>> | null | undefined)?.[Symbol.asyncIterator];
  if (typeof open === 'function') return open.call(output);
  if (typeof (output as Partial<PromiseLike<unknown>> | null | undefined)?.then === 'function') {
    Promise.resolve(output).catch(() => undefined);
  }
  throw new ChatkeepError(
    'CK_AGENT_FAILED',
    'The streaming agent must return an async iterable of text (an async generator); an agent returning a promise goes to turns.run',
    { field: 'agent' },
  );
}

function agentFailure(error: unknown): ChatkeepError {
  if (error instanceof ChatkeepError) {
    if (error.code === 'CK_AGENT_TIMEOUT' || error.code === 'CK_AGENT_FAILED') return error;
    // The reply as a whole (commit's `content`) or as saved so far (appendText's `text`) broke a content rule:
    // the agent produced no text, too much, or text PostgreSQL cannot store.
    if (error.code === 'CK_VALIDATION' && (error.details.field === 'content' || error.details.field === 'text')) {
      return new ChatkeepError('CK_AGENT_FAILED', `The agent returned an invalid reply (${error.message}); nothing was saved`, { field: 'reply' }, { cause: error });
    }
    return error;
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new ChatkeepError('CK_AGENT_FAILED', `The agent failed: ${reason}`, {}, { cause: error });
}
