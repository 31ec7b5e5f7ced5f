import { sql } from 'kysely';
import { hotStatement, type HotStatement } from '../db/index.js';
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

  readonly #pageSql: { readonly latest: HotStatement; readonly before: HotStatement; readonly after: HotStatement };

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    // On PostgreSQL the time is sent as epoch milliseconds: the driver parses
    // a timestamptz text with a regular expression per row, which profiling
    // the HTTP server showed at ~6% of its CPU for 50-message pages; a
    // float8 is one parseFloat. extract() is numeric (exact) on PostgreSQL 14+,
    // so floor() truncates to the millisecond exactly as the text parser does.
    const columns = MESSAGE_COLUMNS.map((c) =>
      c === 'created_at' && ctx.kind === 'postgres' ? `floor(extract(epoch from created_at) * 1000)::float8 as created_at` : c,
    ).join(', ');
    const select = (bound: string, order: 'asc' | 'desc') =>
      `select ${columns} from ${ctx.schema}.messages
        where user_id = $1 and conversation_id = $2 ${bound} order by seq ${order} limit $3`;
    // PGlite hands every field of every row through JS decoding; one JSON
    // document per page is decoded by one native JSON.parse instead, which
    // measured 1.5x faster for a 100-message page. PostgreSQL's driver is
    // faster with plain rows.
    const page =
      ctx.kind === 'pglite'
        ? (bound: string, order: 'asc' | 'desc') =>
            `select coalesce(json_agg(p order by p.seq ${order}), '[]') as page from (${select(bound, order)}) p`
        : select;
    this.#pageSql = {
      latest: hotStatement(page('', 'desc')),
      before: hotStatement(page('and seq < $4', 'desc')),
      after: hotStatement(page('and seq > $4', 'asc')),
    };
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
    // The hot path (latest page of a conversation with messages) is this one
    // primary-key range scan, fetching one row more than asked to learn
    // whether more exist in the paging direction. Rows prove ownership: every
    // message carries its owner's user_id. Only an empty page or a cursor page
    // needs the second, tiny query below. The statement is built once and, on
    // PostgreSQL, prepared once per connection.
    const params: unknown[] = [user, id, limit + 1];
    if (cursorSeq !== undefined) params.push(cursorSeq);
    const statement = forward ? this.#pageSql.after : beforeSeq !== undefined ? this.#pageSql.before : this.#pageSql.latest;
    const result = await guarded(() => this.#ctx.hot<Record<string, unknown>>(statement, params));
    const rows = this.#ctx.kind === 'pglite' ? jsonPage(result[0]?.['page']) : result;
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

/** Rows of a `json_agg` page (PGlite path); timestamps arrive as ISO strings and are parsed by toMessage. */
function jsonPage(page: unknown): readonly Record<string, unknown>[] {
  const value = typeof page === 'string' ? (JSON.parse(page) as unknown) : page;
  return Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
}
