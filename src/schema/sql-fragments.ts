import type { MigrationContext } from '../migrate/migration.js';
import { settingsFromJson, type SchemaSettings } from './schema-settings.js';

/**
 * Pieces of DDL shared by chatkeep's migrations. Migrations are frozen in time,
 * so these helpers must only ever be extended, never changed in a way that
 * alters the SQL an already-released migration renders (its checksum).
 */
export function settingsOf(context: MigrationContext): SchemaSettings {
  return settingsFromJson(context.settings);
}

/** Opaque user ids: printable, no spaces, 1–128 chars (seed 003 T008 "user_id format"). */
export const USER_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@|+=-]{0,127}$';

/** What a user id that fails USER_ID_PATTERN is told, by the store and by the CLI before it opens one. */
export const USER_ID_RULE = 'expected 1–128 characters: letters, digits and . _ : @ | + = -, starting with a letter or digit';

/** A UUID in any letter case: the ids of conversations, messages, turns, sessions and API keys. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The `user_id` column of a table that is owned directly by a user: a foreign
 * key to the host's users table when one is configured, else a format CHECK.
 */
export function userIdColumn(context: MigrationContext, table: string): string {
  const { users } = settingsOf(context);
  if (users === null) {
    return `user_id text not null constraint ${table}_user_id_check check (user_id ~ '${USER_ID_PATTERN}')`;
  }
  return `user_id ${users.type} not null constraint ${table}_user_fk references ${users.table} (${users.column}) on delete cascade`;
}

/** The type of `user_id` in tables that reach the user through another table. */
export function userIdType(context: MigrationContext): string {
  return settingsOf(context).users?.type ?? 'text';
}

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
