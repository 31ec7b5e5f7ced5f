/**
 * The one table of chatkeep's error codes: code, default message, and the HTTP
 * status a front door maps it to. `docs/errors.md` documents the same table and
 * a test fails when the two disagree (STYLE 8).
 */
export const ERROR_CATALOGUE = {
  CK_VALIDATION: { status: 400, message: 'Invalid input' },
  CK_NOT_FOUND: { status: 404, message: 'Not found' },
  CK_FORBIDDEN: { status: 403, message: 'Forbidden' },
  CK_CONFLICT: { status: 409, message: 'Conflict' },
  CK_IDEMPOTENCY_MISMATCH: {
    status: 409,
    message: 'Idempotency key was already used for a different request',
  },
  CK_TURN_FINISHED: { status: 409, message: 'The streamed turn is already committed or aborted' },
  CK_UNAUTHENTICATED: { status: 401, message: 'A valid bearer token is required' },
  CK_RATE_LIMITED: { status: 429, message: 'Too many requests; retry after the time in Retry-After' },
  CK_PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  CK_SHUTTING_DOWN: { status: 503, message: 'The server is shutting down; retry shortly' },
  CK_SESSION_NOT_ACTIVE: { status: 409, message: 'Onboarding session is not active' },
  CK_AGENT_FAILED: { status: 502, message: 'The agent failed; nothing was saved' },
  CK_AGENT_TIMEOUT: { status: 504, message: 'The agent timed out; nothing was saved' },
  CK_DB_UNAVAILABLE: { status: 503, message: 'The database cannot be reached' },
  CK_AUTH_UNAVAILABLE: { status: 503, message: 'The token cannot be checked right now: the identity provider\'s keys cannot be fetched' },
  CK_DATA_DIR: { status: 500, message: 'The data folder cannot be used' },
  CK_CONFIG: { status: 500, message: 'Invalid configuration' },
  CK_SCHEMA_NOT_READY: {
    status: 503,
    message: 'The chatkeep schema is missing or behind; run `chatkeep migrate up`',
  },
  CK_STORE_CLOSED: { status: 503, message: 'The store is closed' },
  CK_MIGRATION_CHECKSUM: {
    status: 500,
    message: 'An applied migration was edited after it ran',
  },
  CK_MIGRATION_HISTORY: {
    status: 500,
    message: 'Migrations on disk do not match the history recorded in the database',
  },
  CK_MIGRATION_FAILED: { status: 500, message: 'A migration failed and was rolled back' },
  CK_MIGRATION_INVARIANT: {
    status: 500,
    message: 'A migration broke an invariant it declared and was undone',
  },
  CK_MIGRATION_LINT: {
    status: 500,
    message: 'A pending migration has lint errors; nothing was run',
  },
  CK_MIGRATION_LOCK: { status: 503, message: 'Timed out waiting for the migration lock' },
  CK_MIGRATION_TARGET: { status: 400, message: 'Unknown migration target version' },
  CK_INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { readonly status: number; readonly message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
