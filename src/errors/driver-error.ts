import { ChatkeepError, ConflictError, NotFoundError, ValidationError } from './chatkeep-error.js';

/**
 * What a connection pooler in transaction or statement mode would break, for
 * the errors that refuse one: it hands one server session to many clients
 * between transactions, and chatkeep keeps state in its sessions.
 */
export const SESSION_STATE =
  'chatkeep keeps state in its database sessions (settings, named prepared statements, ' +
  "the migration's advisory lock, the row-level-security user), which such a pooler hands to other clients between transactions. " +
  'Point url at PostgreSQL itself, or at the pooler in session mode (PgBouncer pool_mode = session)';

/** The fields of a PostgreSQL error that both `pg` and PGlite expose. */
export interface PgErrorFields {
  readonly code?: string;
  readonly constraint?: string;
  readonly column?: string;
  readonly table?: string;
  readonly message?: string;
}

export function pgErrorFields(error: unknown): PgErrorFields | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  // EPIPE has the shape of a SQLSTATE too; it is a socket's, which isConnectionLoss classifies.
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || NETWORK_CODES.has(code)) return undefined;
  return error as PgErrorFields;
}

/** A SQLSTATE, when `error` came from PostgreSQL or PGlite. */
export function sqlState(error: unknown): string | undefined {
  return pgErrorFields(error)?.code;
}

/** The foreign keys from chatkeep's tables to its conversations (src/schema 0002–0004). */
const CONVERSATION_REFERENCES: ReadonlySet<string> = new Set([
  'messages_conversation_fk',
  'idempotency_keys_conversation_fk',
  'onboarding_sessions_conversation_fk',
  'streamed_turns_conversation_fk',
]);

/**
 * Maps constraint names to the API field they protect, so a rule enforced only
 * by the database (a direct SQL write, a race) still names the field.
 * Constraint names are chosen in src/schema to make this lookup possible.
 */
const CONSTRAINT_FIELDS: Readonly<Record<string, string>> = {
  messages_content_check: 'content',
  messages_role_check: 'role',
  messages_metadata_check: 'metadata',
  conversations_title_check: 'title',
  conversations_summary_check: 'summary',
  conversations_metadata_check: 'metadata',
  conversations_user_id_check: 'userId',
  conversations_user_fk: 'userId',
  onboarding_sessions_user_id_check: 'userId',
  onboarding_sessions_user_fk: 'userId',
  idempotency_keys_key_check: 'idempotencyKey',
  onboarding_sessions_progress_check: 'progress',
  onboarding_sessions_flow_check: 'flow',
  onboarding_sessions_phase_check: 'phase',
  onboarding_sessions_goals_check: 'goals',
  onboarding_sessions_context_check: 'context',
  onboarding_sessions_steps_check: 'steps',
  streamed_turns_user_content_check: 'message',
  streamed_turns_user_metadata_check: 'metadata',
  streamed_turns_assistant_content_check: 'text',
  streamed_turns_idempotency_key_check: 'idempotencyKey',
  streamed_turns_abandon_after_ms_check: 'abandonAfterMs',
  api_keys_user_id_check: 'userId',
  api_keys_user_fk: 'userId',
  api_keys_name_check: 'name',
};

/**
 * Wraps a driver error in a typed ChatkeepError, keeping the original as
 * `cause`. The query text and parameters are not copied into the message:
 * they may hold personal chat content (STYLE 9).
 */
export function wrapDriverError(error: unknown): unknown {
  if (error instanceof ChatkeepError) return error;
  const pg = pgErrorFields(error);
  if (pg === undefined) {
    // A call that passed the store's open check just before close() ended the pool (pg) or PGlite.
    if (error instanceof Error && CLOSED_MESSAGES.has(error.message)) {
      return new ChatkeepError('CK_STORE_CLOSED', undefined, {}, { cause: error });
    }
    if (isConnectionLoss(error)) {
      return new ChatkeepError('CK_DB_UNAVAILABLE', `The database connection failed: ${(error as Error).message}`, {}, { cause: error });
    }
    return error;
  }
  const constraint = pg.constraint ?? '';
  // A row pointing at a conversation that is not there: the store checks first,
  // but a delete committed between that check and the insert (READ COMMITTED)
  // reaches the foreign key instead. To the caller it is what the check would
  // have said, a missing conversation.
  if (pg.code === '23503' && CONVERSATION_REFERENCES.has(constraint)) {
    return new NotFoundError('conversation', { cause: error });
  }
  // With a host users table (SchemaSettings.users), a user id the table does not hold: a token
  // for someone the host app never created, or a user it deleted meanwhile.
  if (pg.code === '23503' && constraint.endsWith('_user_fk')) {
    return new ValidationError('userId', `not a user in the host application's users table (23503 ${constraint})`, { cause: error });
  }
  switch (pg.code) {
    case '23505':
      return new ConflictError(`Duplicate value violates ${constraint || 'a unique rule'}`, { constraint }, { cause: error });
    case '23514':
    case '23502':
    case '23503':
    case '22001':
    case '22P02':
    case '22023': {
      const field = CONSTRAINT_FIELDS[constraint] ?? pg.column ?? constraint ?? 'input';
      return new ValidationError(field || 'input', `rejected by the database (${pg.code}${constraint ? ` ${constraint}` : ''})`, { cause: error });
    }
    // A deadlock's victim or a serialization failure: the transaction was rolled back whole, so the
    // call wrote nothing and may simply be sent again.
    case '40P01':
    case '40001':
      return new ConflictError('A concurrent change to the same rows got in the way; nothing was written, retry', { sqlState: pg.code }, { cause: error });
    // Only chatkeep's hot statements are named; one that another client
    // prepared on this session, or that the session lost, means the
    // connection is not chatkeep's own: a pooler in transaction mode that
    // the open's probe (db/session-pooling.ts) could not see.
    case '42P05':
    case '26000':
      return new ChatkeepError(
        'CK_CONFIG',
        `url: the database session lost or shared a prepared statement (${pg.code}); a connection pooler in transaction or statement mode? ${SESSION_STATE}.`,
        { field: 'url', sqlState: pg.code },
        { cause: error },
      );
    default: {
      if (isLostConnectionState(pg.code)) return new ChatkeepError('CK_DB_UNAVAILABLE', undefined, { sqlState: pg.code }, { cause: error });
      const busy = BUSY_SERVER[pg.code ?? ''];
      if (busy !== undefined) return new ChatkeepError('CK_DB_UNAVAILABLE', busy, { sqlState: pg.code }, { cause: error });
      return new ChatkeepError('CK_INTERNAL', `Database error ${pg.code}`, { sqlState: pg.code }, { cause: error });
    }
  }
}

/**
 * A SQLSTATE that means the connection itself is gone or no good: class 08
 * (connection exception; PgBouncer answers 08P01 "server conn crashed?" on
 * a client whose server session was killed) and the operator interventions
 * of class 57P (administrator or crash shutdown, the server starting up,
 * the database dropped, an idle-session timeout). The call may be retried
 * on another connection; the one that saw it is not used again
 * (db/discarding-pool.ts).
 */
export function isLostConnectionState(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('08') || /^57P0[1-5]$/.test(code));
}

/**
 * A server that is there but will not serve this call now, by SQLSTATE,
 * with what to tell the caller (CK_DB_UNAVAILABLE). The transaction was
 * rolled back, so nothing was written and the call may be retried.
 */
const BUSY_SERVER: Readonly<Record<string, string>> = {
  // Refuses writes: after a failover a pooled connection can be left on the old primary, now a
  // standby; the connection is dropped (db/discarding-pool.ts), so a retry gets a new one.
  '25006': 'The database refuses writes (25006, read-only): a standby, e.g. after a failover? Nothing was written; retry',
  '57014': 'The database cancelled the statement (57014: statement_timeout, or a cancel request); nothing was written; retry',
  '55P03': 'What the call needed stayed locked past lock_timeout (55P03); nothing was written; retry',
  '53300': 'The database refuses more connections (53300: max_connections, or a connection limit of the role or database); lower poolSize or raise the limit',
  '53000': 'The database server ran out of a resource (53000: insufficient resources); nothing was written',
  '53100': 'The database server ran out of a resource (53100: disk full); nothing was written',
  '53200': 'The database server ran out of a resource (53200: out of memory); nothing was written',
  '53400': 'The database server ran out of a resource (53400: a configuration limit); nothing was written',
};

/** What pg's pool, PGlite and Kysely (once its driver was destroyed) throw at a query after they were closed or while they close. */
const CLOSED_MESSAGES = new Set([
  'Cannot use a pool after calling end on the pool',
  'PGlite is closing',
  'PGlite is closed',
  'PGlite instance is already closed.',
  'driver has already been destroyed',
]);

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);

/** Socket-level failures of `pg`, which carry a Node error code or only a message. */
function isConnectionLoss(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && NETWORK_CODES.has(code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(error.message);
}
