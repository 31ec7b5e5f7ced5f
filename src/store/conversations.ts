import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../errors/index.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { toConversation, type Conversation, type JsonObject } from './rows.js';
import { forUser, type StoreContext } from './store-context.js';
import { limitSchema, metadataSchema, parse, summarySchema, titleSchema, uuidSchema } from './validation.js';

export interface CreateConversationInput {
  /** Client-chosen id (UUID), e.g. to make creation idempotent. Default: random. */
  readonly id?: string;
  readonly title?: string | null;
  /** Set to pin a summary; otherwise it is the first 100 characters of the first message. */
  readonly summary?: string;
  readonly metadata?: JsonObject;
}

export interface UpdateConversationInput {
  readonly title?: string | null;
  /** A string pins the summary; `null` returns to the derived one. */
  readonly summary?: string | null;
  /** Replaces the metadata object. */
  readonly metadata?: JsonObject;
}

export interface ConversationPage {
  /** Newest activity first. */
  readonly conversations: readonly Conversation[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  readonly nextCursor: string | null;
}

const createSchema = z
  .object({
    id: uuidSchema.optional(),
    title: titleSchema.nullable().optional(),
    summary: summarySchema.optional(),
    metadata: metadataSchema.optional(),
  })
  .strict();

const updateSchema = z
  .object({
    title: titleSchema.nullable().optional(),
    summary: summarySchema.nullable().optional(),
    metadata: metadataSchema.optional(),
  })
  .strict();

const listSchema = z.object({ limit: limitSchema(100).optional(), cursor: z.string().optional() }).strict();

/** A user's conversations (SPEC R-CHAT-1). Every method is scoped to `userId`. */
export class Conversations {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /**
   * Starts a conversation.
   * @example const c = await store.conversations.create('user-1', { title: 'Trip' });
   */
  async create(userId: string, input: CreateConversationInput = {}): Promise<Conversation> {
    const user = this.#user(userId);
    const data = parse(createSchema, input);
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db
        .insertInto('conversations')
        .values({
          user_id: user,
          id: data.id ?? this.#ctx.newId(),
          title: data.title ?? null,
          ...(data.summary !== undefined ? { summary: data.summary, summary_is_explicit: true } : {}),
          metadata: JSON.stringify(data.metadata ?? {}),
        })
        .onConflict((oc) => oc.columns(['user_id', 'id']).doNothing())
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw new ConflictError('A conversation with this id already exists', { field: 'id' });
    return toConversation(row);
  }

  /** One conversation, or CK_NOT_FOUND (also when it belongs to another user). */
  async get(userId: string, conversationId: string): Promise<Conversation> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, conversationId, 'conversationId');
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db.selectFrom('conversations').selectAll().where('user_id', '=', user).where('id', '=', id).executeTakeFirst(),
    );
    if (row === undefined) throw new NotFoundError('conversation');
    return toConversation(row);
  }

  /**
   * The user's conversations, newest activity first, `limit` (default 20, max
   * 100) at a time. Keyset pagination: while new messages arrive no
   * conversation is listed twice, but one that gets activity while you page
   * moves above your first page, so the later pages do not show it: read the
   * first page again (or follow live updates) to see it.
   */
  async list(userId: string, options: { readonly limit?: number; readonly cursor?: string } = {}): Promise<ConversationPage> {
    const user = this.#user(userId);
    const { limit = 20, cursor } = parse(listSchema, options);
    const after = cursor === undefined ? undefined : listPosition(cursor, user);
    const rows = await forUser(this.#ctx, user, () => {
      let query = this.#ctx.db.selectFrom('conversations').selectAll().where('user_id', '=', user);
      if (after !== undefined) query = query.where('activity', '<', after);
      return query.orderBy('activity', 'desc').limit(limit + 1).execute();
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      conversations: page.map(toConversation),
      nextCursor: rows.length > limit && last !== undefined ? listCursor(Number(last.activity), user) : null,
    };
  }

  /** Renames, re-summarises or replaces metadata; refreshes `updatedAt`. */
  async update(userId: string, conversationId: string, input: UpdateConversationInput): Promise<Conversation> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, conversationId, 'conversationId');
    const data = parse(updateSchema, input);
    // Nothing to change (`{}`, a PATCH with no fields): no write, so neither
    // updatedAt nor the conversation's place in the newest-activity list moves.
    if (data.title === undefined && data.metadata === undefined && data.summary === undefined) return this.get(userId, conversationId);
    const s = this.#ctx.schema;
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db
        .updateTable('conversations')
        .set((eb) => ({
          updated_at: sql`now()`,
          activity: sql`nextval(${`${s}.conversation_activity_seq`}::regclass)`,
          ...(data.title !== undefined ? { title: data.title } : {}),
          ...(data.metadata !== undefined ? { metadata: JSON.stringify(data.metadata) } : {}),
          ...(typeof data.summary === 'string' ? { summary: data.summary, summary_is_explicit: true } : {}),
          ...(data.summary === null
            ? {
                summary_is_explicit: false,
                summary: sql<string>`coalesce((select left(m.content, 100) from ${sql.id(s, 'messages')} m
                   where m.user_id = ${eb.ref('conversations.user_id')} and m.conversation_id = ${eb.ref('conversations.id')}
                   order by m.seq limit 1), '')`,
              }
            : {}),
        }))
        .where('user_id', '=', user)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw new NotFoundError('conversation');
    return toConversation(row);
  }

  /** Deletes the conversation and, by cascade, its messages (SPEC R-CHAT-5). */
  async delete(userId: string, conversationId: string): Promise<void> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, conversationId, 'conversationId');
    const result = await forUser(this.#ctx, user, () =>
      this.#ctx.db.deleteFrom('conversations').where('user_id', '=', user).where('id', '=', id).executeTakeFirst(),
    );
    if (Number(result.numDeletedRows) === 0) throw new NotFoundError('conversation');
  }

  #user(userId: string): string {
    this.#ctx.assertOpen();
    return parse(this.#ctx.rules.userId, userId, 'userId');
  }
}

/**
 * A list cursor: a position (`a`, the activity of the page's last
 * conversation) in one user's list (`u`). A bare position read just as well
 * in any other user's list: a client that kept its scroll position across a
 * sign-out and a sign-in as someone else got a page starting at the first
 * user's position, silently skipping the second user's newest conversations.
 * Bound to its list, such a cursor is refused, naming the parameter, as a
 * history cursor of another conversation is (messages.ts). `u` is a short
 * hash, not the id: cursors travel in URLs and logs, and an id may be an
 * e-mail address.
 */
function listCursor(activity: number, user: string): string {
  return encodeCursor({ a: activity, u: listTag(user) });
}

/**
 * The position of a list cursor sent by `user`, or CK_VALIDATION naming
 * `cursor`. A cursor without `u` was issued before cursors were bound; it is
 * still taken, so a client paging across an upgrade is not cut off mid-scroll.
 */
function listPosition(cursor: string, user: string): number {
  const decoded = decodeCursor(cursor, 'cursor');
  const position = decoded['a'];
  if (typeof position !== 'number' || !Number.isSafeInteger(position)) {
    throw new ValidationError('cursor', 'not a conversation cursor returned by chatkeep');
  }
  const bound = decoded['u'];
  if (bound !== undefined && bound !== listTag(user)) {
    throw new ValidationError('cursor', "a cursor of another user's list; a cursor pages only the list whose page returned it");
  }
  return position;
}

/** 64 bits of SHA-256 of the user id: tells lists apart without writing the id itself into URLs. */
function listTag(user: string): string {
  return createHash('sha256').update(user).digest('hex').slice(0, 16);
}
