import { z } from 'zod';
import { errorResponses, queryInt } from '../http-schemas.js';
import { refuseBody } from '../request-validation.js';
import { actingUser, compact, type App, type RouteContext } from '../route-context.js';

/** Onboarding sessions of the acting user (SPEC R-ONB-1/2). */
export function onboardingRoutes(app: App, { store, schemas: s }: RouteContext): void {
  const tags = ['onboarding'];
  const fields = {
    phase: z.string().min(1).max(100),
    progress: z.number().int().min(0).max(100),
    steps: s.json,
    goals: z.array(z.unknown()).readonly(),
    context: s.json,
    conversationId: z.string().nullable(),
  };
  const session = s.onboardingSession;

  app.post('/v1/onboarding-sessions', {
    schema: {
      tags,
      summary: "Start a flow, or resume the user's active session of it",
      body: z
        .object({
          flow: z.string().min(1).max(64),
          phase: fields.phase,
          progress: fields.progress.optional(),
          steps: fields.steps.optional(),
          goals: fields.goals.optional(),
          context: fields.context.optional(),
          conversationId: fields.conversationId.optional(),
        })
        .strict(),
      querystring: s.noQuery,
      response: {
        201: z.object({ session, resumed: z.literal(false) }),
        200: z.object({ session, resumed: z.literal(true) }),
        ...errorResponses(s, 400, 401, 404, 413, 429),
      },
    },
    handler: async (request, reply) => {
      const result = await store.onboarding.start(actingUser(request), compact(request.body));
      return reply.code(result.resumed ? 200 : 201).send(result);
    },
  });

  app.get('/v1/onboarding-sessions', {
    schema: {
      tags,
      summary: "The user's onboarding sessions, newest first (the newest 50 unless `limit` says otherwise)",
      querystring: z
        .object({ flow: z.string().optional(), status: z.enum(['active', 'completed', 'abandoned']).optional(), limit: queryInt(1, 100).optional() })
        .strict(),
      response: { 200: z.object({ sessions: z.array(session).readonly() }), ...errorResponses(s, 400, 401, 429) },
    },
    handler: async (request) => ({ sessions: await store.onboarding.list(actingUser(request), compact(request.query)) }),
  });

  app.get('/v1/onboarding-sessions/:sessionId', {
    schema: { tags, summary: 'Get an onboarding session', params: s.sessionParams, querystring: s.noQuery, response: { 200: session, ...errorResponses(s, 400, 401, 404, 429) } },
    handler: async (request) => store.onboarding.get(actingUser(request), request.params.sessionId),
  });

  app.patch('/v1/onboarding-sessions/:sessionId', {
    schema: {
      tags,
      summary: 'Advance: phase, progress, steps, goals, context, linked conversation',
      params: s.sessionParams,
      body: z
        .object({
          phase: fields.phase.optional(),
          progress: fields.progress.optional(),
          steps: fields.steps.optional(),
          goals: fields.goals.optional(),
          context: fields.context.optional(),
          conversationId: fields.conversationId.optional(),
        })
        .strict(),
      querystring: s.noQuery,
      response: { 200: session, ...errorResponses(s, 400, 401, 404, 409, 413, 429) },
    },
    handler: async (request) => store.onboarding.advance(actingUser(request), request.params.sessionId, compact(request.body)),
  });

  app.post('/v1/onboarding-sessions/:sessionId/complete', {
    schema: {
      tags,
      summary: 'Complete a session',
      params: s.sessionParams,
      body: z.object({ context: s.json.optional() }).strict().nullish(),
      querystring: s.noQuery,
      response: { 200: session, ...errorResponses(s, 400, 401, 404, 409, 413, 429) },
    },
    handler: async (request) => store.onboarding.complete(actingUser(request), request.params.sessionId, compact(request.body ?? {})),
  });

  app.post('/v1/onboarding-sessions/:sessionId/abandon', {
    preValidation: refuseBody,
    schema: { tags, summary: 'Abandon a session', params: s.sessionParams, querystring: s.noQuery, response: { 200: session, ...errorResponses(s, 400, 401, 404, 409, 413, 429) } },
    handler: async (request) => store.onboarding.abandon(actingUser(request), request.params.sessionId),
  });
}
