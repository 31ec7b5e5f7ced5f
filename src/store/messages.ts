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
    const s = this.#ctx.schema;
    const bound = forward ? sql`and m.seq > ${afterSeq}` : beforeSeq !== undefined ? sql`and m.seq < ${beforeSeq}` : sql``;
    // One round trip: the conversation row proves ownership (another user's id
    // finds nothing, exactly like a missing one) and carries the first and
    // last seq, so hasOlder/hasNewer need no extra query. The derived table
    // evaluates the min(seq) index probe once, not once per message row.
    const result = await guarded(() =>
      sql<Record<string, unknown>>`
        select c.c_first_seq, c.c_last_seq, m.*
          from (
            select c.user_id, c.id, c.last_seq as c_last_seq,
                   (select min(f.seq) from ${sql.id(s, 'messages')} f
                     where f.user_id = c.user_id and f.conversation_id = c.id) as c_first_seq
              from ${sql.id(s, 'conversations')} c
             where c.user_id = ${user} and c.id = ${id}
          ) c
          left join lateral (
            select * from ${sql.id(s, 'messages')} m
             where m.user_id = c.user_id and m.conversation_id = c.id ${bound}
             order by m.seq ${forward ? sql`asc` : sql`desc`}
             limit ${limit}
          ) m on true`.execute(this.#ctx.db),
    );
    const rows = result.rows;
    if (rows.length === 0) throw new NotFoundError('conversation');
    const firstSeq = Number(rows[0]?.['c_first_seq'] ?? 0);
    const lastSeq = Number(rows[0]?.['c_last_seq'] ?? 0);
    const messages = rows.filter((r) => r['seq'] !== null && r['seq'] !== undefined).map(toMessage);
    if (!forward) messages.reverse();
    const first = messages[0];
    const last = messages.at(-1);
    return {
      messages,
      olderCursor: first ? seqCursor(first.seq) : null,
      newerCursor: last ? seqCursor(last.seq) : null,
      hasOlder: first ? first.seq > firstSeq : false,
      hasNewer: last ? last.seq < lastSeq : false,
    };
  }
}
