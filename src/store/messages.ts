import { sql } from 'kysely';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { decodeSeqCursor, seqCursor } from './cursor.js';
import { MESSAGE_COLUMNS, toMessage, type Message } from './rows.js';
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
    const messagesTable = sql.id(this.#ctx.schema, 'messages');
    const bound = forward ? sql`and seq > ${afterSeq}` : beforeSeq !== undefined ? sql`and seq < ${beforeSeq}` : sql``;
    // The hot path (latest page of a conversation with messages) is this one
    // primary-key range scan, fetching one row more than asked to learn
    // whether more exist in the paging direction. Rows prove ownership: every
    // message carries its owner's user_id. Only an empty page or a cursor page
    // needs the second, tiny query below.
    const { rows } = await guarded(() =>
      sql<Record<string, unknown>>`
        select ${sql.join(MESSAGE_COLUMNS.map((c) => sql.ref(c)))} from ${messagesTable}
         where user_id = ${user} and conversation_id = ${id} ${bound}
         order by seq ${forward ? sql`asc` : sql`desc`}
         limit ${limit + 1}`.execute(this.#ctx.db),
    );
    let otherSide = false;
    if (rows.length === 0 || cursorSeq !== undefined) {
      const flags = await guarded(() =>
        sql<{ owned: boolean; other_side: boolean }>`
          select exists (select 1 from ${sql.id(this.#ctx.schema, 'conversations')} where user_id = ${user} and id = ${id}) as owned,
                 ${
                   cursorSeq === undefined
                     ? sql`false`
                     : sql`exists (select 1 from ${messagesTable} where user_id = ${user} and conversation_id = ${id}
                                     and seq ${forward ? sql`<=` : sql`>=`} ${cursorSeq})`
                 } as other_side`.execute(this.#ctx.db),
      );
      const row = flags.rows[0];
      if (row?.owned !== true) throw new NotFoundError('conversation');
      otherSide = row.other_side === true;
    }
    const more = rows.length > limit;
    const messages = rows.slice(0, limit).map((row) => toMessage(row, user, id));
    if (!forward) messages.reverse();
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
