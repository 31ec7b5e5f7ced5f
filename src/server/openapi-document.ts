import { packageVersion } from '../package-version.js';

/** The static part of the OpenAPI document; paths come from the routes' zod schemas. */
export function openApiInfo() {
  return {
    openapi: '3.0.3',
    info: {
      title: 'chatkeep HTTP API',
      version: packageVersion(),
      description:
        'Chat history with atomic turns and strict per-user isolation, streamed turns, onboarding sessions. ' +
        'Every /v1 route needs `Authorization: Bearer <token>` (a JWT whose `sub` is the user, or a chatkeep API key); ' +
        'another user\'s resource answers 404 exactly like a missing one. Errors: `{ error: { code, message, details, requestId } }`.',
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http' as const, scheme: 'bearer', description: 'JWT (sub = user id) or chatkeep API key (ck_…)' },
        adminToken: { type: 'http' as const, scheme: 'bearer', description: 'The admin credential (CHATKEEP_ADMIN_TOKEN)' },
      },
    },
    security: [{ bearer: [] }],
  };
}

/** What the generated document cannot know from the zod schemas alone. */
export interface RouteFacts {
  /** `METHOD /path` of routes whose body may be left out. */
  readonly optionalBody: Set<string>;
  /** `METHOD /path` of routes whose 200 is an event stream. */
  readonly eventStream: Set<string>;
}

type Operation = {
  requestBody?: { required?: boolean };
  responses?: Record<string, { description?: string; content?: Record<string, unknown> }>;
};

/**
 * Corrects the generated document where the zod-to-OpenAPI transform has no
 * way to say it: optional request bodies (it marks every body required),
 * event-stream responses (one `produces` would mislabel the JSON errors too),
 * and 204s, which have no content at all.
 */
export function finishDocument<T extends { paths?: Record<string, Record<string, Operation>> }>(doc: T, facts: RouteFacts): T {
  for (const [path, operations] of Object.entries(doc.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      const route = `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;
      if (facts.optionalBody.has(route) && operation.requestBody !== undefined) operation.requestBody.required = false;
      const ok = operation.responses?.['200'];
      if (facts.eventStream.has(route) && ok !== undefined) {
        ok.content = { 'text/event-stream': { schema: { type: 'string', description: 'Server-Sent Events: begin, text…, commit | error' } } };
      }
      const noContent = operation.responses?.['204'];
      if (noContent !== undefined) delete noContent.content;
    }
  }
  return doc;
}
