import type { Queryable } from './raw-sql.js';
import type { ConversationRef, Target } from './target.js';

/**
 * The second floor: hand-written SQL on chatkeep's OWN tables (its foreign
 * key, CHECKs, unique message-id index and generated summary all apply). On
 * PostgreSQL the statements are named prepared statements sent with `pg`; on
 * PGlite they go through `PGlite#query` on a data folder chatkeep migrated,
 * opened directly (PGlite allows one client, so it is a folder of its own,
 * seeded like chatkeep's). chatkeep ÷ this floor is the cost of the library
 * (validation, the append_turn function's extra upkeep, mapping); this floor
 * ÷ the bare floor is the cost of the schema's guarantees.
 */
export const RAW_CK_APPEND_SQL = `with c as (
  update chatkeep.conversations
     set last_seq = last_seq + 2, message_count = message_count + 2,
         last_message_at = now(), updated_at = now()
   where user_id = $1 and id = $2
  returning last_seq)
insert into chatkeep.messages (user_id, conversation_id, seq, role, content)
select $1, $2, c.last_seq - 1, 'user', $3 from c
union all
select $1, $2, c.last_seq, 'assistant', $4 from c
returning seq, created_at`;

export const RAW_CK_LATEST_SQL = `select seq, role, content, metadata, created_at
  from chatkeep.messages
 where user_id = $1 and conversation_id = $2
 order by seq desc
 limit $3`;

export class RawOnChatkeepTarget implements Target {
  readonly name = 'raw SQL, chatkeep tables';
  readonly #db: Queryable;
  readonly #close: () => Promise<void>;

  constructor(db: Queryable, close: () => Promise<void>) {
    this.#db = db;
    this.#close = close;
  }

  async newConversation(userId: string): Promise<ConversationRef> {
    const { rows } = await this.#db.query<{ id: string }>(
      'insert into chatkeep.conversations (user_id) values ($1) returning id',
      [userId],
    );
    const id = rows[0]?.id;
    if (id === undefined) throw new Error('raw on chatkeep: conversation not created');
    return { userId, id };
  }

  async appendTurn(c: ConversationRef, user: string, assistant: string): Promise<void> {
    const { rows } = await this.#db.query(
      RAW_CK_APPEND_SQL,
      [c.userId, c.id, user, assistant],
      'raw_ck_append',
    );
    if (rows.length !== 2) throw new Error('raw on chatkeep: conversation not found');
  }

  async latest(c: ConversationRef, limit: number): Promise<number> {
    const { rows } = await this.#db.query(
      RAW_CK_LATEST_SQL,
      [c.userId, c.id, limit],
      'raw_ck_latest',
    );
    rows.reverse();
    return rows.length;
  }

  close(): Promise<void> {
    return this.#close();
  }
}
