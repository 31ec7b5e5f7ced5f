import type { Migration } from '../migrate/migration.js';
import { settingsOf, sqlString, userIdColumn } from './sql-fragments.js';
import { settingsToJson } from './schema-settings.js';

/**
 * The install record and conversations (SPEC R-CHAT-1). `user_id` leads the
 * primary key so a user's rows sit together and a Citus cluster can shard by
 * it (R-RUN-3). `last_seq` is the per-conversation message counter that
 * 0002's trigger advances; the conversation row is the allocation point.
 */
export const conversationsMigration: Migration = {
  version: 1,
  name: 'conversations',
  up: (ctx) => {
    const s = ctx.schema;
    return [
      `create table ${s}.install (
  key text primary key,
  value jsonb not null,
  recorded_at timestamptz not null default now()
)`,
      `insert into ${s}.install (key, value) values ('settings', ${sqlString(JSON.stringify(settingsToJson(settingsOf(ctx))))}::jsonb)`,
      // Orders conversations by latest activity. A sequence rather than
      // updated_at, because PGlite's clock has millisecond resolution and two
      // changes in one millisecond must still have a definite order.
      `create sequence ${s}.conversation_activity_seq`,
      `create table ${s}.conversations (
  ${userIdColumn(ctx, 'conversations')},
  id uuid not null default gen_random_uuid(),
  title text constraint conversations_title_check check (title is null or char_length(title) between 1 and 200),
  summary text not null default '' constraint conversations_summary_check check (char_length(summary) <= 100),
  summary_is_explicit boolean not null default false,
  metadata jsonb not null default '{}' constraint conversations_metadata_check check (jsonb_typeof(metadata) = 'object'),
  message_count integer not null default 0 constraint conversations_message_count_check check (message_count >= 0),
  last_seq bigint not null default 0 constraint conversations_last_seq_check check (last_seq >= 0),
  last_message_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  activity bigint not null default nextval('${s}.conversation_activity_seq'),
  constraint conversations_pkey primary key (user_id, id)
) with (fillfactor = 90)`,
      // No index covers the columns every turn updates (counters, times,
      // activity): the update then stays HOT (no index entries, no index
      // bloat), and fillfactor leaves room on the page for it. Listing a
      // user's conversations scans their primary-key range and sorts it.
    ];
  },
  down: (ctx) => [
    `drop table ${ctx.schema}.conversations`,
    `drop sequence ${ctx.schema}.conversation_activity_seq`,
    `drop table ${ctx.schema}.install`,
  ],
};
