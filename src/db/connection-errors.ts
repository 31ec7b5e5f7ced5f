import type pg from 'pg';
import { ChatkeepError, sqlState, wrapDriverError } from '../errors/index.js';
import { redactUrl } from './database-options.js';

/** What pg-pool (3.x) rejects a call with when no connection of a full pool was released within connectionTimeoutMillis. */
const POOL_WAIT_TIMEOUT = 'timeout exceeded when trying to connect';

/**
 * Types the error of a call that got no connection from the pool: every
 * such failure is the database being unavailable to the call
 * (CK_DB_UNAVAILABLE), with a message that says why. Nothing was sent.
 *
 * - The pool was full and none of its connections was released in time
 *   (long transactions, a burst larger than poolSize). pg-pool's Error has
 *   neither a SQLSTATE nor a socket code, so it reached the caller untyped.
 * - A new connection was refused after the open had succeeded: credentials
 *   rotated, the role disabled (28000, 28P01), the database dropped or
 *   renamed (3D000). wrapDriverError reads those SQLSTATEs as a failed
 *   statement, CK_INTERNAL "Database error 28000", which says neither what
 *   nor that a retry may pass; the open says "Cannot reach …" for the same
 *   refusal. A server's words about a refused connection hold no chat
 *   content, so they are kept in the message.
 *
 * What wrapDriverError already types (a closed pool is CK_STORE_CLOSED, a
 * connection limit 53300 names poolSize) is left as it types it.
 */
export function typedConnectError(pool: pg.Pool, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { max, connectionTimeoutMillis, connectionString } = pool.options;
  if (error.message === POOL_WAIT_TIMEOUT) {
    return new ChatkeepError(
      'CK_DB_UNAVAILABLE',
      `None of the poolSize (${max}) connections of the pool was free within connectTimeoutMs (${connectionTimeoutMillis} ms); nothing was sent. Raise poolSize, or shorten the work that holds connections`,
      { field: 'poolSize' },
      { cause: error },
    );
  }
  const typed = wrapDriverError(error);
  if (typed instanceof ChatkeepError && typed.code !== 'CK_INTERNAL') return typed;
  const state = sqlState(error);
  const reason = error.message || (error as NodeJS.ErrnoException).code || 'unknown error';
  return new ChatkeepError(
    'CK_DB_UNAVAILABLE',
    `Cannot connect to PostgreSQL at ${redactUrl(connectionString ?? '')}: ${reason}${state === undefined ? '' : ` (${state})`}; nothing was sent`,
    state === undefined ? {} : { sqlState: state },
    { cause: error },
  );
}
