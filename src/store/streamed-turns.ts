import { sql, type RawBuilder, type Transaction } from 'kysely';
import { z } from 'zod';
import type { ChatkeepTables } from '../db/index.js';
import { ChatkeepError, ConflictError, NotFoundError, pgErrorFields } from '../errors/index.js';
import { MESSAGE_COLUMNS, toMessage, type JsonObject, type Turn } from './rows.js';
import { forAllUsers, forUser, type StoreContext } from './store-context.js';
import { messageInput, requestHash, toTurn, type MessageInput } from './turn-parts.js';
import { charLength, idempotencyKeySchema, metadataSchema, NOT_STORABLE, parse, storable, uuidSchema } from './validation.js';

export type StreamedTurnState = 'streaming' | 'committed' | 'aborted';

/**
 * A turn whose reply is produced over time (token streaming). While it is
 * `streaming` neither of its messages is part of the conversation's history.
 */
export interface StreamedTurn {
  readonly id: string;
  readonly userId: string;
  readonly conversationId: string;
  readonly state: StreamedTurnState;
  /** The ids the two messages will have once committed. */
  readonly userMessageId: string;
  readonly assistantMessageId: string;
  readonly message: string;
  readonly messageMetadata: JsonObject;
  /** The assistant's text received so far. */
  readonly partialContent: string;
  /** For an aborted turn: whether the partial reply was kept in history (marked `aborted`). */
  readonly keptPartial: boolean;
  /** How long the turn may go without news before the sweeper aborts it. */
  readonly abandonAfterMs: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly expiresAt: Date;
  readonly finishedAt: Date | null;
  /** True when `begin` found an earlier turn under the same idempotency key and started nothing. */
  readonly replayed: boolean;
}

export interface BeginTurnOptions {
  readonly idempotencyKey?: string;
  /** Abort the turn if no text, commit or abort arrives for this long (default 120,000 ms; 1 s – 24 h). */
  readonly abandonAfterMs?: number;
}

export interface CommitTurnInput {
  /** The final reply; defaults to the text appended so far. */
  readonly content?: string;
  readonly metadata?: JsonObject;
}

export interface AbortTurnInput {
  /** Keep the partial reply in history, marked `aborted: true` (default false: nothing becomes visible). */
  readonly keepPartial?: boolean;
  /** The partial reply to keep; defaults to the text appended so far. */
  readonly content?: string;
}

export interface AbortedTurn {
  readonly turn: StreamedTurn;
  /** The stored messages when the partial reply was kept, else null. */
  readonly kept: Turn | null;
}

export interface SweepReport {
  /**
   * Streaming turns whose client went quiet past `abandonAfterMs`, now
   * aborted; with them, reservations of `turns.run` calls whose process
   * died, now deleted (their idempotency keys can be used again).
   */
  readonly abandoned: number;
  /** Finished turn records older than the retention, deleted. */
  readonly purged: number;
}

const beginSchema = z
  .object({
    idempotencyKey: idempotencyKeySchema.optional(),
    abandonAfterMs: z.number().int('expected an integer').min(1000).max(86_400_000).optional(),
  })
  .strict();
const commitSchema = z.object({ content: z.string().optional(), metadata: metadataSchema.optional() }).strict();
const abortSchema = z.object({ keepPartial: z.boolean().optional(), content: z.string().optional() }).strict();
const textSchema = z
  .string({ error: 'expected a string' })
  .min(1, 'must not be empty')
  .refine(storable, NOT_STORABLE);

type Row = Record<string, unknown>;

/** A turn to reserve: validated input, its idempotency key with the request's hash (or neither), and its expiry. */
export interface TurnRequest {
  readonly user: string;
  readonly conversationId: string;
  readonly input: Required<MessageInput>;
  readonly key: string | undefined;
  readonly hash: string | null;
  readonly abandonAfterMs: number;
}
type Trx = Transaction<ChatkeepTables>;

/**
 * Streamed turns: begin → text → commit | abort (issue 3). The user message
 * and the reply wait in `streamed_turns` and enter `messages` together, through
 * the same append_turn() a plain turn uses, in the transaction that marks the
 * turn committed. A turn is never half-visible: a crash leaves a `streaming`
 * row that history does not read and that {@link StreamedTurns.sweep} aborts.
 */
export class StreamedTurns {
  readonly #ctx: StoreContext;

  /** Text recorded on an aborted turn without being kept: anything the column takes, even blank. */
  readonly #partial: z.ZodType<string>;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    const max = ctx.settings.maxContentLength;
    this.#partial = z
      .string({ error: 'expected a string' })
      .refine(storable, NOT_STORABLE)
      .refine((t) => t.length <= max || charLength(t) <= max, `must be at most ${max} characters`);
  }

  /**
   * Reserves a turn: ids for both messages, the user's message held back
   * from history until commit. With an idempotency key, a retry returns the
   * turn the first call began (`replayed: true`), whatever its state.
   *
   * @example
   * const t = await store.turns.begin(user, convId, 'Plan my week');
   */
  async begin(userId: string, conversationId: string, message: string | MessageInput, options: BeginTurnOptions = {}): Promise<StreamedTurn> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, conversationId, 'conversationId');
    const input = messageInput(this.#ctx.rules, message, 'message');
    const { idempotencyKey: key, abandonAfterMs = 120_000 } = parse(beginSchema, options);
    const hash = key === undefined ? null : requestHash(id, input);
    if (key !== undefined && hash !== null) {
      const earlier = await this.#earlierForBegin(user, key, hash, abandonAfterMs);
      if (earlier !== undefined) return earlier;
    }
    const row = await this.#insert({ user, conversationId: id, input, key, hash, abandonAfterMs }, false);
    if (row !== undefined) return toStreamedTurn(row, false);
    // Nothing inserted: no such conversation, or a concurrent begin with the same key won.
    if (key !== undefined && hash !== null) {
      const earlier = await this.#earlierForBegin(user, key, hash, abandonAfterMs);
      if (earlier !== undefined) return earlier;
    }
    throw new NotFoundError('conversation');
  }

  /**
   * The turn a begin under `key` replays, if any. A run's reservation whose
   * agent is still working is not handed out: its id would let the client
   * append to, commit or abort the run's turn under the agent, whose own
   * commit then failed after the paid call.
   */
  async #earlierForBegin(user: string, key: string, hash: string, abandonAfterMs: number): Promise<StreamedTurn | undefined> {
    const row = await this.#byKeyRow(user, key, hash);
    if (row === undefined) return this.#storedByKey(user, key, hash, abandonAfterMs);
    if (row['run_reservation'] === true && row['state'] === 'streaming') {
      throw new ConflictError('This idempotency key belongs to a turn whose agent is still running (turns.run); retry once it has finished', {
        field: 'idempotencyKey',
      });
    }
    return toStreamedTurn(row, true);
  }

  /**
   * For `turns.run`: reserves its turn as {@link begin} does, marked as a
   * run's. While the agent works, the conversation is in use (a retention
   * purge keeps it) and the key is held. `heldByRun` tells, for a key held
   * already (`turn.replayed`), whether another run holds it: the caller then
   * waits for that run instead of calling the agent again. The caller looks
   * the key up among stored turns first, so this does not.
   */
  async reserveForRun(request: TurnRequest): Promise<{ readonly turn: StreamedTurn; readonly heldByRun: boolean }> {
    const { user, key, hash } = request;
    const row = await this.#insert(request, true);
    if (row !== undefined) return { turn: toStreamedTurn(row, false), heldByRun: false };
    const earlier = key !== undefined && hash !== null ? await this.#byKeyRow(user, key, hash) : undefined;
    if (earlier !== undefined) return { turn: toStreamedTurn(earlier, true), heldByRun: earlier['run_reservation'] === true };
    throw new NotFoundError('conversation');
  }

  /**
   * Deletes a run's reservation whose agent failed: the run stored nothing
   * and showed nothing, so, unlike an aborted streamed turn, it leaves no
   * record that would keep its idempotency key from being used again.
   */
  async release(user: string, turnId: string): Promise<void> {
    await forUser(this.#ctx, user, () =>
      sql`delete from ${sql.id(this.#ctx.schema, 'streamed_turns')}
           where user_id = ${user} and id = ${turnId} and state = 'streaming' and run_reservation`.execute(this.#ctx.db),
    );
  }

  /** The inserted row, or undefined if there is no such conversation or a turn holds the key already. */
  async #insert(request: TurnRequest, runReservation: boolean): Promise<Row | undefined> {
    const { user, conversationId, input, key, hash, abandonAfterMs } = request;
    const s = this.#ctx.schema;
    const rows = await forUser(this.#ctx, user, async () => {
      const result = await sql<Row>`
        insert into ${sql.id(s, 'streamed_turns')}
          (user_id, id, conversation_id, user_message_id, assistant_message_id, user_content, user_metadata,
           idempotency_key, request_hash, abandon_after_ms, expires_at, run_reservation)
        select ${user}, ${this.#ctx.newId()}, c.id, ${this.#ctx.newId()}, ${this.#ctx.newId()}, ${input.content}, ${JSON.stringify(input.metadata)}::jsonb,
               ${key ?? null}, ${hash}, ${abandonAfterMs}, now() + make_interval(secs => ${abandonAfterMs / 1000}), ${runReservation}
          from ${sql.id(s, 'conversations')} c
         where c.user_id = ${user} and c.id = ${conversationId}
        on conflict (user_id, idempotency_key) where idempotency_key is not null do nothing
        returning *`.execute(this.#ctx.db);
      return result.rows;
    });
    return rows[0];
  }

  /** Appends generated text to the reply and keeps the turn from being swept as abandoned. */
  async appendText(userId: string, turnId: string, text: string): Promise<StreamedTurn> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, turnId, 'turnId');
    const delta = parse(textSchema, text, 'text');
    return this.#whileStreaming(user, id, sql`assistant_content = assistant_content || ${delta}, updated_at = now(),`);
  }

  /**
   * Keeps a streaming turn from being swept as abandoned, without adding
   * text: its `expiresAt` moves to `abandonAfterMs` from now. For a process
   * that is still working on the turn (its agent thinking before the next
   * token). CK_TURN_FINISHED once the turn is no longer streaming.
   */
  async keepAlive(userId: string, turnId: string): Promise<StreamedTurn> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, turnId, 'turnId');
    return this.#whileStreaming(user, id, sql``);
  }

  /** Applies `change` to a turn that is still streaming and pushes its expiry on; otherwise says why it cannot. */
  async #whileStreaming(user: string, id: string, change: RawBuilder<unknown>): Promise<StreamedTurn> {
    const rows = await forUser(this.#ctx, user, async () => {
      const result = await sql<Row>`
        update ${sql.id(this.#ctx.schema, 'streamed_turns')}
           set ${change} expires_at = now() + make_interval(secs => abandon_after_ms / 1000.0)
         where user_id = ${user} and id = ${id} and state = 'streaming'
        returning *`.execute(this.#ctx.db);
      return result.rows;
    });
    if (rows[0] !== undefined) return toStreamedTurn(rows[0], false);
    throw this.#notStreaming(await this.get(user, id));
  }

  /**
   * For a plain turn (`append`, `run`) under `key`, which shares one
   * namespace of keys per user with streamed turns: undefined when no
   * streamed turn holds the key; the stored turn (`replayed: true`) when one
   * holds it for the same request and stored its messages (committed, or
   * aborted keeping the partial reply); otherwise why the key cannot be used
   * — CK_IDEMPOTENCY_MISMATCH for another request, CK_CONFLICT while that
   * turn still streams (a plain turn taking the key would make its commit
   * fail) or after it was aborted with nothing stored.
   */
  async turnHoldingKey(user: string, key: string, hash: string): Promise<Turn | undefined> {
    const turn = await this.#byKey(user, key, hash);
    return turn === undefined ? undefined : this.storedOrRefused(turn);
  }

  /** For a plain turn under the key `turn` holds: its stored messages, or why the key cannot be used (see {@link turnHoldingKey}). */
  async storedOrRefused(turn: StreamedTurn): Promise<Turn> {
    if (turn.state === 'committed' || turn.keptPartial) return this.stored(turn);
    if (turn.state === 'streaming') {
      throw new ConflictError('This idempotency key belongs to a turn that is still being streamed', { field: 'idempotencyKey', turnId: turn.id });
    }
    throw new ConflictError('This idempotency key belongs to a streamed turn that was aborted with nothing stored; send the turn with a new key', {
      field: 'idempotencyKey',
      turnId: turn.id,
    });
  }

  /**
   * A turn whose key another turn stored while it streamed (a plain turn
   * that raced its begin) can never be stored under that key: it is aborted,
   * keeping nothing, instead of streaming on until swept with the key held.
   */
  async #keyTaken(user: string, id: string): Promise<ChatkeepError> {
    await this.abort(user, id);
    return new ConflictError('Another turn stored this idempotency key while this one streamed; this turn was aborted and nothing of it stored', {
      field: 'idempotencyKey',
      turnId: id,
    });
  }

  /** The turn, in whatever state; CK_NOT_FOUND for a missing turn or another user's. */
  async get(userId: string, turnId: string): Promise<StreamedTurn> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, turnId, 'turnId');
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db.selectFrom('streamed_turns').selectAll().where('user_id', '=', user).where('id', '=', id).executeTakeFirst(),
    );
    if (row === undefined) throw new NotFoundError('turn');
    return toStreamedTurn(row as unknown as Row, false);
  }

  /**
   * Makes both messages visible in one transaction. Committing a committed
   * turn again returns the stored turn (`replayed: true`) and writes nothing.
   */
  async commit(userId: string, turnId: string, input: CommitTurnInput = {}): Promise<Turn> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, turnId, 'turnId');
    const { content, metadata } = parse(commitSchema, input);
    if (content !== undefined) parse(this.#ctx.rules.content, content, 'content');
    const committed = await forUser(this.#ctx, user, () =>
      keyTakenMeanwhile(
        this.#ctx.db.transaction().execute(async (trx) => {
          const row = await finish(trx, this.#ctx.schema, user, id, 'committed', content ?? null, false);
          if (row === undefined) return undefined;
          const reply = parse(this.#ctx.rules.content, String(row['assistant_content']), 'content');
          return appendFinished(trx, this.#ctx.schema, row, reply, metadata ?? {}, false);
        }),
      ),
    );
    if (committed === KEY_TAKEN) throw await this.#keyTaken(user, id);
    if (committed !== undefined) return committed;
    const turn = await this.get(user, id);
    if (turn.state === 'committed') return this.stored(turn);
    throw this.#notStreaming(turn);
  }

  /**
   * Ends a turn without a full reply. By default nothing becomes visible; with
   * `keepPartial` the text so far is stored as the reply, marked `aborted`.
   * Aborting an aborted turn again returns it unchanged.
   */
  async abort(userId: string, turnId: string, input: AbortTurnInput = {}): Promise<AbortedTurn> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, turnId, 'turnId');
    const { keepPartial = false, content } = parse(abortSchema, input);
    // Not kept, the text is still recorded on the turn, so it must be storable even when it is not a valid reply.
    if (content !== undefined) parse(keepPartial ? this.#ctx.rules.content : this.#partial, content, 'content');
    const result = await forUser(this.#ctx, user, () =>
      keyTakenMeanwhile(
        this.#ctx.db.transaction().execute(async (trx) => {
          const row = await finish(trx, this.#ctx.schema, user, id, 'aborted', content ?? null, keepPartial);
          if (row === undefined) return undefined;
          let turn = toStreamedTurn(row, false);
          // finish() keeps any text PostgreSQL's \S finds, and what \S finds
          // depends on the database's locale (in C, every non-ASCII
          // character, white space such as U+00A0 or U+3000 included): text
          // the content rule calls empty would become a blank reply, on both
          // backends (test/store/review-turns.test.ts). Such a partial reply
          // is recorded, not kept.
          if (turn.keptPartial && !this.#ctx.rules.content.safeParse(turn.partialContent).success) {
            await sql`update ${sql.id(this.#ctx.schema, 'streamed_turns')} set kept_partial = false where user_id = ${user} and id = ${id}`.execute(trx);
            turn = { ...turn, keptPartial: false };
          }
          if (!turn.keptPartial) return { turn, kept: null };
          const kept = await appendFinished(trx, this.#ctx.schema, row, turn.partialContent, {}, true);
          return { turn, kept };
        }),
      ),
    );
    if (result === KEY_TAKEN) throw await this.#keyTaken(user, id);
    if (result !== undefined) return result;
    const turn = await this.get(user, id);
    if (turn.state === 'aborted') return { turn, kept: turn.keptPartial ? await this.stored(turn) : null };
    throw this.#notStreaming(turn);
  }

  /**
   * System-scope housekeeping, for every user: aborts streaming turns whose
   * client went quiet past their `abandonAfterMs` (nothing becomes visible),
   * and deletes finished turn records older than `retainFinishedMs` (default
   * 24 h; the stored messages stay, only the begin/commit replay record goes).
   */
  async sweep(options: { readonly retainFinishedMs?: number } = {}): Promise<SweepReport> {
    this.#ctx.assertOpen();
    // At most 100 years: make_interval() refuses (22008) intervals past ~290,000 years, e.g. Number.MAX_SAFE_INTEGER ms.
    const retainSchema = z.number().int().min(0).max(3_155_760_000_000, 'must be at most 100 years');
    const retain = parse(z.object({ retainFinishedMs: retainSchema.optional() }).strict(), options).retainFinishedMs ?? 86_400_000;
    const table = sql.id(this.#ctx.schema, 'streamed_turns');
    return forAllUsers(this.#ctx, async () => {
      // A run's reservation is deleted, not aborted: its process died while
      // the agent worked, nothing was shown, and a retry may use the key again.
      const released = await sql`
        delete from ${table} where state = 'streaming' and expires_at < now() and run_reservation`.execute(this.#ctx.db);
      const aborted = await sql`
        update ${table} set state = 'aborted', finished_at = now(), updated_at = now()
         where state = 'streaming' and expires_at < now()`.execute(this.#ctx.db);
      const abandoned = Number(released.numAffectedRows ?? 0) + Number(aborted.numAffectedRows ?? 0);
      const purged = await sql`
        delete from ${table} where state <> 'streaming' and finished_at < now() - make_interval(secs => ${retain / 1000})`.execute(
        this.#ctx.db,
      );
      return { abandoned, purged: Number(purged.numAffectedRows ?? 0) };
    });
  }

  /**
   * A turn stored under `key` without a record here: written by `append` or
   * `run` (one namespace of keys per user, idempotency_keys), or begun here
   * and committed so long ago that `sweep` purged its record. Without this
   * check a retry would begin a second turn, run the agent again, and fail
   * at commit on the key's primary key, leaving that turn streaming. The
   * stored turn is recorded here as finished (committed, or aborted if its
   * reply was a kept partial one), so `get`, `appendText`, `commit` and
   * `abort` then answer for it exactly as for any finished turn; `sweep`
   * purges the record like the others.
   */
  async #storedByKey(user: string, key: string, hash: string, abandonAfterMs: number): Promise<StreamedTurn | undefined> {
    const s = this.#ctx.schema;
    const stored = await forUser(this.#ctx, user, () =>
      this.#ctx.db.selectFrom('idempotency_keys').select('request_hash').where('user_id', '=', user).where('key', '=', key).executeTakeFirst(),
    );
    if (stored === undefined) return undefined;
    if (stored.request_hash !== hash) throw new ChatkeepError('CK_IDEMPOTENCY_MISMATCH', undefined, { field: 'idempotencyKey' });
    const rows = await forUser(this.#ctx, user, async () => {
      const result = await sql<Row>`
        insert into ${sql.id(s, 'streamed_turns')}
          (user_id, id, conversation_id, state, user_message_id, assistant_message_id, user_content, user_metadata,
           assistant_content, idempotency_key, request_hash, kept_partial, abandon_after_ms, created_at, updated_at, expires_at, finished_at)
        select k.user_id, k.turn_id, k.conversation_id, case when a.aborted then 'aborted' else 'committed' end, u.id, a.id,
               u.content, u.metadata, a.content, k.key, k.request_hash, a.aborted, ${abandonAfterMs}, u.created_at, now(), a.created_at, now()
          from ${sql.id(s, 'idempotency_keys')} k
          join ${sql.id(s, 'messages')} u on u.user_id = k.user_id and u.conversation_id = k.conversation_id and u.seq = k.first_seq
          join ${sql.id(s, 'messages')} a on a.user_id = k.user_id and a.conversation_id = k.conversation_id and a.seq = k.first_seq + 1
         where k.user_id = ${user} and k.key = ${key}
        on conflict do nothing
        returning *`.execute(this.#ctx.db);
      return result.rows;
    });
    if (rows[0] !== undefined) return toStreamedTurn(rows[0], true);
    // A concurrent begin recorded it first (or the conversation was just deleted, taking the key with it).
    return this.#byKey(user, key, hash);
  }

  async #byKey(user: string, key: string, hash: string): Promise<StreamedTurn | undefined> {
    const row = await this.#byKeyRow(user, key, hash);
    return row === undefined ? undefined : toStreamedTurn(row, true);
  }

  async #byKeyRow(user: string, key: string, hash: string): Promise<Row | undefined> {
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db.selectFrom('streamed_turns').selectAll().where('user_id', '=', user).where('idempotency_key', '=', key).executeTakeFirst(),
    );
    if (row === undefined) return undefined;
    if (row.request_hash !== hash) throw new ChatkeepError('CK_IDEMPOTENCY_MISMATCH', undefined, { field: 'idempotencyKey' });
    return row as unknown as Row;
  }

  /** The two stored messages of a committed turn (or an aborted one whose partial reply was kept), as a replayed Turn. */
  async stored(turn: StreamedTurn): Promise<Turn> {
    const rows = await forUser(this.#ctx, turn.userId, async () => {
      const result = await sql<Row>`
        select ${sql.join(MESSAGE_COLUMNS.map((c) => sql.ref(c)))} from ${sql.id(this.#ctx.schema, 'messages')}
         where user_id = ${turn.userId} and id in (${turn.userMessageId}, ${turn.assistantMessageId})
         order by seq`.execute(this.#ctx.db);
      return result.rows;
    });
    // The conversation may have been deleted since; the turn's record went with it, so this is rare.
    if (rows.length !== 2) throw new NotFoundError('turn');
    return toTurn(
      rows.map((r) => toMessage(r, turn.userId, turn.conversationId)),
      true,
    );
  }

  #notStreaming(turn: StreamedTurn): ChatkeepError {
    return new ChatkeepError('CK_TURN_FINISHED', `The turn is already ${turn.state}`, { field: 'turnId', state: turn.state });
  }

  #user(userId: string): string {
    this.#ctx.assertOpen();
    return parse(this.#ctx.rules.userId, userId, 'userId');
  }
}

const KEY_TAKEN = Symbol('idempotency key taken');

/** `work`, or KEY_TAKEN when storing the turn's messages found its idempotency key stored by another turn. */
async function keyTakenMeanwhile<T>(work: Promise<T>): Promise<T | typeof KEY_TAKEN> {
  try {
    return await work;
  } catch (error) {
    const pg = pgErrorFields(error);
    if (pg?.code === '23505' && pg.constraint === 'idempotency_keys_pkey') return KEY_TAKEN;
    throw error;
  }
}

/** Marks a streaming turn finished; undefined if it is not (or no longer) streaming. */
async function finish(
  trx: Trx,
  schema: string,
  user: string,
  id: string,
  state: 'committed' | 'aborted',
  content: string | null,
  keepPartial: boolean,
): Promise<Row | undefined> {
  // The conversation is locked before the turn: the order in which deleting
  // a conversation (the user's delete, a retention purge, an erase) takes
  // them, the turn going by cascade. Locking the turn first, then the
  // conversation in append_turn, deadlocked against such a delete
  // (test/store/streamed-turn-lock-order.test.ts). The CTE's row lock is
  // taken when the join reads it, before the turn row is updated.
  const result = await sql<Row>`
    with c as (
      select c.id from ${sql.id(schema, 'conversations')} c
       where c.user_id = ${user}
         and c.id = (select conversation_id from ${sql.id(schema, 'streamed_turns')} where user_id = ${user} and id = ${id})
         for no key update)
    update ${sql.id(schema, 'streamed_turns')} t
       set state = ${state}, finished_at = now(), updated_at = now(),
           assistant_content = coalesce(${content}, t.assistant_content),
           kept_partial = ${keepPartial} and coalesce(${content}, t.assistant_content) ~ '\\S'
      from c
     where t.user_id = ${user} and t.id = ${id} and t.state = 'streaming' and t.conversation_id = c.id
    returning t.*`.execute(trx);
  return result.rows[0];
}

/** Writes a finished turn's two messages through append_turn(), inside the caller's transaction. */
async function appendFinished(trx: Trx, schema: string, row: Row, reply: string, metadata: JsonObject, aborted: boolean): Promise<Turn> {
  const user = String(row['user_id']);
  const conversationId = String(row['conversation_id']);
  const turnId = String(row['id']);
  const result = await sql<Row>`
    select seq, id, created_at from ${sql.id(schema, 'append_turn')}(
      ${user}, ${conversationId}::uuid, ${turnId}::uuid,
      ${row['user_message_id']}::uuid, ${row['user_content']}, ${JSON.stringify(asObject(row['user_metadata']))}::jsonb,
      ${row['assistant_message_id']}::uuid, ${reply}, ${JSON.stringify(metadata)}::jsonb,
      ${row['idempotency_key'] ?? null}, ${row['request_hash'] ?? null})`.execute(trx);
  const [u, a] = result.rows;
  if (u === undefined || a === undefined) throw new NotFoundError('conversation');
  if (aborted) {
    await sql`update ${sql.id(schema, 'messages')} set aborted = true where user_id = ${user} and id = ${row['assistant_message_id']}::uuid`.execute(trx);
  }
  const message = (r: Row, role: 'user' | 'assistant', content: string, meta: JsonObject, cut: boolean) =>
    toMessage({ ...r, turn_id: turnId, role, content, metadata: meta, aborted: cut }, user, conversationId);
  return toTurn(
    [
      message(u, 'user', String(row['user_content']), asObject(row['user_metadata']), false),
      message(a, 'assistant', reply, metadata, aborted),
    ],
    false,
  );
}

function asObject(value: unknown): JsonObject {
  return (typeof value === 'string' ? JSON.parse(value) : value) as JsonObject;
}

const asDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

function toStreamedTurn(row: Row, replayed: boolean): StreamedTurn {
  return {
    id: String(row['id']),
    userId: String(row['user_id']),
    conversationId: String(row['conversation_id']),
    state: row['state'] as StreamedTurnState,
    userMessageId: String(row['user_message_id']),
    assistantMessageId: String(row['assistant_message_id']),
    message: String(row['user_content']),
    messageMetadata: asObject(row['user_metadata']),
    partialContent: String(row['assistant_content']),
    keptPartial: row['kept_partial'] === true,
    abandonAfterMs: Number(row['abandon_after_ms']),
    createdAt: asDate(row['created_at']),
    updatedAt: asDate(row['updated_at']),
    expiresAt: asDate(row['expires_at']),
    finishedAt: row['finished_at'] === null || row['finished_at'] === undefined ? null : asDate(row['finished_at']),
    replayed,
  };
}
