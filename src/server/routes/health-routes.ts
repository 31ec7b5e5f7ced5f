import { z } from 'zod';
import { ChatkeepError } from '../../errors/index.js';
import { sendError } from '../error-reply.js';
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
      // Through sendError, as every other 503: with Retry-After, which a load balancer or orchestrator may honour.
      if (state.closing()) return sendError(new ChatkeepError('CK_SHUTTING_DOWN'), request, reply);
      try {
        await store.ping();
      } catch (error) {
        return sendError(new ChatkeepError('CK_DB_UNAVAILABLE', 'The database does not answer', {}, { cause: error }), request, reply);
      }
      return { status: 'ready' as const, database: store.kind, agent: options.agent.name };
    },
  });
}

