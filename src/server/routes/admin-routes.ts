import { z } from 'zod';
import { errorResponses } from '../http-schemas.js';
import { refuseBody } from '../request-validation.js';
import type { App, RouteContext } from '../route-context.js';
import { forgetUserRateLimit } from '../user-rate-limit-key.js';

/**
 * Admin endpoints, behind the admin credential (`adminToken`), never a user
 * token (checked by the server's onRequest hook for routes with
 * `config.admin`): issue and revoke any user's API keys, erase any user,
 * sweep abandoned turns now. With no admin token configured they all answer 401.
 */
export function adminRoutes(app: App, { store, schemas: s, auth }: RouteContext): void {
  const tags = ['admin'];
  const security = [{ adminToken: [] }];
  const userParams = z.object({ userId: z.string() });
  const config = { admin: true };

  app.post('/v1/admin/users/:userId/api-keys', {
    config,
    schema: {
      tags,
      security,
      summary: "Issue an API key for a user; the secret is in this response only",
      params: userParams,
      body: z.object({ name: z.string().max(100).optional() }).strict().nullish(),
      querystring: s.noQuery,
      response: { 201: z.object({ apiKey: s.apiKey, secret: z.string() }), ...errorResponses(s, 400, 401, 409, 413, 429) },
    },
    handler: async (request, reply) => {
      const name = request.body?.name;
      return reply.code(201).send(await store.apiKeys.create(request.params.userId, name !== undefined ? { name } : {}));
    },
  });

  app.get('/v1/admin/users/:userId/api-keys', {
    config,
    schema: { tags, security, summary: "A user's API keys", params: userParams, querystring: s.noQuery, response: { 200: z.object({ apiKeys: z.array(s.apiKey).readonly() }), ...errorResponses(s, 400, 401, 429) } },
    handler: async (request) => ({ apiKeys: await store.apiKeys.list(request.params.userId) }),
  });

  app.get('/v1/admin/migrations', {
    config,
    schema: {
      tags,
      security,
      summary: "Where chatkeep's schema stands: applied, pending, and phased migrations in flight with rows backfilled",
      description: 'Poll it while `chatkeep migrate up` runs elsewhere to follow a long backfill. Problems (checksum drift, history mismatch) are listed, not raised.',
      querystring: s.noQuery,
      response: {
        200: z.object({
          current: z.number().int(),
          applied: z.array(z.object({ version: z.number().int(), name: z.string(), checksum: z.string(), appliedAt: z.string(), durationMs: z.number() })).readonly(),
          pending: z.array(z.object({ version: z.number().int(), name: z.string() })).readonly(),
          inFlight: z
            .array(z.object({ version: z.number().int(), name: z.string(), direction: z.enum(['up', 'down']), phasesDone: z.number().int(), rowsDone: z.number(), updatedAt: z.string() }))
            .readonly(),
          problems: z.array(z.object({ code: z.string(), message: z.string() })).readonly(),
        }),
        ...errorResponses(s, 400, 401, 429),
      },
    },
    handler: async () => {
      const status = await store.schemaStatus();
      return {
        current: status.current,
        applied: status.applied.map((m) => ({ ...m, appliedAt: m.appliedAt.toISOString() })),
        pending: status.pending.map(({ version, name }) => ({ version, name })),
        inFlight: status.inFlight.map((m) => ({ ...m, updatedAt: m.updatedAt.toISOString() })),
        problems: status.problems.map((p) => ({ code: p.code, message: p.message })),
      };
    },
  });

  app.delete('/v1/admin/users/:userId/api-keys/:keyId', {
    preValidation: refuseBody,
    config,
    schema: {
      tags,
      security,
      summary: "Revoke a user's API key",
      params: userParams.extend({ keyId: z.string() }),
      querystring: s.noQuery,
      response: { 200: s.apiKey, ...errorResponses(s, 400, 401, 404, 413, 429) },
    },
    handler: async (request) => {
      const revoked = await store.apiKeys.revoke(request.params.userId, request.params.keyId);
      auth.forget(request.params.userId);
      return revoked;
    },
  });

  app.delete('/v1/admin/users/:userId', {
    preValidation: refuseBody,
    config,
    schema: {
      tags,
      security,
      summary: 'Erase everything chatkeep holds about a user',
      params: userParams,
      querystring: s.noQuery,
      response: {
        200: z.object({ conversations: z.number().int(), messages: z.number().int(), onboardingSessions: z.number().int(), apiKeys: z.number().int() }),
        ...errorResponses(s, 400, 401, 413, 429),
      },
    },
    handler: async (request) => {
      const report = await store.eraseUser(request.params.userId);
      auth.forget(request.params.userId);
      await forgetUserRateLimit(store, request.params.userId);
      return report;
    },
  });

  app.post('/v1/admin/sweep', {
    preValidation: refuseBody,
    config,
    schema: {
      tags,
      security,
      summary: 'Abort abandoned streamed turns and purge old finished turn records now',
      querystring: s.noQuery,
      response: { 200: z.object({ abandoned: z.number().int(), purged: z.number().int() }), ...errorResponses(s, 400, 401, 413, 429) },
    },
    handler: async () => store.turns.sweep(),
  });
}
