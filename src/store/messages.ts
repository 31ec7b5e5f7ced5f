import { sql } from 'kysely';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { decodeSeqCursor, seqCursor } from './cursor.js';
import { toMessage, type Message } from './rows.js';
import { guarded, type StoreContext } from './store-context.js';
import { limitSchema, parse, uuidSchema } from './validation.js';

export interface HistoryOptions {
  /** How many messages (default 50, max 1000). */
  readonly limit?: number;
  /** Messages just older than this cursor. */
  readonly before?: string;
  /** Messages just newer than this cursor. */
  readonly after?: string;
}

export interface MessagePage {
  /** Always in chronological order (ascending `seq`). */
  readonly messages: readonly Message[];
  /** Cursor before the first message (pass as `before`); null if the page is empty. */
  readonly olderCursor: string | null;
  /** Cursor after the last message (pass as `after`, e.g. to poll); null if the page is empty. */
  readonly newerCursor: string | null;
  /** Whether messages older than this page exist. */
  readonly hasOlder: boolean;
  /** Whether messages newer than this page exist. */
  readonly hasNewer: boolean;
}

const historySchema = z
  .object({ limit: limitSchema(1000).optional(), before: z.string().optional(), after: z.string().optional() })
  .strict();

/** Reading a conversation's messages (SPEC R-CHAT-4). Writing happens through turns. */
export class Messages {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /**
   * A page of history in chronological order: the latest `limit` messages, or
   * those just before/after a cursor. One query, served by the primary key
   * `(user_id, conversation_id, seq)`, so it costs the same at 100 or 100,000
   * messages.
   *
   * @example
   * const { messages, olderCursor } = await store.messages.list(user, convId, { limit: 100 });
   */
  async list(userId: string, conversationId: string, options: HistoryOptions = {}): Promise<MessagePage> {
    this.#ctx.assertOpen();
    const user = parse(this.#ctx.rules.userId, userId, 'userId');
    const id = parse(uuidSchema, conversationId, 'conversationId');
    const { limit = 50, before, after } = parse(historySchema, options);
    if (before !== undefined && after !== undefined) {
      throw new ValidationError('before', 'pass either before or after, not both');
    }
    const beforeSeq = before === undefined ? undefined : decodeSeqCursor(before, 'before');
    const afterSeq = after === undefined ? undefined : decodeSeqCursor(after, 'after');
    const forward = afterSeq !== undefined;
    const cursorSeq = afterSeq ?? beforeSeq;
    const s = this.#ctx.schema;
    const messagesTable = sql.id(s, 'messages');
    const bound = forward ? sql`and seq > ${afterSeq}` : beforeSeq !== undefined ? sql`and seq < ${beforeSeq}` : sql``;
    // One round trip. The page is a plain primary-key range scan fetching one
    // row more than asked, which tells whether more exist in the paging
    // direction. Ownership needs no extra work when the page has rows: every
    // message row carries its owner's user_id. The two flags below are
    // uncorrelated sub-selects (InitPlans, evaluated once), and the outer
    // left join keeps one row even for an empty page, so "empty conversation"
    // and "no such conversation (or another user's)" are told apart in the
    // same statement.
    const result = await guarded(() =>
      sql<Record<string, unknown>>`
        with page as (
          select * from ${messagesTable}
           where user_id = ${user} and conversation_id = ${id} ${bound}
           order by seq ${forward ? sql`asc` : sql`desc`}
           limit ${limit + 1}
        )
        select (select exists (select 1 from ${sql.id(s, 'conversations')} where user_id = ${user} and id = ${id})) as k_exists,
               ${
                 cursorSeq === undefined
                   ? sql`false`
                   : sql`(select exists (select 1 from ${messagesTable} where user_id = ${user} and conversation_id = ${id}
                            and seq ${forward ? sql`<=` : sql`>=`} ${cursorSeq}))`
               } as k_other_side,
               page.*
          from (select 1) as one left join page on true`.execute(this.#ctx.db),
    );
    const head = result.rows[0];
    if (head === undefined || head['k_exists'] !== true) throw new NotFoundError('conversation');
    const rows = result.rows.filter((r) => r['seq'] !== null && r['seq'] !== undefined);
    const more = rows.length > limit;
    const messages = rows.slice(0, limit).map(toMessage);
    if (!forward) messages.reverse();
    const otherSide = head['k_other_side'] === true;
    const first = messages[0];
    const last = messages.at(-1);
    return {
      messages,
      olderCursor: first ? seqCursor(first.seq) : null,
      newerCursor: last ? seqCursor(last.seq) : null,
      hasOlder: forward ? otherSide : more,
      hasNewer: forward ? more : otherSide,
    };
  }
}
