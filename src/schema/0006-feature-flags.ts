import type { Migration } from '../migrate/migration.js';
import { userIdColumn } from './sql-fragments.js';

/**
 * Feature flags with a per-user percentage rollout (issue 4, seed 004
 * MIGRATION-002: switch readers to a new shape gradually).
 *
 * `feature_flags` is keyed by the flag's name alone: it is configuration, not
 * user data, and small (on Citus it would be a reference table, which a
 * distributed table may reference). `feature_flag_overrides` is user data and
 * leads with `user_id` like every other user table, so a user's overrides sit
 * together and go with the user (cascade from the host's users table when one
 * is configured; `eraseUser` otherwise). Deleting a flag deletes its
 * overrides; the index on `flag` keeps that cascade from scanning every
 * user's rows.
 *
 * The rollout percentage has two decimals (0.01 % steps, the resolution of
 * the store's hash buckets); the salt is the rollout's seed (see
 * src/store/feature-flags.ts).
 */
export const featureFlagsMigration: Migration = {
  version: 6,
  name: 'feature-flags',
  up: (ctx) => {
    const s = ctx.schema;
    return [
      `create table ${s}.feature_flags (
  name text not null constraint feature_flags_name_check check (char_length(name) <= 100 and name ~ '^[a-z][a-z0-9]*([.-][a-z0-9]+)*$'),
  description text not null default '' constraint feature_flags_description_check check (char_length(description) <= 1000),
  enabled boolean not null default false,
  rollout_percent numeric(5, 2) not null default 0 constraint feature_flags_rollout_percent_check check (rollout_percent between 0 and 100),
  salt text not null constraint feature_flags_salt_check check (char_length(salt) between 1 and 100),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint feature_flags_pkey primary key (name)
)`,
      `create table ${s}.feature_flag_overrides (
  ${userIdColumn(ctx, 'feature_flag_overrides')},
  flag text not null,
  enabled boolean not null,
  created_at timestamptz not null default now(),
  constraint feature_flag_overrides_pkey primary key (user_id, flag),
  constraint feature_flag_overrides_flag_fk foreign key (flag) references ${s}.feature_flags (name) on delete cascade
)`,
      `create index feature_flag_overrides_flag_idx on ${s}.feature_flag_overrides (flag)`,
    ];
  },
  down: (ctx) => [`drop table ${ctx.schema}.feature_flag_overrides`, `drop table ${ctx.schema}.feature_flags`],
};
