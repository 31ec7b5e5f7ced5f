import type { Migration } from '../migrate/migration.js';
import { appendTurnFunction } from './append-turn-function.js';
import { settingsOf, sqlString, userIdType } from './sql-fragments.js';

/**
 * Messages (R-CHAT-2) and idempotency keys for turns (R-CHAT-3).
 *
 * Order: `seq` comes from the conversation's `last_seq`, advanced by an
 * UPDATE of the conversation row. That row lock serialises concurrent writers
 * of one conversation, and a rolled-back insert rolls the counter back too, so
 * seqs are unique, gap-free and total even within one millisecond. The store
 * does this UPDATE once per turn itself (one statement, see
 * src/store/turns.ts). Any other writer that leaves `seq` out gets the same
 * allocation, and the same upkeep of the conversation's count, activity and
 * derived summary, from a BEFORE INSERT trigger; its WHEN clause is evaluated
 * by the executor, so the store's inserts, which carry a seq, pay nothing.
 */
export const messagesMigration: Migration = {
  version: 2,
  name: 'messages',
  up: (ctx) => {
    const s = ctx.schema;
    const settings = settingsOf(ctx);
    const roles = settings.roles.map(sqlString).join(', ');
    const uid = userIdType(ctx);
    return [
      `create table ${s}.messages (
  user_id ${uid} not null,
  conversation_id uuid not null,
  seq bigint not null constraint messages_seq_check check (seq > 0),
  id uuid not null default gen_random_uuid(),
  turn_id uuid,
  role text not null constraint messages_role_check check (role in (${roles})),
  content text not null constraint messages_content_check check (char_length(content) between 1 and ${settings.maxContentLength} and content ~ '\\S'),
  summary text generated always as (left(content, 100)) stored,
  metadata jsonb not null default '{}' constraint messages_metadata_check check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  constraint messages_pkey primary key (user_id, conversation_id, seq),
  constraint messages_id_key unique (user_id, id),
  constraint messages_conversation_fk foreign key (user_id, conversation_id)
    references ${s}.conversations (user_id, id) on delete cascade
)`,
      `create function ${s}.messages_allocate_seq() returns trigger
language plpgsql as $fn$
begin
  update ${s}.conversations
     set last_seq = last_seq + 1,
         message_count = message_count + 1,
         last_message_at = now(),
         updated_at = now(),
         activity = nextval('${s}.conversation_activity_seq'),
         summary = case when not summary_is_explicit and message_count = 0
                        then left(new.content, 100) else summary end
   where user_id = new.user_id and id = new.conversation_id
  returning last_seq into new.seq;
  if not found then
    raise exception 'conversation does not exist'
      using errcode = 'foreign_key_violation', constraint = 'messages_conversation_fk';
  end if;
  return new;
end
$fn$`,
      `create trigger messages_allocate_seq before insert on ${s}.messages
  for each row when (new.seq is null) execute function ${s}.messages_allocate_seq()`,
      `create table ${s}.idempotency_keys (
  user_id ${uid} not null,
  key text not null constraint idempotency_keys_key_check check (char_length(key) between 1 and 200),
  conversation_id uuid not null,
  turn_id uuid not null,
  first_seq bigint not null,
  request_hash text not null,
  created_at timestamptz not null default now(),
  constraint idempotency_keys_pkey primary key (user_id, key),
  constraint idempotency_keys_conversation_fk foreign key (user_id, conversation_id)
    references ${s}.conversations (user_id, id) on delete cascade
)`,
      // A turn, written by one call. PL/pgSQL keeps its statements' plans for
      // the session, which on this hot path saves the planning that a
      // one-off statement pays on every call (measured: −27% on PostgreSQL,
      // −41% on PGlite). The UPDATE takes the conversation's row lock, so
      // concurrent turns of one conversation queue here: seq stays gap-free
      // and the two messages adjacent. The idempotency key is inserted last;
      // a concurrent duplicate fails on its primary key and the whole call
      // (messages, counter) rolls back. No row returned = no such
      // conversation for this user.
      appendTurnFunction(ctx, 1, 'create'),
    ];
  },
  down: (ctx) => [
    `drop function ${ctx.schema}.append_turn(${userIdType(ctx)}, uuid, uuid, uuid, text, jsonb, uuid, text, jsonb, text, text)`,
    `drop table ${ctx.schema}.idempotency_keys`,
    `drop table ${ctx.schema}.messages`,
    `drop function ${ctx.schema}.messages_allocate_seq()`,
  ],
};
