import { z } from 'zod';
import { ERROR_CATALOGUE, wrongValue } from '../errors/index.js';
import { MESSAGE_INPUT } from '../store/turn-parts.js';
import type { SchemaSettings } from '../schema/index.js';

/**
 * The HTTP API's request and response shapes, as zod schemas: Fastify
 * validates requests with them and the OpenAPI document is generated from
 * them. Request rules come from the installed schema settings (content
 * length, roles), the same settings the store's own zod rules and the
 * database's CHECKs are built from, so the three never disagree; the store
 * still validates everything itself, so a rule the HTTP layer does not
 * express is enforced anyway, naming the same field.
 */
export function httpSchemas(settings: SchemaSettings) {
  const uuid = z.uuid();
  const json = z.record(z.string(), z.unknown());
  // Sent as ISO 8601 text; typed as the Date the store returns (a codec, so
  // the OpenAPI document shows the string form clients receive).
  const timestamp = z
    .codec(z.iso.datetime({ offset: true }), z.date(), { decode: (text) => new Date(text), encode: (date) => date.toISOString() })
    .describe('ISO 8601 timestamp');
  const content = z.string().min(1).max(settings.maxContentLength);
  // Worded as the store words it, so both front doors say the same.
  const messageInput = z.union([content, z.object({ content, metadata: json.optional() }).strict()], {
    error: (issue) => (issue.code === 'invalid_union' ? wrongValue(MESSAGE_INPUT, issue.input) : undefined),
  });
  const idempotencyKey = z.string().min(1).max(200).describe('Retries with the same key return the stored result and write nothing');

  const conversation = z.object({
    id: uuid,
    userId: z.string(),
    title: z.string().nullable(),
    summary: z.string(),
    metadata: json,
    messageCount: z.number().int(),
    lastMessageAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  });
  const message = z.object({
    id: uuid,
    conversationId: uuid,
    userId: z.string(),
    seq: z.number().int(),
    role: z.enum(settings.roles as [string, ...string[]]),
    content: z.string(),
    summary: z.string(),
    metadata: json,
    turnId: uuid.nullable(),
    aborted: z.boolean(),
    createdAt: timestamp,
  });
  const turn = z.object({ id: uuid, conversationId: uuid, userMessage: message, assistantMessage: message, replayed: z.boolean() });
  const streamedTurn = z.object({
    id: uuid,
    userId: z.string(),
    conversationId: uuid,
    state: z.enum(['streaming', 'committed', 'aborted']),
    userMessageId: uuid,
    assistantMessageId: uuid,
    message: z.string(),
    messageMetadata: json,
    partialContent: z.string(),
    keptPartial: z.boolean(),
    abandonAfterMs: z.number().int(),
    createdAt: timestamp,
    updatedAt: timestamp,
    expiresAt: timestamp,
    finishedAt: timestamp.nullable(),
    replayed: z.boolean(),
  });
  const onboardingSession = z.object({
    id: uuid,
    userId: z.string(),
    flow: z.string(),
    phase: z.string(),
    progress: z.number().int(),
    steps: json,
    goals: z.array(z.unknown()).readonly(),
    context: json,
    status: z.enum(['active', 'completed', 'abandoned']),
    conversationId: uuid.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    completedAt: timestamp.nullable(),
    abandonedAt: timestamp.nullable(),
  });
  const apiKey = z.object({
    id: uuid,
    userId: z.string(),
    name: z.string(),
    prefix: z.string(),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
  });
  const error = z
    .object({
      error: z.object({
        code: z.enum(Object.keys(ERROR_CATALOGUE) as [string, ...string[]]),
        message: z.string(),
        details: json,
        requestId: z.string(),
      }),
    })
    .describe('The one error shape of every endpoint; `details.field` names the bad input');

  return {
    uuid,
    json,
    content,
    messageInput,
    idempotencyKey,
    conversation,
    message,
    turn,
    streamedTurn,
    onboardingSession,
    apiKey,
    error,
    /**
     * The query string of a route that takes no parameters. Without one a
     * route took any parameter and ignored it, so `DELETE /v1/me?dryRun=1`
     * erased everything; strict, an unknown parameter is a 400 naming it,
     * as on the routes that take some (docs/http.md, "Errors").
     */
    noQuery: z.object({}).strict(),
    /**
     * The `Idempotency-Key` header (IETF httpapi draft) of the turn routes,
     * there so the OpenAPI document lists it: a client generated from the
     * document knew only the body field. Loose, because it validates the
     * whole header object and every other header must pass through as is;
     * the key itself is checked by the store, which names `idempotencyKey`
     * whichever way it came (route-context.ts idempotencyKeyOf).
     */
    idempotencyHeaders: z.looseObject({
      'idempotency-key': z
        .string()
        .optional()
        .describe('1–200 characters; the same as the body field `idempotencyKey` (both present must agree). Retries with the same key return the stored result and write nothing'),
    }),
    conversationParams: z.object({ conversationId: z.string() }),
    turnParams: z.object({ turnId: z.string() }),
    sessionParams: z.object({ sessionId: z.string() }),
  };
}

export type HttpSchemas = ReturnType<typeof httpSchemas>;

/** What `queryInt` accepts: decimal digits and nothing else (no sign, point, exponent, `0x`, blanks). */
const DECIMAL_DIGITS = /^[0-9]+$/;

/**
 * An integer query parameter from `min` to `max`, written in plain decimal
 * digits. `z.coerce.number()` took anything `Number()` takes: `?limit=0x10`
 * was 16, `1e2` 100, `%2010` (a leading space) 10, `+5`, `10.0`, and an
 * empty `?limit=` was 0, so a mistyped parameter silently asked for
 * something else. The digits are parsed before zod's number rules run; the
 * OpenAPI document still shows `{ type: integer, minimum, maximum }`, because
 * zod documents a preprocessed schema's input as the schema after the step.
 *
 * @example
 * querystring: z.object({ limit: queryInt(1, 100).optional() }).strict()
 * // ?limit=20 → 20; ?limit=0x10, ?limit=1e2, ?limit= → 400 naming `limit`
 */
export function queryInt(min: number, max: number) {
  const range = `must be from ${min} to ${max}`;
  return z.preprocess(
    (value) => (typeof value === 'string' && DECIMAL_DIGITS.test(value) ? Number(value) : value),
    z
      .number({ error: `must be a whole number written in decimal digits only (no sign, point, exponent or spaces), from ${min} to ${max}` })
      .int(range)
      .min(min, range)
      .max(max, range),
  );
}

/**
 * `{ 400: error, 401: error, … }` for a route's documented error statuses,
 * plus 503: every authenticated route answers CK_SHUTTING_DOWN while the
 * server drains, and CK_DB_UNAVAILABLE when the database is gone.
 *
 * Fastify reads a request body on every POST, PUT, PATCH and DELETE, also
 * when the route takes none, so those routes list 400 (a body that is not
 * JSON) and 413 (one over `bodyLimit`) too; the OpenAPI test sends both to
 * every such route. Every /v1 route lists 400, also a GET without
 * parameters: its query string is strict (`noQuery`), so `?dryRun=1` is one.
 */
export function errorResponses(schemas: HttpSchemas, ...statuses: number[]) {
  return Object.fromEntries([...new Set([...statuses, 503])].map((s) => [s, schemas.error])) as Record<number, HttpSchemas['error']>;
}
