import type { Migration } from '../migrate/migration.js';
import { verify } from '../migrate/steps.js';

/** Every table that holds a user's rows; each leads with `user_id`. */
export const USER_TABLES = [
  'conversations',
  'messages',
  'idempotency_keys',
  'onboarding_sessions',
  'streamed_turns',
  'api_keys',
  'feature_flag_overrides',
] as const;

/**
 * Row-level security on every user table (SPEC R-SEC-1, DESIGN "Database
 * principles"): defence in depth behind the store's own scoping, so a query
 * that forgot its `where user_id = …` still sees and changes one user's rows
 * only. The policy reads two session settings that the store sets on each
 * connection it reserves (src/db/row-scope.ts): `chatkeep.user_id`, the
 * acting user in the store's spelling, and `chatkeep.all_users = 'on'` for
 * its system-scope operations (retention, turn sweeps, API-key lookup by
 * hash). Unset, nothing is visible and nothing can be written.
 *
 * Enabled, not forced: as PostgreSQL does for every policy, the tables'
 * owner (who runs migrations) and superusers are not bound, so migrations,
 * backfills, pg_dump and the host's administration work as before. The
 * policies bind a role that only has the grants the store needs
 * (`chatkeep migrate grant <role>`, docs/security.md); the store notices
 * at open that they bind it and from then on sets the scope.
 *
 * `user_id::text` makes one policy text fit every configured user id type;
 * the store passes the id in the spelling the type prints (`7`, lower-case
 * uuid). Foreign-key checks and cascades bypass policies by design.
 *
 * Both statements take ACCESS EXCLUSIVE on their table. One transaction for
 * all seven tables would hold all seven locks until it commits, and an
 * application transaction that locks two of them in the other order would
 * deadlock with it (lint: multiple-tables-locked). So each table gets its own
 * transaction, a phase closed by a check that it is protected: one table
 * at a time is locked, for a few milliseconds, and a run killed half-way
 * resumes at the next table.
 */
export const rowLevelSecurityMigration: Migration = {
  version: 7,
  name: 'row-level-security',
  up: (ctx) =>
    USER_TABLES.flatMap((table) => [
      `alter table ${ctx.schema}.${table} enable row level security`,
      `create policy ${table}_user_scope on ${ctx.schema}.${table}
  using (user_id::text = current_setting('chatkeep.user_id', true) or current_setting('chatkeep.all_users', true) = 'on')`,
      verify(`${table} is protected by row-level security`, rowSecurityIs(ctx.schema, table, true)),
    ]),
  down: (ctx) =>
    [...USER_TABLES].reverse().flatMap((table) => [
      `drop policy ${table}_user_scope on ${ctx.schema}.${table}`,
      `alter table ${ctx.schema}.${table} disable row level security`,
      verify(`${table} is no longer protected by row-level security`, rowSecurityIs(ctx.schema, table, false)),
    ]),
};

function rowSecurityIs(schema: string, table: string, enabled: boolean): string {
  return `select relrowsecurity = ${enabled} and (select count(*) from pg_catalog.pg_policy where polrelid = c.oid) = ${enabled ? 1 : 0}
  from pg_catalog.pg_class c where c.oid = '${schema}.${table}'::regclass`;
}
