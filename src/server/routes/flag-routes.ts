import { z } from 'zod';
import { errorResponses } from '../http-schemas.js';
import { refuseBody } from '../request-validation.js';
import { actingUser, compact, type App, type RouteContext } from '../route-context.js';

/**
 * Feature flags over HTTP (docs/flags.md): the acting user's evaluations, and
 * the admin routes that define flags, roll them out and override them per
 * user (behind the admin credential, checked by the server's onRequest hook
 * for `config.admin`). The store validates everything again and names the
 * field; the zod shapes here document the API.
 */
export function flagRoutes(app: App, { store, schemas: s }: RouteContext): void {
  // The shared ISO 8601 timestamp codec of http-schemas (sent as text, typed as the store's Date).
  const timestamp = s.apiKey.shape.createdAt;
  const flag = z.object({
    name: z.string(),
    description: z.string(),
    enabled: z.boolean(),
    rolloutPercent: z.number().min(0).max(100),
    salt: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  });
  const flagParams = z.object({ name: z.string() });
  const overrideParams = flagParams.extend({ userId: z.string() });
  const admin = { tags: ['admin', 'flags'], security: [{ adminToken: [] }] };
  const config = { admin: true };

  app.get('/v1/me/flags', {
    schema: {
      tags: ['account', 'flags'],
      summary: 'Every feature flag, on or off for me (an unknown flag is off)',
      querystring: s.noQuery,
      response: { 200: z.object({ flags: z.record(z.string(), z.boolean()) }), ...errorResponses(s, 400, 401, 429) },
    },
    handler: async (request) => ({ flags: await store.flags.evaluate(actingUser(request)) }),
  });

  app.get('/v1/admin/flags', {
    config,
    schema: { ...admin, summary: 'Every feature flag, by name', querystring: s.noQuery, response: { 200: z.object({ flags: z.array(flag).readonly() }), ...errorResponses(s, 400, 401, 429) } },
    handler: async () => ({ flags: await store.flags.list() }),
  });

  app.put('/v1/admin/flags/:name', {
    config,
    schema: {
      ...admin,
      summary: 'Define a flag, or change the given fields of an existing one (201 created, 200 updated)',
      params: flagParams,
      body: z
        .object({
          description: z.string().max(1000).optional(),
          enabled: z.boolean().optional(),
          rolloutPercent: z.number().min(0).max(100).optional().describe('0–100, at most two decimals'),
          salt: z.string().min(1).max(100).optional().describe("The rollout's seed (default: the name); changing it reshuffles who is in"),
        })
        .strict(),
      querystring: s.noQuery,
      response: { 200: flag, 201: flag, ...errorResponses(s, 400, 401, 413, 429) },
    },
    handler: async (request, reply) => {
      const { flag: defined, created } = await store.flags.define(request.params.name, compact(request.body));
      return reply.code(created ? 201 : 200).send(defined);
    },
  });

  app.delete('/v1/admin/flags/:name', {
    preValidation: refuseBody,
    config,
    schema: { ...admin, summary: 'Delete a flag and its overrides (evaluations then say off)', params: flagParams, querystring: s.noQuery, response: { 204: z.null().describe('Deleted'), ...errorResponses(s, 400, 401, 404, 413, 429) } },
    handler: async (request, reply) => {
      await store.flags.delete(request.params.name);
      return reply.code(204).send(null);
    },
  });

  app.put('/v1/admin/flags/:name/overrides/:userId', {
    config,
    schema: {
      ...admin,
      summary: "Force a flag on or off for one user (a disabled flag stays off for everyone)",
      params: overrideParams,
      body: z.object({ enabled: z.boolean() }).strict(),
      querystring: s.noQuery,
      response: { 200: z.object({ userId: z.string(), flag: z.string(), enabled: z.boolean() }), ...errorResponses(s, 400, 401, 404, 413, 429) },
    },
    handler: async (request) => store.flags.setOverride(request.params.userId, request.params.name, request.body.enabled),
  });

  app.delete('/v1/admin/flags/:name/overrides/:userId', {
    preValidation: refuseBody,
    config,
    schema: {
      ...admin,
      summary: "Remove a user's override, so the rollout decides again (also when there was none)",
      params: overrideParams,
      querystring: s.noQuery,
      response: { 204: z.null().describe('Deleted'), ...errorResponses(s, 400, 401, 404, 413, 429) },
    },
    handler: async (request, reply) => {
      await store.flags.clearOverride(request.params.userId, request.params.name);
      return reply.code(204).send(null);
    },
  });
}
