export { CHATKEEP_MIGRATIONS } from './migrations.js';
export {
  chatkeepMigrator,
  readInstalledSettings,
  settingsForDatabase,
  type RequestedSettings,
} from './chatkeep-migrator.js';
export {
  ALL_ROLES,
  DEFAULT_SCHEMA_SETTINGS,
  resolveSchemaSettings,
  sameSettings,
  settingsFromJson,
  settingsToJson,
  type MessageRole,
  type SchemaSettings,
  type SchemaSettingsInput,
  type UserIdType,
  type UsersReference,
} from './schema-settings.js';
export { USER_ID_PATTERN, USER_ID_RULE, UUID_PATTERN } from './sql-fragments.js';
export { assertIdentifier } from '../migrate/identifier.js';
export { assertStorePrivileges, extendStoreRoles, grantStoreRole } from './store-role.js';
