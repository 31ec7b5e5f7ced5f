import { ChatkeepError } from '../errors/index.js';
import { assertIdentifier } from '../migrate/identifier.js';

/** Message roles chatkeep knows. Apps enable `system` and `tool` explicitly. */
export const ALL_ROLES = ['user', 'assistant', 'system', 'tool'] as const;
export type MessageRole = (typeof ALL_ROLES)[number];

/** The column type of the host application's user id. */
export type UserIdType = 'text' | 'uuid' | 'integer' | 'bigint';

/**
 * The host application's users table. With it, every chatkeep row gets a real
 * foreign key to the user (deleting the user deletes their chat data); without
 * it, user ids are opaque strings checked for format.
 */
export interface UsersReference {
  /** Table, optionally schema-qualified: `users` or `public.users`. */
  readonly table: string;
  /** Key column (default `id`). */
  readonly column?: string;
  /** Its type (default `text`). */
  readonly type?: UserIdType;
}

/**
 * What chatkeep's schema is rendered with. Recorded in `<schema>.install` at the
 * first migrate; later opens read it back, and a store opened with different
 * settings is refused (CK_CONFIG) instead of silently disagreeing with the
 * constraints in the database.
 */
export interface SchemaSettings {
  readonly users: Required<UsersReference> | null;
  /** Longest message content, in characters (default 100,000; the Todo profile uses 1,000). */
  readonly maxContentLength: number;
  /** Roles a message may have (default user, assistant). */
  readonly roles: readonly MessageRole[];
}

export const DEFAULT_SCHEMA_SETTINGS: SchemaSettings = {
  users: null,
  maxContentLength: 100_000,
  roles: ['user', 'assistant'],
};

const QUALIFIED = /^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/;

/** Checks and completes user-supplied settings; throws CK_CONFIG naming the field. */
export interface SchemaSettingsInput {
  readonly users?: UsersReference | null | undefined;
  readonly maxContentLength?: number | undefined;
  readonly roles?: readonly MessageRole[] | undefined;
}

export function resolveSchemaSettings(input: SchemaSettingsInput = {}): SchemaSettings {
  const users = input.users ?? null;
  let resolvedUsers: Required<UsersReference> | null = null;
  if (users !== null) {
    if (!QUALIFIED.test(users.table)) {
      throw new ChatkeepError('CK_CONFIG', `users.table: expected table or schema.table, got ${JSON.stringify(users.table)}`, { field: 'users.table' });
    }
    const column = assertIdentifier('users.column', users.column ?? 'id');
    const type = users.type ?? 'text';
    if (!['text', 'uuid', 'integer', 'bigint'].includes(type)) {
      throw new ChatkeepError('CK_CONFIG', `users.type: expected text, uuid, integer or bigint`, { field: 'users.type' });
    }
    resolvedUsers = { table: users.table, column, type };
  }
  const maxContentLength = input.maxContentLength ?? DEFAULT_SCHEMA_SETTINGS.maxContentLength;
  if (!Number.isInteger(maxContentLength) || maxContentLength < 1 || maxContentLength > 10_000_000) {
    throw new ChatkeepError('CK_CONFIG', 'maxContentLength: expected an integer from 1 to 10,000,000', { field: 'maxContentLength' });
  }
  const roles = input.roles ?? DEFAULT_SCHEMA_SETTINGS.roles;
  if (roles.length === 0 || roles.some((r) => !(ALL_ROLES as readonly string[]).includes(r)) || !roles.includes('user') || !roles.includes('assistant')) {
    throw new ChatkeepError('CK_CONFIG', `roles: must include user and assistant, and only ${ALL_ROLES.join(', ')}`, { field: 'roles' });
  }
  const ordered = ALL_ROLES.filter((r) => roles.includes(r));
  return { users: resolvedUsers, maxContentLength, roles: ordered };
}

/** Settings as stored in the database and passed to migrations (plain JSON). */
export function settingsToJson(settings: SchemaSettings): Record<string, unknown> {
  return { users: settings.users, maxContentLength: settings.maxContentLength, roles: [...settings.roles] };
}

export function settingsFromJson(json: Readonly<Record<string, unknown>>): SchemaSettings {
  return resolveSchemaSettings(json as SchemaSettingsInput);
}

export function sameSettings(a: SchemaSettings, b: SchemaSettings): boolean {
  return JSON.stringify(settingsToJson(a)) === JSON.stringify(settingsToJson(b));
}
