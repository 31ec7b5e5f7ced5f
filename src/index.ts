/**
 * chatkeep — the persistence layer for AI chat applications.
 *
 * The library's deliberate public surface (STYLE 4). The migration engine is
 * the subpath `chatkeep/migrate`.
 */
export * from './store/index.js';
export { demoAgent, demoStreamingAgent, openAiCompatibleAgent, type OpenAiAgentOptions } from './agents/index.js';
export { openDatabase, type Database, type DatabaseKind, type DatabaseOptions } from './db/index.js';
export {
  ChatkeepError,
  ConflictError,
  NotFoundError,
  ValidationError,
  isChatkeepError,
  ERROR_CATALOGUE,
  type ErrorCode,
  type ErrorDetails,
} from './errors/index.js';
export {
  CHATKEEP_MIGRATIONS,
  chatkeepMigrator,
  ALL_ROLES,
  DEFAULT_SCHEMA_SETTINGS,
  extendStoreRoles,
  grantStoreRole,
  type MessageRole,
  type SchemaSettings,
  type UserIdType,
  type UsersReference,
} from './schema/index.js';
