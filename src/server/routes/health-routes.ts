import { z } from 'zod';
import type { App, RouteContext } from '../route-context.js';

/** Liveness and readiness probes; unauthenticated, not rate limited, no user data. */
export function healthRoutes(app: App, { store, schemas: s, options }: RouteContext, state: { readonly closing: () => boolean }): void {
  const tags = ['operations'];
  const config = { public: true, rateLimit: false };

  app.get('/healthz', {
    config,
    schema: { tags, summary: 'Liveness: the process answers', security: [], response: { 200: z.object({ status: z.literal('ok') }) } },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/readyz', {
    config,
    schema: {
      tags,
      summary: 'Readiness: the database answers and the server is not draining',
      security: [],
      response: {
        200: z.object({ status: z.literal('ready'), database: z.string(), agent: z.string() }),
        503: s.error,
      },
    },
    handler: async (request, reply) => {
      if (state.closing()) return reply.code(503).send(errorBody('CK_SHUTTING_DOWN', 'The server is shutting down', request.id));
      try {
        await store.ping();
      } catch {
        return reply.code(503).send(errorBody('CK_DB_UNAVAILABLE', 'The database does not answer', request.id));
      }
      return { status: 'ready' as const, database: store.kind, agent: options.agent.name };
    },
  });
}

function errorBody(code: 'CK_SHUTTING_DOWN' | 'CK_DB_UNAVAILABLE', message: string, requestId: string) {
  return { error: { code, message, details: {}, requestId } };
}
