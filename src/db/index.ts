export { openDatabase, hotStatement, type Database, type DatabaseKind, type HotStatement } from './database.js';
export {
  resolveDatabaseOptions,
  redactUrl,
  MEMORY_DATA_DIR,
  DEFAULT_DATA_DIR,
  type DatabaseOptions,
  type ResolvedDatabaseOptions,
} from './database-options.js';
export type * from './tables.js';
export { applySessionSettings, CHATKEEP_TYPES } from './type-parsers.js';
export { survivingLostConnections } from './lost-connections.js';
export { ALL_USERS, runInRowScope, selfScopingUser, type RowScope } from './row-scope.js';
