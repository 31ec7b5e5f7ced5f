import { sql } from 'kysely';
import { hotStatement, selfScopingUser, type HotStatement } from '../db/index.js';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { decodeCursor, decodeSeqCursor, encodeCursor } from './cursor.js';
import { MESSAGE_COLUMNS, toMessage, toMessageFromValues, type Message } from './rows.js';
import { forUser, type StoreContext } from './store-context.js';
import { limitSchema, parse, uuidSchema } from './validation.js';

export interface HistoryOptions {
  /** How many messages (default 50, max 1000). */
  readonly limit?: number;
  /** Messages just older than this cursor (from a page of this conversation; another's is CK_VALIDATION). */
  readonly before?: string;
  /** Messages just newer than this cursor (from a page of this conversation; another's is CK_VALIDATION). */
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

  readonly #pageSql: PageStatements;
  readonly #jsonSql: PageStatements;
  readonly #scopedPageSql: PageStatements;
  readonly #scopedJsonSql: PageStatements;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    // created_at goes out as PostgreSQL writes it; hot statements read it
    // with db/timestamps.ts's parser, not the driver's regular expression
    // (~6% of the HTTP server's CPU for 50-message pages). Computing epoch
    // milliseconds in SQL instead (numeric arithmetic) cost the database
    // about a sixth of the statement.
    const columns = MESSAGE_COLUMNS.join(', ');
    // Under row-level security a page sets its own scope, in its one
    // statement: the user is an InitPlan compared with the primary key's
    // first column, so it runs when the scan starts, before any row meets
    // the policy, and the index is used as for a plain $1. One round trip,
    // like the owner's read, instead of two (bench/README.md).
    const uid = ctx.settings.users?.type ?? 'text';
    const user = (scoped: boolean) => (scoped ? `(select ${selfScopingUser('$1', uid)})` : '$1');
    const select = (bound: string, order: 'asc' | 'desc', scoped = false) =>
      `select ${columns} from ${ctx.schema}.messages
        where user_id = ${user(scoped)} and conversation_id = $2 ${bound} order by seq ${order} limit $3`;
    // PGlite hands every field of every row through JS decoding; one JSON
    // document per page is decoded by one native JSON.parse instead, which
    // measured 1.5x faster for a 100-message page. PostgreSQL's driver is
    // faster with plain rows.
    const page =
      ctx.kind === 'pglite'
        ? (bound: string, order: 'asc' | 'desc') =>
            `select coalesce(json_agg(p order by p.seq ${order}), '[]') as page from (${select(bound, order)}) p`
        : select;
    // On PostgreSQL the rows come back as arrays of values (toMessageFromValues).
    const rows = ctx.kind === 'postgres' ? ({ rowMode: 'array' } as const) : {};
    this.#pageSql = {
      latest: hotStatement(page('', 'desc'), rows),
      before: hotStatement(page('and seq < $4', 'desc'), rows),
      after: hotStatement(page('and seq > $4', 'asc'), rows),
    };
    // PGlite is never bound by the policies (one superuser session).
    this.#scopedPageSql = {
      latest: hotStatement(select('', 'desc', true), { skipsRowScope: true, ...rows }),
      before: hotStatement(select('and seq < $4', 'desc', true), { skipsRowScope: true, ...rows }),
      after: hotStatement(select('and seq > $4', 'asc', true), { skipsRowScope: true, ...rows }),
    };
    // pageJson(): the database writes each message's JSON itself, in the
    // shape JSON.stringify(toMessage(row)) has (keys in the same order,
    // createdAt as toISOString() would print it, truncated to the
    // millisecond like the driver's parser), so the server sends the page
    // without decoding rows or serialising objects. $3 is limit + 1 (to learn
    // whether more exist), $4 the limit, $5 the cursor.
    const messageJson = `'{"id":"' || id || '","conversationId":"' || conversation_id || '","userId":' || to_json(user_id::text)
      || ',"seq":' || seq || ',"role":"' || role || '","content":' || to_json(content) || ',"summary":' || to_json(summary)
      || ',"metadata":' || metadata || ',"turnId":' || coalesce('"' || turn_id || '"', 'null') || ',"aborted":' || aborted
      || ',"createdAt":"' || to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"}'`;
    const jsonPageSql = (bound: string, order: 'asc' | 'desc', scoped = false) =>
      `select count(*) filter (where rn <= $4) as n, coalesce(bool_or(rn > $4), false) as more,
              min(seq) filter (where rn <= $4) as first_seq, max(seq) filter (where rn <= $4) as last_seq,
              '[' || coalesce(string_agg(${messageJson}, ',' order by seq) filter (where rn <= $4), '') || ']' as page
         from (select *, row_number() over (order by seq ${order}) as rn from ${ctx.schema}.messages
                where user_id = ${user(scoped)} and conversation_id = $2 ${bound} order by seq ${order} limit $3) p`;
    this.#jsonSql = {
      latest: hotStatement(jsonPageSql('', 'desc')),
      before: hotStatement(jsonPageSql('and seq < $5', 'desc')),
      after: hotStatement(jsonPageSql('and seq > $5', 'asc')),
    };
    this.#scopedJsonSql = {
      latest: hotStatement(jsonPageSql('', 'desc', true), { skipsRowScope: true }),
      before: hotStatement(jsonPageSql('and seq < $5', 'desc', true), { skipsRowScope: true }),
      after: hotStatement(jsonPageSql('and seq > $5', 'asc', true), { skipsRowScope: true }),
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
    const q = this.#request(userId, conversationId, options);
    // The hot path (latest page of a conversation with messages) is this one
    // primary-key range scan, fetching one row more than asked to learn
    // whether more exist in the paging direction. Rows prove ownership: every
    // message carries its owner's user_id. Only an empty page or a cursor page
    // needs the second, tiny query of #otherSide. The statement is built once
    // and, on PostgreSQL, prepared once per connection.
    const params: unknown[] = [q.user, q.id, q.limit + 1];
    if (q.cursorSeq !== undefined) params.push(q.cursorSeq);
    const statements = this.#ctx.rowScopeEnforced ? this.#scopedPageSql : this.#pageSql;
    const statement = q.forward ? statements.after : q.cursorSeq !== undefined ? statements.before : statements.latest;
    const result = await forUser(this.#ctx, q.user, () => this.#ctx.hot<unknown>(statement, params));
    const pglite = this.#ctx.kind === 'pglite';
    const rows = pglite ? jsonPage((result[0] as Record<string, unknown> | undefined)?.['page']) : (result as unknown[][]);
    const otherSide = rows.length === 0 || q.cursorSeq !== undefined ? await this.#otherSide(q) : false;
    const more = rows.length > q.limit;
    const messages = pglite
      ? (rows as Record<string, unknown>[]).slice(0, q.limit).map((row) => toMessage(row, q.user, q.id))
      : (rows as unknown[][]).slice(0, q.limit).map((values) => toMessageFromValues(values, q.user, q.id));
    if (!q.forward) messages.reverse();
    const first = messages[0];
    const last = messages.at(-1);
    return {
      messages,
      olderCursor: first ? historyCursor(first.seq, q.id) : null,
      newerCursor: last ? historyCursor(last.seq, q.id) : null,
      hasOlder: q.forward ? otherSide : more,
      hasNewer: q.forward ? more : otherSide,
    };
  }

  /**
   * The same page as {@link list}, already serialised as JSON text — what an
   * HTTP handler sends. The database writes the JSON, so nothing is decoded
   * into objects and serialised again: it halves the app server's CPU per
   * page (bench/README.md), but the work moves to the database, the tier that
   * is harder to scale — on the 2-core benchmark machine, where both share
   * the cores, throughput was the same, so chatkeep's own server uses list().
   * `JSON.parse(await pageJson(…))` equals `list(…)` with dates as ISO strings.
   *
   * @example
   * return new Response(await store.messages.pageJson(user, convId), { headers: { 'content-type': 'application/json' } });
   */
  async pageJson(userId: string, conversationId: string, options: HistoryOptions = {}): Promise<string> {
    const q = this.#request(userId, conversationId, options);
    const params: unknown[] = [q.user, q.id, q.limit + 1, q.limit];
    if (q.cursorSeq !== undefined) params.push(q.cursorSeq);
    const statements = this.#ctx.rowScopeEnforced ? this.#scopedJsonSql : this.#jsonSql;
    const statement = q.forward ? statements.after : q.cursorSeq !== undefined ? statements.before : statements.latest;
    const [row] = await forUser(this.#ctx, q.user, () => this.#ctx.hot<Record<string, unknown>>(statement, params));
    const n = Number(row?.['n'] ?? 0);
    const otherSide = n === 0 || q.cursorSeq !== undefined ? await this.#otherSide(q) : false;
    const more = row?.['more'] === true;
    const cursor = (seq: unknown) => (n === 0 ? 'null' : `"${historyCursor(Number(seq), q.id)}"`);
    return `{"messages":${String(row?.['page'] ?? '[]')},"olderCursor":${cursor(row?.['first_seq'])},"newerCursor":${cursor(row?.['last_seq'])},"hasOlder":${q.forward ? otherSide : more},"hasNewer":${q.forward ? more : otherSide}}`;
  }

  #request(userId: string, conversationId: string, options: HistoryOptions): PageRequest {
    this.#ctx.assertOpen();
    const user = parse(this.#ctx.rules.userId, userId, 'userId');
    const id = parse(uuidSchema, conversationId, 'conversationId');
    const { limit = 50, before, after } = parse(historySchema, options);
    if (before !== undefined && after !== undefined) {
      throw new ValidationError('before', 'pass either before or after, not both');
    }
    const beforeSeq = before === undefined ? undefined : historySeq(before, 'before', id);
    const afterSeq = after === undefined ? undefined : historySeq(after, 'after', id);
    return { user, id, limit, forward: afterSeq !== undefined, cursorSeq: afterSeq ?? beforeSeq };
  }

  /**
   * For an empty page or a cursor page: whether the conversation is the
   * user's (else CK_NOT_FOUND, as for a missing one) and whether messages
   * exist on the other side of the cursor.
   */
  async #otherSide(q: PageRequest): Promise<boolean> {
    const flags = await forUser(this.#ctx, q.user, () =>
      sql<{ owned: boolean; other_side: boolean }>`
        select exists (select 1 from ${sql.id(this.#ctx.schema, 'conversations')} where user_id = ${q.user} and id = ${q.id}) as owned,
               ${
                 q.cursorSeq === undefined
                   ? sql`false`
                   : sql`exists (select 1 from ${sql.id(this.#ctx.schema, 'messages')} where user_id = ${q.user} and conversation_id = ${q.id}
                                   and seq ${q.forward ? sql`<=` : sql`>=`} ${q.cursorSeq})`
               } as other_side`.execute(this.#ctx.db),
    );
    const row = flags.rows[0];
    if (row?.owned !== true) throw new NotFoundError('conversation');
    return row.other_side === true;
  }
}

/** A page's three statements: the latest, before a cursor, after a cursor. */
interface PageStatements {
  readonly latest: HotStatement;
  readonly before: HotStatement;
  readonly after: HotStatement;
}

interface PageRequest {
  readonly user: string;
  readonly id: string;
  readonly limit: number;
  readonly forward: boolean;
  readonly cursorSeq: number | undefined;
}

/**
 * A history cursor: a position (`s`, the message's seq) in one conversation
 * (`c`). seq numbers start at 1 in every conversation, so a bare position
 * read just as well in any other: a cursor sent with another conversation's
 * id paged that conversation from the same number, a slice of the wrong
 * chat and no error (a UI switching conversations mid-scroll). Bound to its
 * conversation, such a cursor is refused, naming the parameter.
 */
function historyCursor(seq: number, conversationId: string): string {
  return encodeCursor({ s: seq, c: conversationId.toLowerCase() });
}

/**
 * The seq of a history cursor sent for `conversationId`, or CK_VALIDATION
 * naming `field`. A cursor without `c` was issued before cursors were
 * bound; it is still taken, so a client paging across an upgrade is not
 * cut off mid-scroll.
 */
function historySeq(cursor: string, field: string, conversationId: string): number {
  const seq = decodeSeqCursor(cursor, field);
  const bound = decodeCursor(cursor, field)['c'];
  if (bound !== undefined && (typeof bound !== 'string' || bound !== conversationId.toLowerCase())) {
    throw new ValidationError(field, 'a cursor of another conversation; a cursor pages only the conversation whose page returned it');
  }
  return seq;
}

/** Rows of a `json_agg` page (PGlite path); timestamps arrive as ISO strings and are parsed by toMessage. */
function jsonPage(page: unknown): readonly Record<string, unknown>[] {
  const value = typeof page === 'string' ? (JSON.parse(page) as unknown) : page;
  return Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
}
