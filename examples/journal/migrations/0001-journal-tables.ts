import type { Migration } from '../../../src/migrate/index.js';

/**
 * The journal app as it is before seed 004's schema work: users, their
 * entries, and the AI analysis of each entry in its existing shape — the
 * model as one `type@version` string, the processing details in a
 * free-form JSON document.
 */
export const journalTablesMigration: Migration = {
  version: 1,
  name: 'journal-tables',
  up: ({ schema: s }) => [
    `create table ${s}.users (
  id text primary key,
  name text not null,
  created_at timestamptz not null default now()
)`,
    `create table ${s}.entries (
  id bigint generated always as identity primary key,
  user_id text not null constraint entries_user_fk references ${s}.users (id) on delete cascade,
  body text not null,
  created_at timestamptz not null default now()
)`,
    `create index entries_user_idx on ${s}.entries (user_id, created_at)`,
    `create table ${s}.ai_analysis (
  id bigint generated always as identity primary key,
  entry_id bigint not null constraint ai_analysis_entry_fk references ${s}.entries (id) on delete cascade,
  user_id text not null constraint ai_analysis_user_fk references ${s}.users (id) on delete cascade,
  status text not null default 'completed' constraint ai_analysis_status_check check (status in ('queued', 'processing', 'completed', 'failed')),
  result jsonb,                 -- the analysis itself: sentiment, themes, …
  model text,                   -- 'gemini_2_5_flash_lite@2025-06-17': type@version
  processing_metadata jsonb,    -- {"requestTokens": 812, "responseTokens": 240, "cached": false, "batch": true, "region": "eu-west1", …}
  api_cost numeric(10, 6),
  processing_time_ms integer,
  created_at timestamptz not null default now()
)`,
    `create index ai_analysis_user_idx on ${s}.ai_analysis (user_id, created_at)`,
  ],
  down: ({ schema: s }) => [
    `drop table ${s}.ai_analysis`,
    `drop table ${s}.entries`,
    `drop table ${s}.users`,
  ],
};
