import type pg from 'pg';
import type { ConversationRef, Target } from './target.js';

/**
 * What the floor needs from a driver: one parameterised statement, rows back.
 * `name` lets a driver that can keep a prepared statement per connection do
 * so (pg: `{ name, text, values }`, parsed and planned once per connection,
 * then only bound and executed); PGlite's API has no named statements and
 * ignores it. The SQL text is the same on both backends.
 */
export interface Queryable {
  query<R = Record<string, unknown>>(
    text: string,
    params: unknown[],
    name?: string,
  ): Promise<{ rows: R[] }>;
}

/**
 * pg.Pool as the floor's Queryable: named statements are prepared once per
 * pooled connection and then only bound and executed, the fastest way to send
 * a repeated statement with pg.
 */
export function poolQueryable(pool: pg.Pool): Queryable {
  return {
    query: async <R>(text: string, values: unknown[], name?: string) => {
      const result = await pool.query(
        name === undefined ? { text, values } : { name, text, values },
      );
      return { rows: result.rows as R[] };
    },
  };
}

/**
 * The atomic two-message turn in one statement: the UPDATE takes the
 * conversation's row lock (serialising writers of one conversation, which is
 * what makes seq total and gap-free) and returns the new counter; both rows
 * are inserted from it. A missing conversation updates nothing and so inserts
 * nothing. No triggers, checks, secondary indexes or row mapping.
 */
export const RAW_APPEND_SQL = `with c as (
  update raw.conversations set last_seq = last_seq + 2
   where user_id = $1 and id = $2
  returning last_seq)
insert into raw.messages (user_id, conversation_id, seq, role, content)
select $1, $2, c.last_seq - 1, 'user', $3 from c
union all
select $1, $2, c.last_seq, 'assistant', $4 from c
returning seq, created_at`;

/** Latest N on the primary key (user_id, conversation_id, seq), newest first; reversed in JS. */
export const RAW_LATEST_SQL = `select seq, role, content, metadata, created_at
  from raw.messages
 where user_id = $1 and conversation_id = $2
 order by seq desc
 limit $3`;

/** The hand-written floor: the same guarantees as a chatkeep turn, nothing else. */
export class RawSqlTarget implements Target {
  readonly name = 'raw SQL';
  readonly #db: Queryable;
  readonly #close: () => Promise<void>;

  constructor(db: Queryable, close: () => Promise<void>) {
    this.#db = db;
    this.#close = close;
  }

  async newConversation(userId: string): Promise<ConversationRef> {
    const { rows } = await this.#db.query<{ id: string }>(
      'insert into raw.conversations (user_id, id) values ($1, gen_random_uuid()) returning id',
      [userId],
    );
    const id = rows[0]?.id;
    if (id === undefined) throw new Error('raw: conversation not created');
    return { userId, id };
  }

  async appendTurn(c: ConversationRef, user: string, assistant: string): Promise<void> {
    const { rows } = await this.#db.query(
      RAW_APPEND_SQL,
      [c.userId, c.id, user, assistant],
      'raw_append',
    );
    if (rows.length !== 2) throw new Error('raw: conversation not found');
  }

  async latest(c: ConversationRef, limit: number): Promise<number> {
    const { rows } = await this.#db.query(RAW_LATEST_SQL, [c.userId, c.id, limit], 'raw_latest');
    rows.reverse();
    return rows.length;
  }

  close(): Promise<void> {
    return this.#close();
  }
}
