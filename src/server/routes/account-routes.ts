import { z } from 'zod';
import { errorResponses } from '../http-schemas.js';
import { refuseBody } from '../request-validation.js';
import { actingUser, type App, type RouteContext } from '../route-context.js';
import { forgetUserRateLimit } from '../user-rate-limit-key.js';

/** The acting user's own account: who am I, my API keys, erase my data (SPEC R-CHAT-5). */
export function accountRoutes(app: App, { store, schemas: s, auth }: RouteContext): void {
  const tags = ['account'];
  const eraseReport = z.object({
    conversations: z.number().int(),
    messages: z.number().int(),
    onboardingSessions: z.number().int(),
    apiKeys: z.number().int(),
  });

  app.get('/v1/me', {
    schema: {
      tags,
      summary: 'Who the bearer token acts for',
      querystring: s.noQuery,
      response: { 200: z.object({ userId: z.string(), authMethod: z.enum(['jwt', 'api-key']) }), ...errorResponses(s, 400, 401, 429) },
    },
    handler: async (request) => ({ userId: actingUser(request), authMethod: request.principal?.method ?? 'api-key' }),
  });

  app.delete('/v1/me', {
    preValidation: refuseBody,
    schema: {
      tags,
      summary: 'Erase all my data: conversations, messages, onboarding sessions, API keys',
      querystring: s.noQuery,
      response: { 200: eraseReport, ...errorResponses(s, 400, 401, 413, 429) },
    },
    handler: async (request) => {
      const report = await store.eraseUser(actingUser(request));
      // The erased keys stop working here at once, not after the API-key cache time.
      auth.forget(actingUser(request));
      await forgetUserRateLimit(store, actingUser(request));
      return report;
    },
  });

  app.get('/v1/me/api-keys', {
    schema: { tags, summary: 'My API keys (never the secrets)', querystring: s.noQuery, response: { 200: z.object({ apiKeys: z.array(s.apiKey).readonly() }), ...errorResponses(s, 400, 401, 429) } },
    handler: async (request) => ({ apiKeys: await store.apiKeys.list(actingUser(request)) }),
  });

  app.post('/v1/me/api-keys', {
    schema: {
      tags,
      summary: 'Issue another API key for me; the secret is in this response only',
      body: z.object({ name: z.string().max(100).optional() }).strict().nullish(),
      querystring: s.noQuery,
      response: { 201: z.object({ apiKey: s.apiKey, secret: z.string() }), ...errorResponses(s, 400, 401, 409, 413, 429) },
    },
    handler: async (request, reply) => {
      const name = request.body?.name;
      return reply.code(201).send(await store.apiKeys.create(actingUser(request), name !== undefined ? { name } : {}));
    },
  });

  app.delete('/v1/me/api-keys/:keyId', {
    preValidation: refuseBody,
    schema: {
      tags,
      summary: 'Revoke one of my API keys',
      params: z.object({ keyId: z.string() }),
      querystring: s.noQuery,
      response: { 200: s.apiKey, ...errorResponses(s, 400, 401, 404, 413, 429) },
    },
    handler: async (request) => {
      const revoked = await store.apiKeys.revoke(actingUser(request), request.params.keyId);
      auth.forget(actingUser(request));
      return revoked;
    },
  });
}
