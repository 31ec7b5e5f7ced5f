import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ChatkeepError, firstIssue, isChatkeepError, type ErrorCode } from '../errors/index.js';
import { RequestValidationError } from './request-validation.js';

/** The body of every error response: `{ error: { code, message, details, requestId } }`. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly details: Record<string, unknown>; readonly requestId: string };
}

/**
 * Maps anything a route throws to the one error shape. chatkeep's own errors
 * keep their code and status; Fastify's request errors (bad JSON, schema
 * validation, body limit) become CK_VALIDATION / CK_PAYLOAD_TOO_LARGE naming
 * the field; anything else is a 500 whose cause is logged, not sent.
 */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const known = toChatkeepError(error, request);
  if (known.code === 'CK_INTERNAL') request.log.error({ err: error }, 'request failed');
  else if (EXPECTED_REFUSALS.has(known.code)) request.log.info({ code: known.code }, known.message);
  else if (known.status >= 500) request.log.warn({ code: known.code, err: error }, known.message);
  if (known.code === 'CK_UNAUTHENTICATED') void reply.header('www-authenticate', 'Bearer');
  const retryAfter = RETRY_AFTER_SECONDS[known.code];
  if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
  const body: ErrorBody = { error: { code: known.code, message: known.message, details: { ...known.details }, requestId: request.id } };
  return reply.code(known.status).type('application/json; charset=utf-8').send(body);
}

/**
 * 5xx answers the server gives on purpose, not because something failed:
 * logged at info on one line, without the error, whose stack would only say
 * where the refusal was thrown. While draining, every new request gets 503
 * CK_SHUTTING_DOWN; a warning with a stack trace for each would bury the
 * warnings that matter during a shutdown.
 */
const EXPECTED_REFUSALS: ReadonlySet<ErrorCode> = new Set(['CK_SHUTTING_DOWN']);

/**
 * 503s that a retry can cure on its own, with the seconds to wait sent as
 * `Retry-After`, which HTTP clients, SDKs and proxies honour: a draining
 * server (a load balancer sends the retry to another instance), or a
 * database that is busy, restarting or failing over. Not the 503s that
 * need someone to act first (CK_SCHEMA_NOT_READY: run the migrations).
 */
const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = { CK_SHUTTING_DOWN: 1, CK_DB_UNAVAILABLE: 2, CK_AUTH_UNAVAILABLE: 5 };

function toChatkeepError(error: unknown, request: FastifyRequest): ChatkeepError {
  if (isChatkeepError(error)) return error;
  if (error instanceof RequestValidationError) {
    const context = error.validationContext;
    const issue = firstIssue(error.issues);
    const segments = [...(issue?.path ?? [])];
    let message = issue?.message ?? 'invalid';
    if (issue?.namelessKey === true && context === 'querystring') message = 'a parameter without a name (e.g. `?=5`)';
    const field = segments.filter((s) => s !== '').join('.') || (context === 'body' ? 'body' : (context ?? 'input'));
    // The query-string parser turns `?limit=5&limit=6` into an array; say so
    // plainly instead of "expected a number, received an array" about a
    // value the client never wrote as one.
    if (context === 'querystring' && segments.length === 1 && Array.isArray((request.query as Record<string, unknown> | undefined)?.[field])) {
      message = 'given more than once; send it once';
    }
    return new ChatkeepError('CK_VALIDATION', `${field}: ${message}`, { field });
  }
  const fastify = error as Partial<FastifyError>;
  switch (fastify.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ChatkeepError('CK_PAYLOAD_TOO_LARGE', 'The request body is larger than the server accepts; nothing was stored', { field: 'body' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ChatkeepError('CK_VALIDATION', `body: ${fastify.message ?? 'invalid'}`, { field: 'body' });
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ChatkeepError('CK_VALIDATION', 'url: a path segment is not valid percent-encoding or is too long', { field: 'url' });
  }
  if (error instanceof SyntaxError || fastify.statusCode === 400) {
    return new ChatkeepError('CK_VALIDATION', `body: ${(error as Error).message}`, { field: 'body' });
  }
  if (fastify.statusCode === 429) return new ChatkeepError('CK_RATE_LIMITED');
  return new ChatkeepError('CK_INTERNAL');
}
