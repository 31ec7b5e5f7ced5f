import { sql } from 'kysely';
import { hotStatement, selfScopingUser, type HotStatement } from '../db/index.js';
import { z } from 'zod';
import { ChatkeepError, ConflictError, NotFoundError, pgErrorFields, wrapDriverError } from '../errors/index.js';
import { abortedTurnError, type Agent, type AgentReply, type StreamingAgent } from './agent.js';
import { pause } from './pause.js';
import { streamTurn, type StreamTurnOptions } from './stream-turn.js';
import type { Messages } from './messages.js';
import { cutToTokenBudget } from './history-budget.js';
import { MESSAGE_COLUMNS, toMessage, toMessageFromValues, type Turn } from './rows.js';
import { agentTurnOptionFields, messageInput, requestHash, toTurn, type MessageInput } from './turn-parts.js';
import {
  StreamedTurns,
  type AbortedTurn,
  type AbortTurnInput,
  type BeginTurnOptions,
  type CommitTurnInput,
  type StreamedTurn,
  type SweepReport,
} from './streamed-turns.js';
import type { StoreContext } from './store-context.js';
import { idempotencyKeySchema, parse, uuidSchema } from './validation.js';

export interface AppendTurnInput {
  readonly user: string | MessageInput;
  readonly assistant: string | MessageInput;
  /**
   * Client-chosen key for safe retries: a second call with the same key
   * returns the stored turn (`replayed: true`) and writes nothing.
   */
  readonly idempotencyKey?: string;
}

export interface RunTurnOptions {
  /** Give up on the agent after this long (default 60,000 ms); nothing is stored. */
  readonly timeoutMs?: number;
  /** How many earlier messages the agent sees (default 50, max 1000). */
  readonly historyLimit?: number;
  /** Also cut the history, oldest first, to about this many tokens (estimated on the long side: `estimateTokens`). */
  readonly historyTokenBudget?: number;
  readonly idempotencyKey?: string;
  /** Abort the turn from outside (e.g. the HTTP client went away). */
  readonly signal?: AbortSignal;
}

const runOptionsSchema = z.object(agentTurnOptionFields).strict();

/** How long past its agent's timeout a run's reservation outlives a dead process before the sweeper releases it. */
const RUN_RESERVATION_GRACE_MS = 60_000;

/** Writing conversations one turn at a time (SPEC R-CHAT-3). */
/** The keys of an append; the values are checked one by one below. */
const appendShape = z.object({ user: z.unknown(), assistant: z.unknown(), idempotencyKey: z.unknown() }).partial().strict();

export class Turns {
  readonly #ctx: StoreContext;
  readonly #messages: Messages;

  readonly #appendStatement: HotStatement;
  /** The same call, setting the row scope in its first argument, for a store bound by row-level security. */
  readonly #scopedAppendStatement: HotStatement;
  /** The same two calls for a turn with an idempotency key, which they do not make while a streamed turn holds it. */
  readonly #keyedAppendStatement: HotStatement;
  readonly #scopedKeyedAppendStatement: HotStatement;
  readonly #streamed: StreamedTurns;

  constructor(ctx: StoreContext, messages: Messages) {
    this.#ctx = ctx;
    this.#messages = messages;
    this.#streamed = new StreamedTurns(ctx);
    // Rows as arrays: the driver builds an array faster than an object.
    const call = (user: string) => `select seq, id, created_at from ${ctx.schema}.append_turn(${user}, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`;
    this.#appendStatement = hotStatement(call('$1'), { rowMode: 'array' });
    // Arguments are evaluated before the function runs, so the policies on
    // every statement inside it see the acting user: one round trip, like
    // the owner's append, instead of two (bench/README.md, row-level security).
    const uid = ctx.settings.users?.type ?? 'text';
    const scopingUser = selfScopingUser('$1', uid);
    this.#scopedAppendStatement = hotStatement(call(scopingUser), { skipsRowScope: true, rowMode: 'array' });
    // Keys are one namespace per user, shared with streamed turns, which
    // store theirs only at commit: a plain turn must not take the key of one
    // still streaming. The uncorrelated NOT EXISTS is a one-time filter that
    // runs before the function scan, so a held key writes nothing, still in
    // one round trip (turnHoldingKey then says why). Under row-level security
    // the user is an InitPlan (select …), which sets the scope before the
    // streamed_turns policy meets a row, as in messages.ts.
    const unheld = (user: string) =>
      ` where not exists (select 1 from ${ctx.schema}.streamed_turns where user_id = ${user} and idempotency_key = $10)`;
    this.#keyedAppendStatement = hotStatement(call('$1') + unheld('$1'), { rowMode: 'array' });
    this.#scopedKeyedAppendStatement = hotStatement(call(scopingUser) + unheld(`(select ${scopingUser})`), {
      skipsRowScope: true,
      rowMode: 'array',
    });
  }

  /**
   * Stores a user message and the assistant's reply atomically, as two
   * adjacent messages. It is one SQL statement, so there is no moment at which
   * only half the turn is visible, and a crash at any point leaves either the
   * whole turn or nothing.
   *
   * @example
   * await store.turns.append(user, convId, { user: 'Hi', assistant: 'Hello!' });
   */
  async append(userId: string, conversationId: string, input: AppendTurnInput): Promise<Turn> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, conversationId, 'conversationId');
    // A misplaced key (e.g. `metadata` beside `user`) is an error, not silently dropped.
    parse(appendShape, input);
    const userMessage = this.#messageInput(input.user, 'user');
    const assistantMessage = this.#messageInput(input.assistant, 'assistant');
    const key = input.idempotencyKey === undefined ? undefined : parse(idempotencyKeySchema, input.idempotencyKey, 'idempotencyKey');
    return this.#write(user, id, userMessage, assistantMessage, key);
  }

  /**
   * Runs one turn with an agent: loads the recent history, calls `agent`, and
   * stores the user message and the reply together only if the agent
   * succeeds in time. If it throws or times out nothing is stored
   * (CK_AGENT_FAILED / CK_AGENT_TIMEOUT). The agent is given plain data, never
   * a database handle.
   *
   * While the agent works the turn is reserved (as a streamed turn is, but
   * invisible to callers): a retention purge keeps the conversation, and a
   * second call with the same idempotency key waits for this one and
   * returns its turn instead of calling the agent again (CK_CONFLICT if it
   * is still running after the second call's own `timeoutMs`).
   *
   * @example
   * const turn = await store.turns.run(user, convId, 'What is on my list?', myAgent, { timeoutMs: 30_000 });
   */
  async run(
    userId: string,
    conversationId: string,
    message: string | MessageInput,
    agent: Agent,
    options: RunTurnOptions = {},
  ): Promise<Turn> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, conversationId, 'conversationId');
    const userMessage = this.#messageInput(message, 'message');
    const { timeoutMs = 60_000, historyLimit = 50, historyTokenBudget, idempotencyKey, signal } = parse(runOptionsSchema, options);
    if (typeof agent !== 'function') throw new ChatkeepError('CK_VALIDATION', 'agent: expected a function', { field: 'agent' });

    const hash = idempotencyKey === undefined ? null : requestHash(id, userMessage);
    const reserved = await this.#reserveRun(user, id, userMessage, idempotencyKey, hash, timeoutMs, signal);
    if (!('state' in reserved)) return reserved;
    let assistantMessage: Required<MessageInput>;
    try {
      const page = await this.#messages.list(user, id, { limit: historyLimit });
      const history = cutToTokenBudget(
        page.messages.map((m) => Object.freeze({ role: m.role, content: m.content, createdAt: m.createdAt })),
        historyTokenBudget,
      );
      const reply = await callAgent(agent, {
        userId: user,
        conversationId: id,
        history: Object.freeze(history),
        message: userMessage.content,
        timeoutMs,
        signal,
      });
      assistantMessage = this.#replyInput(reply);
    } catch (error) {
      // Nothing stored: the key is free again for a retry. Should the
      // delete fail too, the sweeper releases the reservation when it expires.
      await this.#streamed.release(user, reserved.id).catch(() => undefined);
      throw error;
    }
    try {
      return await this.#streamed.commit(user, reserved.id, { content: assistantMessage.content, metadata: assistantMessage.metadata });
    } catch (error) {
      // The conversation was deleted while the agent worked, taking the reservation with it.
      if (error instanceof NotFoundError) throw new NotFoundError('conversation');
      // The key was stored meanwhile by a plain append of the same request, which raced this reservation.
      if (error instanceof ConflictError && idempotencyKey !== undefined && hash !== null) {
        const stored = await this.#replay(user, idempotencyKey, hash);
        if (stored !== undefined) return stored;
      }
      throw error;
    }
  }

  /**
   * Reserves a run's turn (see StreamedTurns.reserveForRun), or returns the
   * turn stored under its key already. While another call of the same
   * request holds the key its agent is working: this one waits for it, up
   * to its own timeout, rather than pay for a second answer to one question.
   */
  async #reserveRun(
    user: string,
    conversationId: string,
    message: Required<MessageInput>,
    key: string | undefined,
    hash: string | null,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<StreamedTurn | Turn> {
    // The sweeper must not take the reservation from an agent still within
    // its timeout; the grace covers loading the history and committing.
    const abandonAfterMs = Math.min(86_400_000, Math.max(1000, timeoutMs + RUN_RESERVATION_GRACE_MS));
    const deadline = Date.now() + timeoutMs;
    for (let wait = 10; ; wait = Math.min(250, wait * 2)) {
      if (key !== undefined && hash !== null) {
        const stored = await this.#replay(user, key, hash);
        if (stored !== undefined) return stored;
      }
      const { turn, heldByRun } = await this.#streamed.reserveForRun({ user, conversationId, input: message, key, hash, abandonAfterMs });
      if (!turn.replayed) return turn;
      if (!heldByRun || turn.state !== 'streaming') return this.#streamed.storedOrRefused(turn);
      if (signal?.aborted) throw abortedTurnError(signal);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ConflictError(`Another call with this idempotency key is still running its agent after ${timeoutMs} ms; retry later`, {
          field: 'idempotencyKey',
          turnId: turn.id,
        });
      }
      await pause(Math.min(wait, left), signal);
    }
  }

  /**
   * Begins a streamed turn: the user's message and the reply's id are
   * reserved, but neither is in the history until {@link commit}. See
   * src/store/streamed-turns.ts for the whole lifecycle.
   *
   * @example
   * const t = await store.turns.begin(user, convId, 'Plan my week');
   * for await (const chunk of llm.stream()) await store.turns.appendText(user, t.id, chunk);
   * const turn = await store.turns.commit(user, t.id);
   */
  begin(userId: string, conversationId: string, message: string | MessageInput, options?: BeginTurnOptions): Promise<StreamedTurn> {
    return this.#streamed.begin(userId, conversationId, message, options);
  }

  /** Adds generated text to a streaming turn's reply (and keeps it from being swept as abandoned). */
  appendText(userId: string, turnId: string, text: string): Promise<StreamedTurn> {
    return this.#streamed.appendText(userId, turnId, text);
  }

  /**
   * Keeps a streaming turn from being swept as abandoned without adding text,
   * for a caller whose model is thinking: its `expiresAt` moves to
   * `abandonAfterMs` from now. CK_TURN_FINISHED once it is committed or aborted.
   */
  keepAlive(userId: string, turnId: string): Promise<StreamedTurn> {
    return this.#streamed.keepAlive(userId, turnId);
  }

  /** Makes a streaming turn's two messages visible together; a repeat returns the stored turn. */
  commit(userId: string, turnId: string, input?: CommitTurnInput): Promise<Turn> {
    return this.#streamed.commit(userId, turnId, input);
  }

  /** Ends a streaming turn: nothing visible, or the partial reply kept and marked `aborted`. */
  abort(userId: string, turnId: string, input?: AbortTurnInput): Promise<AbortedTurn> {
    return this.#streamed.abort(userId, turnId, input);
  }

  /** A streamed turn in any state. */
  getStreamed(userId: string, turnId: string): Promise<StreamedTurn> {
    return this.#streamed.get(userId, turnId);
  }

  /** System scope: aborts abandoned streaming turns of every user and purges old finished records. */
  sweep(options?: { readonly retainFinishedMs?: number }): Promise<SweepReport> {
    return this.#streamed.sweep(options);
  }

  /**
   * Runs a streaming agent as a streamed turn: the reply's text is handed to
   * `onText` as it is generated, and both messages become visible only when
   * the agent finishes. Failure, timeout or abort stores nothing (or, with
   * `keepPartialOnAbort`, the partial reply marked `aborted`).
   *
   * @example
   * await store.turns.stream(user, convId, 'Hi', myStreamingAgent, { onText: (t) => process.stdout.write(t) });
   */
  stream(
    userId: string,
    conversationId: string,
    message: string | MessageInput,
    agent: StreamingAgent,
    options: StreamTurnOptions = {},
  ): Promise<Turn> {
    return streamTurn(this.#streamed, this.#messages, userId, conversationId, message, agent, options);
  }

  async #write(
    user: string,
    conversationId: string,
    userMessage: Required<MessageInput>,
    assistantMessage: Required<MessageInput>,
    key: string | undefined,
  ): Promise<Turn> {
    // Time-ordered ids (UUIDv7): new rows land at the right edge of the
    // messages (user_id, id) index instead of on random leaf pages, which
    // keeps that index cheap to maintain at millions of rows.
    const turnId = this.#ctx.newId();
    const userMessageId = this.#ctx.newId();
    const assistantMessageId = this.#ctx.newId();
    const hash = key === undefined ? null : requestHash(conversationId, userMessage);
    // One call of the append_turn function (src/schema/0002), whose plans
    // are cached; the call itself is prepared once per connection.
    const params = [
      user,
      conversationId,
      turnId,
      userMessageId,
      userMessage.content,
      JSON.stringify(userMessage.metadata),
      assistantMessageId,
      assistantMessage.content,
      JSON.stringify(assistantMessage.metadata),
      key ?? null,
      hash,
    ];
    let rows: readonly (readonly unknown[])[];
    try {
      this.#ctx.assertOpen();
      const scoped = this.#ctx.rowScopeEnforced;
      const statement =
        key === undefined
          ? scoped
            ? this.#scopedAppendStatement
            : this.#appendStatement
          : scoped
            ? this.#scopedKeyedAppendStatement
            : this.#keyedAppendStatement;
      rows = await this.#ctx.scoped({ user }, () => this.#ctx.hot<readonly unknown[]>(statement, params));
    } catch (error) {
      const pg = pgErrorFields(error);
      if (pg?.code === '23505' && pg.constraint === 'idempotency_keys_pkey' && key !== undefined && hash !== null) {
        const stored = await this.#replay(user, key, hash);
        if (stored !== undefined) return stored;
      }
      throw wrapDriverError(error);
    }
    const [u, a] = rows;
    if (u === undefined || a === undefined) {
      // Nothing written: no such conversation, or a streamed turn holds the key.
      const held = key !== undefined && hash !== null ? await this.#streamed.turnHoldingKey(user, key, hash) : undefined;
      if (held !== undefined) return held;
      throw new NotFoundError('conversation');
    }
    // The database gave seq and created_at (seq, id, created_at); the rest is what was sent.
    const message = (stored: readonly unknown[], id: string, role: 'user' | 'assistant', input: Required<MessageInput>) =>
      toMessageFromValues([stored[0], id, turnId, role, input.content, input.metadata, false, stored[2]], user, conversationId);
    return toTurn([message(u, userMessageId, 'user', userMessage), message(a, assistantMessageId, 'assistant', assistantMessage)], false);
  }

  /** The turn stored under `key`, or undefined; CK_IDEMPOTENCY_MISMATCH if the key was used for another request. */
  async #replay(user: string, key: string, hash: string): Promise<Turn | undefined> {
    const s = this.#ctx.schema;
    let rows: Record<string, unknown>[];
    try {
      ({ rows } = await this.#ctx.scoped({ user }, () => sql<Record<string, unknown>>`
        select k.request_hash as k_request_hash, k.conversation_id as k_conversation_id,
               ${sql.join(MESSAGE_COLUMNS.map((c) => sql.ref(`m.${c}`)))}
          from ${sql.id(s, 'idempotency_keys')} k
          join ${sql.id(s, 'messages')} m
            on m.user_id = k.user_id and m.conversation_id = k.conversation_id
           and m.seq between k.first_seq and k.first_seq + 1
         where k.user_id = ${user} and k.key = ${key}
         order by m.seq`.execute(this.#ctx.db)));
    } catch (error) {
      throw wrapDriverError(error);
    }
    if (rows.length === 0) return undefined;
    if (rows[0]?.['k_request_hash'] !== hash) {
      throw new ChatkeepError('CK_IDEMPOTENCY_MISMATCH', undefined, { field: 'idempotencyKey' });
    }
    return toTurn(rows.map((row) => toMessage(row, user, String(row['k_conversation_id']))), true);
  }

  #user(userId: string): string {
    this.#ctx.assertOpen();
    return parse(this.#ctx.rules.userId, userId, 'userId');
  }

  #messageInput(input: string | MessageInput, field: string): Required<MessageInput> {
    return messageInput(this.#ctx.rules, input, field);
  }

  #replyInput(reply: string | AgentReply): Required<MessageInput> {
    try {
      return messageInput(this.#ctx.rules, reply, 'reply', false);
    } catch (error) {
      throw new ChatkeepError(
        'CK_AGENT_FAILED',
        `The agent returned an invalid reply (${(error as Error).message}); nothing was saved`,
        { field: (error as ChatkeepError).details?.field ?? 'reply' },
        { cause: error },
      );
    }
  }
}

async function callAgent(
  agent: Agent,
  input: {
    userId: string;
    conversationId: string;
    history: AgentInputHistory;
    message: string;
    timeoutMs: number;
    signal: AbortSignal | undefined;
  },
): Promise<string | AgentReply> {
  // Aborted already (the client went away while the history was read): a
  // model call now would cost money for an answer nobody waits for.
  if (input.signal?.aborted) throw abortedTurnError(input.signal);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(input.signal?.reason);
  input.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new ChatkeepError('CK_AGENT_TIMEOUT', `The agent did not answer within ${input.timeoutMs} ms; nothing was saved`);
      controller.abort(error);
      reject(error);
    }, input.timeoutMs);
  });
  let onAbortReject: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbortReject = () => reject(abortedTurnError(input.signal));
    input.signal?.addEventListener('abort', onAbortReject, { once: true });
  });
  try {
    const run = Promise.resolve().then(() =>
      agent({
        userId: input.userId,
        conversationId: input.conversationId,
        history: input.history,
        message: input.message,
        signal: controller.signal,
      }),
    );
    // The losers of the race may still reject later (a slow agent failing
    // after its timeout); mark them handled so that cannot crash the process.
    for (const p of [run, timeout, aborted]) p.catch(() => undefined);
    return await Promise.race([run, timeout, aborted]);
  } catch (error) {
    if (error instanceof ChatkeepError && (error.code === 'CK_AGENT_TIMEOUT' || error.code === 'CK_AGENT_FAILED')) throw error;
    // The abort's own reason (CK_SHUTTING_DOWN from a server), rejected by the race or passed on by the agent.
    if (error instanceof ChatkeepError && error === input.signal?.reason) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ChatkeepError('CK_AGENT_FAILED', `The agent failed: ${reason}; nothing was saved`, {}, { cause: error });
  } finally {
    clearTimeout(timer);
    // Both listeners go: a signal shared by many turns (a server's shutdown
    // signal) otherwise holds two closures per finished turn, for good.
    input.signal?.removeEventListener('abort', onOuterAbort);
    if (onAbortReject !== undefined) input.signal?.removeEventListener('abort', onAbortReject);
  }
}

type AgentInputHistory = Parameters<Agent>[0]['history'];

