import { z } from 'zod';
import { errorResponses, queryInt } from '../http-schemas.js';
import { refuseBody } from '../request-validation.js';
import { actingUser, compact, type App, type RouteContext } from '../route-context.js';

/** Conversations of the acting user: create, list (newest activity first), get, update, delete. */
export function conversationRoutes(app: App, { store, schemas: s }: RouteContext): void {
  const tags = ['conversations'];
  const title = z.string().min(1).max(200);

  app.post('/v1/conversations', {
    schema: {
      tags,
      summary: 'Create a conversation',
      body: z.object({ title: title.nullable().optional(), summary: z.string().max(100).optional(), metadata: s.json.optional() }).strict().nullish(),
      querystring: s.noQuery,
      response: { 201: s.conversation, ...errorResponses(s, 400, 401, 413, 429) },
    },
    handler: async (request, reply) => {
      const conversation = await store.conversations.create(actingUser(request), compact(request.body ?? {}));
      return reply.code(201).send(conversation);
    },
  });

  app.get('/v1/conversations', {
    schema: {
      tags,
      summary: 'List conversations, most recent activity first',
      querystring: z.object({ limit: queryInt(1, 100).optional(), cursor: z.string().optional() }).strict(),
      response: {
        200: z.object({ conversations: z.array(s.conversation).readonly(), nextCursor: z.string().nullable() }),
        ...errorResponses(s, 400, 401, 429),
      },
    },
    handler: async (request) => store.conversations.list(actingUser(request), compact(request.query)),
  });

  app.get('/v1/conversations/:conversationId', {
    schema: {
      tags,
      summary: 'Get a conversation',
      params: s.conversationParams,
      querystring: s.noQuery,
      response: { 200: s.conversation, ...errorResponses(s, 400, 401, 404, 429) },
    },
    handler: async (request) => store.conversations.get(actingUser(request), request.params.conversationId),
  });

  app.patch('/v1/conversations/:conversationId', {
    schema: {
      tags,
      summary: 'Rename a conversation, set its summary or replace its metadata',
      params: s.conversationParams,
      body: z.object({ title: title.nullable().optional(), summary: z.string().max(100).nullable().optional(), metadata: s.json.optional() }).strict(),
      querystring: s.noQuery,
      response: { 200: s.conversation, ...errorResponses(s, 400, 401, 404, 413, 429) },
    },
    handler: async (request) => store.conversations.update(actingUser(request), request.params.conversationId, compact(request.body)),
  });

  app.delete('/v1/conversations/:conversationId', {
    preValidation: refuseBody,
    schema: {
      tags,
      summary: 'Delete a conversation and all its messages',
      params: s.conversationParams,
      querystring: s.noQuery,
      response: { 204: z.null().describe('Deleted'), ...errorResponses(s, 400, 401, 404, 413, 429) },
    },
    handler: async (request, reply) => {
      await store.conversations.delete(actingUser(request), request.params.conversationId);
      return reply.code(204).send(null);
    },
  });

  app.get('/v1/conversations/:conversationId/messages', {
    schema: {
      tags: ['messages'],
      summary: 'A page of history in chronological order (latest, or before/after a cursor)',
      params: s.conversationParams,
      querystring: z
        .object({ limit: queryInt(1, 1000).optional(), before: z.string().optional(), after: z.string().optional() })
        .strict(),
      response: {
        200: z.object({
          messages: z.array(s.message).readonly(),
          olderCursor: z.string().nullable(),
          newerCursor: z.string().nullable(),
          hasOlder: z.boolean(),
          hasNewer: z.boolean(),
        }),
        ...errorResponses(s, 400, 401, 404, 429),
      },
    },
    handler: async (request) => store.messages.list(actingUser(request), request.params.conversationId, compact(request.query)),
  });
}
