import { z } from 'zod';
import { errorResponses } from '../http-schemas.js';
import { refuseBody } from '../request-validation.js';
import { actingUser, compact, idempotencyKeyOf, messageOf, type App, type RouteContext } from '../route-context.js';
import { SERVER_DEFAULTS } from '../server-options.js';

/**
 * Streamed turns driven by the caller — for a backend that runs its own model
 * and streams to its own client, using chatkeep to keep the turn invisible
 * until it is whole: begin → text… → commit | abort. A turn that hears
 * nothing (text or a keep-alive) for `abandonAfterMs` is aborted by the
 * server's sweeper.
 */
export function streamedTurnRoutes(app: App, { store, schemas: s, options }: RouteContext): void {
  const tags = ['streamed turns'];
  const turnParams = s.turnParams;

  app.post('/v1/conversations/:conversationId/streamed-turns', {
    schema: {
      tags,
      summary: 'Begin a streamed turn (reserved, invisible to history until commit)',
      params: s.conversationParams,
      headers: s.idempotencyHeaders,
      body: z
        .object({
          message: s.messageInput,
          idempotencyKey: s.idempotencyKey.optional(),
          abandonAfterMs: z.number().int().min(1000).max(86_400_000).optional(),
        })
        .strict(),
      querystring: s.noQuery,
      response: { 201: s.streamedTurn, 200: s.streamedTurn, ...errorResponses(s, 400, 401, 404, 409, 413, 429) },
    },
    handler: async (request, reply) => {
      const key = idempotencyKeyOf(request, request.body.idempotencyKey);
      const turn = await store.turns.begin(actingUser(request), request.params.conversationId, messageOf(request.body.message), {
        abandonAfterMs: request.body.abandonAfterMs ?? options.abandonAfterMs ?? SERVER_DEFAULTS.abandonAfterMs,
        ...(key !== undefined ? { idempotencyKey: key } : {}),
      });
      return reply.code(turn.replayed ? 200 : 201).send(turn);
    },
  });

  app.get('/v1/streamed-turns/:turnId', {
    schema: {
      tags,
      summary: 'A streamed turn in any state, with the reply text so far',
      params: turnParams,
      querystring: s.noQuery,
      response: { 200: s.streamedTurn, ...errorResponses(s, 400, 401, 404, 429) },
    },
    handler: async (request) => store.turns.getStreamed(actingUser(request), request.params.turnId),
  });

  app.post('/v1/streamed-turns/:turnId/text', {
    schema: {
      tags,
      summary: "Append generated text to the turn's reply",
      params: turnParams,
      body: z.object({ text: z.string().min(1) }).strict(),
      querystring: s.noQuery,
      response: { 200: s.streamedTurn, ...errorResponses(s, 400, 401, 404, 409, 413, 429) },
    },
    handler: async (request) => store.turns.appendText(actingUser(request), request.params.turnId, request.body.text),
  });

  app.post('/v1/streamed-turns/:turnId/keep-alive', {
    preValidation: refuseBody,
    schema: {
      tags,
      summary: 'Keep the turn from being swept as abandoned while the model thinks, without adding text',
      description: 'Moves `expiresAt` to `abandonAfterMs` from now. 409 CK_TURN_FINISHED once the turn is committed or aborted.',
      params: turnParams,
      querystring: s.noQuery,
      response: { 200: s.streamedTurn, ...errorResponses(s, 400, 401, 404, 409, 413, 429) },
    },
    handler: async (request) => store.turns.keepAlive(actingUser(request), request.params.turnId),
  });

  app.post('/v1/streamed-turns/:turnId/commit', {
    schema: {
      tags,
      summary: 'Commit: both messages become visible together; a repeat returns the stored turn',
      params: turnParams,
      body: z.object({ content: s.content.optional(), metadata: s.json.optional() }).strict().nullish(),
      querystring: s.noQuery,
      response: { 200: s.turn, ...errorResponses(s, 400, 401, 404, 409, 413, 429) },
    },
    handler: async (request) => store.turns.commit(actingUser(request), request.params.turnId, compact(request.body ?? {})),
  });

  app.post('/v1/streamed-turns/:turnId/abort', {
    schema: {
      tags,
      summary: 'Abort: nothing visible, or the partial reply kept and marked aborted',
      params: turnParams,
      body: z.object({ keepPartial: z.boolean().optional(), content: s.content.optional() }).strict().nullish(),
      querystring: s.noQuery,
      response: {
        200: z.object({ turn: s.streamedTurn, kept: s.turn.nullable() }),
        ...errorResponses(s, 400, 401, 404, 409, 413, 429),
      },
    },
    handler: async (request) => store.turns.abort(actingUser(request), request.params.turnId, compact(request.body ?? {})),
  });
}
