import { sql, type Kysely } from 'kysely';
import { ChatkeepError, sqlState } from '../errors/index.js';
import { Migrator } from '../migrate/migrator.js';
import type { MigrationEventListener } from '../migrate/migration-event.js';
import { CHATKEEP_MIGRATIONS } from './migrations.js';
import {
  resolveSchemaSettings,
  sameSettings,
  settingsFromJson,
  settingsToJson,
  type SchemaSettings,
  type SchemaSettingsInput,
} from './schema-settings.js';

/** The settings a caller asks for; anything left out takes the installed (or default) value. */
export type RequestedSettings = SchemaSettingsInput;

/**
 * The settings recorded at first migrate, or undefined when chatkeep is not
 * installed in `schema` yet.
 */
export async function readInstalledSettings(db: Kysely<any>, schema: string): Promise<SchemaSettings | undefined> {
  try {
    const { rows } = await sql<{ value: unknown }>`select value from ${sql.id(schema, 'install')} where key = 'settings'`.execute(db);
    const value = rows[0]?.value;
    if (value === undefined) return undefined;
    return settingsFromJson((typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>);
  } catch (error) {
    // 42P01 undefined_table, 3F000 invalid_schema_name: not installed yet.
    if (sqlState(error) === '42P01' || sqlState(error) === '3F000') return undefined;
    throw error;
  }
}

/**
 * The settings to use: the installed ones when chatkeep is installed (a
 * request that contradicts them is refused, naming the field, because the
 * database's constraints were built from them), else the requested ones.
 */
export async function settingsForDatabase(db: Kysely<any>, schema: string, requested: RequestedSettings = {}): Promise<SchemaSettings> {
  const installed = await readInstalledSettings(db, schema);
  if (installed === undefined) return resolveSchemaSettings(requested);
  const merged = resolveSchemaSettings({
    users: requested.users === undefined ? installed.users : requested.users,
    maxContentLength: requested.maxContentLength ?? installed.maxContentLength,
    roles: requested.roles ?? installed.roles,
  });
  if (!sameSettings(merged, installed)) {
    const field = (['users', 'maxContentLength', 'roles'] as const).find(
      (k) => JSON.stringify(settingsToJson(merged)[k]) !== JSON.stringify(settingsToJson(installed)[k]),
    );
    throw new ChatkeepError(
      'CK_CONFIG',
      `${field}: chatkeep in schema "${schema}" was installed with ${field} = ${JSON.stringify(settingsToJson(installed)[field ?? 'users'])}; ` +
        `the requested ${JSON.stringify(settingsToJson(merged)[field ?? 'users'])} would not match the database's constraints`,
      { field: field ?? 'settings' },
    );
  }
  return installed;
}

/**
 * The migrator for chatkeep's own schema. `down({ to: 0 })` removes every
 * trace of chatkeep, bookkeeping and schema included.
 */
export function chatkeepMigrator(
  db: Kysely<any>,
  options: { readonly schema: string; readonly settings: SchemaSettings; readonly onEvent?: MigrationEventListener; readonly lockWaitMs?: number },
): Migrator {
  return new Migrator({
    db,
    migrations: CHATKEEP_MIGRATIONS,
    schema: options.schema,
    settings: settingsToJson(options.settings),
    removeBookkeepingAtZero: true,
    ...(options.onEvent !== undefined ? { onEvent: options.onEvent } : {}),
    ...(options.lockWaitMs !== undefined ? { lockWaitMs: options.lockWaitMs } : {}),
  });
}
