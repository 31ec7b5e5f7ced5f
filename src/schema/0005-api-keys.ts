import type { Migration } from '../migrate/migration.js';
import { userIdColumn } from './sql-fragments.js';

/**
 * API keys that chatkeep issues to users (issue 3, HTTP auth). Only a SHA-256
 * hash of each key is stored: keys are 256-bit random secrets, so a fast hash
 * is as strong as a slow one here and keeps every authenticated request one
 * index lookup. The hash is looked up without knowing the user (the key is
 * the only credential presented), hence its own unique index; every other
 * key leads with user_id like the rest of the schema.
 */
export const apiKeysMigration: Migration = {
  version: 5,
  name: 'api-keys',
  up: (ctx) => {
    const s = ctx.schema;
    return [
      `create table ${s}.api_keys (
  ${userIdColumn(ctx, 'api_keys')},
  id uuid not null,
  name text not null default '' constraint api_keys_name_check check (char_length(name) <= 100),
  prefix text not null constraint api_keys_prefix_check check (prefix ~ '^ck_[0-9a-f]{8}$'),
  secret_hash text not null constraint api_keys_secret_hash_check check (secret_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  constraint api_keys_pkey primary key (user_id, id),
  constraint api_keys_secret_hash_key unique (secret_hash)
)`,
    ];
  },
  down: (ctx) => [`drop table ${ctx.schema}.api_keys`],
};
