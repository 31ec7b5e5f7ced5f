import type { Migration } from '../migrate/migration.js';

/**
 * Request counts that every server on one database shares (issue 3:
 * `chatkeep serve --rate-limit-scope database`), so a user's limit holds
 * across machines behind a load balancer instead of multiplying by their
 * number. One row per counted key and fixed window. The key is stored as
 * its SHA-256 hash: the counts need no user id or client address, and so
 * hold none. Unlogged: a count is worth neither a WAL record per request
 * nor a replica; a crash of PostgreSQL empties the table, which only
 * restarts the open windows.
 */
export const rateLimitsMigration: Migration = {
  version: 8,
  name: 'rate-limits',
  up: (ctx) => [
    `create unlogged table ${ctx.schema}.rate_limit_windows (
  key_hash text not null constraint rate_limit_windows_key_hash_check check (key_hash ~ '^[0-9a-f]{64}$'),
  hits integer not null constraint rate_limit_windows_hits_check check (hits >= 1),
  started_at timestamptz not null,
  ends_at timestamptz not null,
  constraint rate_limit_windows_pkey primary key (key_hash),
  constraint rate_limit_windows_window_check check (ends_at > started_at)
)`,
  ],
  down: (ctx) => [`drop table ${ctx.schema}.rate_limit_windows`],
};
