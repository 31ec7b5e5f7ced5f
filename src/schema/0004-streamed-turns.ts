import type { Migration } from '../migrate/migration.js';
import { settingsOf, userIdType } from './sql-fragments.js';

/**
 * Streamed turns (issue 3): a turn whose reply is produced over time. `begin`
 * reserves the turn's ids and holds the user's message here, outside
 * `messages`, so history never shows half a turn; `commit` moves both
 * messages into `messages` with the same append_turn() a plain turn uses, in
 * the same transaction that marks the row committed. A crash or a dead client
 * leaves only a `streaming` row, which nobody reads as history and which the
 * sweeper aborts once `expires_at` passes.
 *
 * `messages.aborted` marks an assistant reply that was cut short and kept on
 * request. Adding a column with a constant default is a catalogue-only change
 * (no table rewrite, PostgreSQL ≥ 11), and a boolean needs no CHECK, so this
 * migration takes its lock on `messages` for milliseconds, not a scan.
 */
export const streamedTurnsMigration: Migration = {
  version: 4,
  name: 'streamed-turns',
  up: (ctx) => {
    const s = ctx.schema;
    const { maxContentLength } = settingsOf(ctx);
    const uid = userIdType(ctx);
    return [
      `alter table ${s}.messages add column aborted boolean not null default false`,
      `create table ${s}.streamed_turns (
  user_id ${uid} not null,
  id uuid not null,
  conversation_id uuid not null,
  state text not null default 'streaming' constraint streamed_turns_state_check check (state in ('streaming', 'committed', 'aborted')),
  user_message_id uuid not null,
  assistant_message_id uuid not null,
  user_content text not null constraint streamed_turns_user_content_check check (char_length(user_content) between 1 and ${maxContentLength} and user_content ~ '\\S'),
  user_metadata jsonb not null default '{}' constraint streamed_turns_user_metadata_check check (jsonb_typeof(user_metadata) = 'object'),
  assistant_content text not null default '' constraint streamed_turns_assistant_content_check check (char_length(assistant_content) <= ${maxContentLength}),
  idempotency_key text constraint streamed_turns_idempotency_key_check check (char_length(idempotency_key) between 1 and 200),
  request_hash text,
  kept_partial boolean not null default false,
  abandon_after_ms integer not null constraint streamed_turns_abandon_after_ms_check check (abandon_after_ms between 1000 and 86400000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  expires_at timestamptz not null,
  finished_at timestamptz,
  constraint streamed_turns_finished_check check ((state = 'streaming') = (finished_at is null)),
  constraint streamed_turns_pkey primary key (user_id, id),
  constraint streamed_turns_conversation_fk foreign key (user_id, conversation_id)
    references ${s}.conversations (user_id, id) on delete cascade
)`,
      // A retried begin with the same key finds the turn it started.
      `create unique index streamed_turns_idempotency_key_idx on ${s}.streamed_turns (user_id, idempotency_key) where idempotency_key is not null`,
      // The sweeper's two scans: abandoned streams, and finished rows past retention.
      `create index streamed_turns_expires_idx on ${s}.streamed_turns (expires_at) where state = 'streaming'`,
      `create index streamed_turns_finished_idx on ${s}.streamed_turns (finished_at) where state <> 'streaming'`,
    ];
  },
  down: (ctx) => [`drop table ${ctx.schema}.streamed_turns`, `alter table ${ctx.schema}.messages drop column aborted`],
};
