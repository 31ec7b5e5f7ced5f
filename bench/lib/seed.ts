import { createHash } from 'node:crypto';

/**
 * The data every target is seeded with, identical in content and physical
 * order: `conversations` conversations of `messagesPerConversation` messages
 * spread over `users` users, plus one conversation of `bigConversation`
 * messages. Messages of the many conversations are inserted round-robin
 * (message 1 of every conversation, then message 2, …) so that, as in a live
 * table where many conversations are active at once, one conversation's
 * messages are scattered over the heap instead of sitting on adjacent pages.
 */
export interface SeedShape {
  readonly conversations: number;
  readonly messagesPerConversation: number;
  readonly users: number;
  readonly bigConversation: number;
}

export function totalMessages(shape: SeedShape): number {
  return shape.conversations * shape.messagesPerConversation + shape.bigConversation;
}

/** The key every target derives its conversation id from: `0`…`n-1`, or `big`. */
export type ConversationKey = number | 'big';

/** A seeded conversation: its owner and its UUID (the same UUID in every target). */
export interface SeededConversation {
  readonly userId: string;
  readonly id: string;
}

/** Same as SQL `md5('conv-' || key)::uuid`. */
export function seededConversation(shape: SeedShape, key: ConversationKey): SeededConversation {
  const hex = createHash('md5').update(`conv-${key}`).digest('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { userId: key === 'big' ? 'u-big' : `u${key % shape.users}`, id };
}

/** A JSON value as an SQL literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * A subquery of every seeded message with columns k (conversation key as
 * text), user_id, conversation_id, seq, role, content, turn_id — the many
 * conversations round-robin, then the big one in order.
 */
function messagesSource(shape: SeedShape, part: 'many' | 'big'): string {
  const generated =
    part === 'many'
      ? `select s, i::text as k, 'u' || (i % ${shape.users}) as user_id
           from generate_series(1, ${shape.messagesPerConversation}) s
          cross join generate_series(0, ${shape.conversations - 1}) i
          order by s, i`
      : `select s, 'big' as k, 'u-big' as user_id from generate_series(1, ${shape.bigConversation}) s`;
  return `(select g.k, g.user_id, md5('conv-' || g.k)::uuid as conversation_id, g.s::bigint as seq,
          case when g.s % 2 = 1 then 'user' else 'assistant' end as role,
          case when g.s % 2 = 1 then 'Question ' || g.s || ' about item ' || g.k || ': ' || repeat('lorem ipsum ', 6)
               else 'Answer ' || g.s || ': ' || repeat('dolor sit amet ', 25) end as content,
          md5('turn-' || g.k || '-' || ((g.s + 1) / 2))::uuid as turn_id
     from (${generated}) g) src`;
}

function conversationsSource(shape: SeedShape): string {
  return `(select i::text as k, 'u' || (i % ${shape.users}) as user_id, ${shape.messagesPerConversation}::bigint as n
             from generate_series(0, ${shape.conversations - 1}) i
           union all
           select 'big', 'u-big', ${shape.bigConversation}::bigint) c`;
}

/** The first message's content, as messagesSource renders it for seq 1. */
const FIRST_CONTENT = `'Question 1 about item ' || c.k || ': ' || repeat('lorem ipsum ', 6)`;

/**
 * chatkeep's tables, written directly: the seq-allocating trigger is disabled
 * while seeding (seq comes from the generator), and the conversation rows get
 * the counters the trigger would have left (last_seq, message_count, summary).
 */
export function chatkeepSeedSql(shape: SeedShape, schema: string): string[] {
  const s = schema;
  return [
    `alter table ${s}.messages disable trigger messages_allocate_seq`,
    `insert into ${s}.conversations (user_id, id, title, summary, message_count, last_seq, last_message_at)
     select c.user_id, md5('conv-' || c.k)::uuid, 'Conversation ' || c.k, left(${FIRST_CONTENT}, 100), c.n, c.n, now()
       from ${conversationsSource(shape)}`,
    ...(['many', 'big'] as const).map(
      (part) => `insert into ${s}.messages (user_id, conversation_id, seq, turn_id, role, content)
     select user_id, conversation_id, seq, turn_id, role, content from ${messagesSource(shape, part)}`,
    ),
    `alter table ${s}.messages enable trigger messages_allocate_seq`,
    `vacuum analyze ${s}.conversations`,
    `vacuum analyze ${s}.messages`,
  ];
}

/** The raw floor's tables: chatkeep's key shape, no triggers, checks or secondary indexes. */
export const RAW_DDL = [
  `create schema raw`,
  `create table raw.conversations (
     user_id text not null,
     id uuid not null,
     last_seq bigint not null default 0,
     created_at timestamptz not null default now(),
     primary key (user_id, id))`,
  `create table raw.messages (
     user_id text not null,
     conversation_id uuid not null,
     seq bigint not null,
     role text not null,
     content text not null,
     metadata jsonb not null default '{}',
     created_at timestamptz not null default now(),
     primary key (user_id, conversation_id, seq))`,
];

export function rawSeedSql(shape: SeedShape): string[] {
  return [
    `insert into raw.conversations (user_id, id, last_seq)
     select c.user_id, md5('conv-' || c.k)::uuid, c.n from ${conversationsSource(shape)}`,
    ...(['many', 'big'] as const).map(
      (part) => `insert into raw.messages (user_id, conversation_id, seq, role, content)
     select user_id, conversation_id, seq, role, content from ${messagesSource(shape, part)}`,
    ),
    `vacuum analyze raw.conversations`,
    `vacuum analyze raw.messages`,
  ];
}

/**
 * LangChain's table (created by LangChain itself), filled in the order its
 * `addMessages` would have: serial ids ascending in seq order per session.
 * `human`/`ai` are the JSON LangChain stores for a HumanMessage/AIMessage,
 * with `content` replaced per row.
 */
export function langchainSeedSql(
  shape: SeedShape,
  table: string,
  templates: { human: string; ai: string },
): string[] {
  return (['many', 'big'] as const)
    .map(
      (part) => `insert into ${table} (session_id, message)
     select conversation_id::text,
            jsonb_set(case when role = 'user' then ${literal(templates.human)}::jsonb else ${literal(templates.ai)}::jsonb end,
                      '{content}', to_jsonb(content))
       from ${messagesSource(shape, part)}`,
    )
    .concat([`vacuum analyze ${table}`]);
}
