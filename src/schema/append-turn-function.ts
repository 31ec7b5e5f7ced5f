import type { MigrationContext } from '../migrate/migration.js';
import { userIdType } from './sql-fragments.js';

/**
 * The `append_turn` function (a turn in one call; see migration 0002), as
 * each migration that defines it renders it. A released version's text must
 * never change (test/schema/released-checksums.test.ts): a new behaviour is
 * a new version, installed by a new migration with `create or replace`.
 *
 * - `1` (migration 0002): times are `now()`, the transaction's start.
 * - `2` (migration 0010): times never go back within a conversation. The
 *   order of messages is the order in which turns take the conversation's
 *   row lock, but `now()` is when each transaction began: under concurrent
 *   turns on PostgreSQL a later message could carry an earlier `created_at`
 *   (22 of 120 messages in a 60-turn burst), and `last_message_at` trailed
 *   the newest message. Version 2 takes the later of `now()` and the
 *   conversation's last activity, read under the lock, for both.
 */
export function appendTurnFunction(ctx: MigrationContext, version: 1 | 2, verb: 'create' | 'create or replace'): string {
  const s = ctx.schema;
  const uid = userIdType(ctx);
  const at = version === 1 ? { lastMessage: 'now()', updated: 'now()' } : { lastMessage: 'greatest(now(), c.last_message_at)', updated: 'greatest(now(), c.updated_at)' };
  const declare = version === 1 ? '  v_last bigint;' : '  v_last bigint;\n  v_at timestamptz;';
  const returning = version === 1 ? 'returning c.last_seq into v_last;' : 'returning c.last_seq, c.last_message_at into v_last, v_at;';
  const insert =
    version === 1
      ? `    insert into ${s}.messages as m (user_id, conversation_id, seq, id, turn_id, role, content, metadata)
    values (p_user_id, p_conversation_id, v_last - 1, p_user_message_id, p_turn_id, 'user', p_user_content, p_user_metadata),
           (p_user_id, p_conversation_id, v_last, p_assistant_message_id, p_turn_id, 'assistant', p_assistant_content, p_assistant_metadata)`
      : `    insert into ${s}.messages as m (user_id, conversation_id, seq, id, turn_id, role, content, metadata, created_at)
    values (p_user_id, p_conversation_id, v_last - 1, p_user_message_id, p_turn_id, 'user', p_user_content, p_user_metadata, v_at),
           (p_user_id, p_conversation_id, v_last, p_assistant_message_id, p_turn_id, 'assistant', p_assistant_content, p_assistant_metadata, v_at)`;
  return `${verb} function ${s}.append_turn(
  p_user_id ${uid}, p_conversation_id uuid, p_turn_id uuid,
  p_user_message_id uuid, p_user_content text, p_user_metadata jsonb,
  p_assistant_message_id uuid, p_assistant_content text, p_assistant_metadata jsonb,
  p_idempotency_key text, p_request_hash text
) returns table (seq bigint, id uuid, created_at timestamptz)
language plpgsql as $fn$
declare
${declare}
begin
  update ${s}.conversations c
     set last_seq = c.last_seq + 2,
         message_count = c.message_count + 2,
         last_message_at = ${at.lastMessage},
         updated_at = ${at.updated},
         activity = nextval('${s}.conversation_activity_seq'),
         summary = case when not c.summary_is_explicit and c.message_count = 0
                        then left(p_user_content, 100) else c.summary end
   where c.user_id = p_user_id and c.id = p_conversation_id
  ${returning}
  if not found then
    return;
  end if;
  if p_idempotency_key is not null then
    insert into ${s}.idempotency_keys (user_id, key, conversation_id, turn_id, first_seq, request_hash)
    values (p_user_id, p_idempotency_key, p_conversation_id, p_turn_id, v_last - 1, p_request_hash);
  end if;
  return query
${insert}
    returning m.seq, m.id, m.created_at;
end
$fn$`;
}
