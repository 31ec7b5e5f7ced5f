import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors/index.js';
import type { Agent, StreamingAgent } from '../../src/index.js';
import { MAX_ACTIVE_API_KEYS } from '../../src/store/api-keys.js';
import { BACKENDS } from '../support/backends.js';
import { ADMIN_TOKEN, jwtFor, useServer, type ServerFixture } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Issue 3: the server serves an OpenAPI 3 document, every route is in it, and
 * every status it documents can actually be produced. The table below drives
 * one real request per documented (route, status); a documented status with
 * no driver, or a driver for a status the document does not list, fails the
 * suite, so the table and the document cannot drift apart.
 */

type Reply = Awaited<ReturnType<ServerFixture['call']>>;

/** What a driver may use: the servers of the suite and a fresh user of its own. */
interface Tools {
  /** The ordinary server (demo agent, default limits). */
  readonly main: ServerFixture;
  /** A server allowing one request per user per minute. */
  readonly limited: ServerFixture;
  /** A server whose agent throws on "fail" and is slower than the 300 ms agent timeout on "slow". */
  readonly agents: ServerFixture;
  /** Resolves once the draining server is shutting down with a turn still in flight. */
  readonly draining: () => Promise<ServerFixture>;
  /** A user no other test touches, and a JWT for them. */
  readonly user: string;
  readonly token: string;
}

interface Route {
  readonly method: string;
  /** As documented: `/v1/conversations/{conversationId}`. */
  readonly path: string;
  /** A body that passes the route's schema, for the generic drivers (401, 429, 503). */
  readonly probeBody?: unknown;
}

type Driver = (t: Tools, route: Route) => Promise<Reply>;

interface RouteDrivers {
  readonly probeBody?: unknown;
  readonly drivers: Readonly<Record<number, Driver>>;
  /** Statuses whose driver is expected to fail because of a known product bug (reported, with the reason). */
  readonly knownBugs?: Readonly<Record<number, string>>;
}

/** The documented path with every `{param}` filled: a user id for `userId`, a random UUID for the rest. */
function probePath(route: Route): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) =>
    name === 'userId' ? 'probe-user' : randomUUID(),
  );
}

function probe(f: ServerFixture, route: Route, token?: string): Promise<Reply> {
  return f.call(route.method, probePath(route), {
    ...(token !== undefined ? { token } : {}),
    ...(route.probeBody !== undefined ? { body: route.probeBody } : {}),
  });
}

// Statuses every route of a kind produces the same way.
const unauthenticated: Driver = (t, route) => probe(t.main, route);
const tooLarge: Driver = (t, route) =>
  t.main.call(route.method, probePath(route), {
    token: t.token,
    body: { padding: 'x'.repeat(1_100_000) },
  });
const rateLimited: Driver = async (t, route) => {
  expect((await t.limited.call('GET', '/v1/me', { token: t.token })).status).toBe(200);
  return probe(t.limited, route, t.token);
};
const shuttingDown: Driver = async (t, route) => probe(await t.draining(), route, t.token);
/** Admin routes are limited per IP (there is no user): the second admin call in the window is refused. */
const adminRateLimited: Driver = async (t, route) => {
  await probe(t.limited, route, ADMIN_TOKEN);
  return probe(t.limited, route, ADMIN_TOKEN);
};
const adminTooLarge: Driver = (t, route) =>
  t.main.call(route.method, probePath(route), {
    token: ADMIN_TOKEN,
    body: { padding: 'x'.repeat(1_100_000) },
  });
/** A body that is not JSON, on a route that takes no body: Fastify still reads it (POST, PUT, PATCH, DELETE). */
const notJson: Driver = (t, route) =>
  t.main.call(route.method, probePath(route), { token: t.token, body: '{"unterminated' });
const adminNotJson: Driver = (t, route) =>
  t.main.call(route.method, probePath(route), { token: ADMIN_TOKEN, body: '{"unterminated' });

/** A fresh user already holding as many live API keys as a user may. */
async function userWithAllKeys(t: Tools): Promise<string> {
  const user = newUser('all-keys');
  for (let i = 0; i < MAX_ACTIVE_API_KEYS; i++) await t.main.store().apiKeys.create(user);
  return user;
}

async function conversation(t: Tools, f: ServerFixture = t.main): Promise<string> {
  return (await f.store().conversations.create(t.user, { title: 'driven' })).id;
}
async function streamedTurn(
  t: Tools,
  state: 'streaming' | 'committed' | 'aborted' = 'streaming',
): Promise<string> {
  const turns = t.main.store().turns;
  const begun = await turns.begin(t.user, await conversation(t), 'question');
  await turns.appendText(t.user, begun.id, 'partial answer');
  if (state === 'committed') await turns.commit(t.user, begun.id);
  if (state === 'aborted') await turns.abort(t.user, begun.id);
  return begun.id;
}
async function session(
  t: Tools,
  state: 'active' | 'completed' | 'abandoned' = 'active',
): Promise<string> {
  const onboarding = t.main.store().onboarding;
  const { session } = await onboarding.start(t.user, { flow: 'setup', phase: 'welcome' });
  if (state === 'completed') await onboarding.complete(t.user, session.id);
  if (state === 'abandoned') await onboarding.abandon(t.user, session.id);
  return session.id;
}
const as = (t: Tools, body?: unknown, headers?: Record<string, string>) => ({
  token: t.token,
  ...(body !== undefined ? { body } : {}),
  ...(headers !== undefined ? { headers } : {}),
});

const admin = (body?: unknown) => ({ token: ADMIN_TOKEN, ...(body !== undefined ? { body } : {}) });

/** A query parameter the route does not take: every /v1 route refuses one, also a route that takes none. */
const unknownQuery: Driver = (t, route) => t.main.call(route.method, `${probePath(route)}?dryRun=1`, as(t));
const adminUnknownQuery: Driver = (t, route) => t.main.call(route.method, `${probePath(route)}?dryRun=1`, admin());

/** A flag name of this driver's own (derived from its fresh user), not yet defined. */
const flagName = (t: Tools) => `flag-${t.user.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
/** A defined flag of this driver's own. */
async function flag(t: Tools): Promise<string> {
  const name = flagName(t);
  await t.main.store().flags.define(name, { enabled: true, rolloutPercent: 50 });
  return name;
}

/** Statuses common to the routes of one conversation. */
const conversationTable = (
  method: string,
  suffix: string,
  body?: unknown,
  ok?: Driver,
): Record<number, Driver> => ({
  ...(ok !== undefined ? { 200: ok } : {}),
  400: (t) => t.main.call(method, `/v1/conversations/not-a-uuid${suffix}`, as(t, body)),
  401: unauthenticated,
  404: (t) => t.main.call(method, `/v1/conversations/${randomUUID()}${suffix}`, as(t, body)),
  429: rateLimited,
});

const ROUTE_TABLE: Readonly<Record<string, RouteDrivers>> = {
  'GET /healthz': { drivers: { 200: (t) => t.main.call('GET', '/healthz') } },
  'GET /readyz': { drivers: { 200: (t) => t.main.call('GET', '/readyz'), 503: shuttingDown } },

  'POST /v1/conversations': {
    drivers: {
      201: (t) => t.main.call('POST', '/v1/conversations', as(t, { title: 'Hello' })),
      400: (t) => t.main.call('POST', '/v1/conversations', as(t, { title: 42 })),
      401: unauthenticated,
      413: tooLarge,
      429: rateLimited,
    },
  },
  'GET /v1/conversations': {
    drivers: {
      200: async (t) => {
        await conversation(t);
        return t.main.call('GET', '/v1/conversations', as(t));
      },
      400: (t) => t.main.call('GET', '/v1/conversations?limit=0', as(t)),
      401: unauthenticated,
      429: rateLimited,
    },
  },
  'GET /v1/conversations/{conversationId}': {
    drivers: conversationTable('GET', '', undefined, async (t) =>
      t.main.call('GET', `/v1/conversations/${await conversation(t)}`, as(t)),
    ),
  },
  'PATCH /v1/conversations/{conversationId}': {
    probeBody: { title: 'probe' },
    drivers: {
      ...conversationTable('PATCH', '', { title: 'renamed' }, async (t) =>
        t.main.call(
          'PATCH',
          `/v1/conversations/${await conversation(t)}`,
          as(t, { title: 'renamed' }),
        ),
      ),
      413: tooLarge,
    },
  },
  'DELETE /v1/conversations/{conversationId}': {
    drivers: {
      ...conversationTable('DELETE', ''),
      204: async (t) => t.main.call('DELETE', `/v1/conversations/${await conversation(t)}`, as(t)),
      413: tooLarge,
    },
  },
  'GET /v1/conversations/{conversationId}/messages': {
    drivers: conversationTable('GET', '/messages', undefined, async (t) => {
      const id = await conversation(t);
      await t.main.store().turns.append(t.user, id, { user: 'hi', assistant: 'hello' });
      return t.main.call('GET', `/v1/conversations/${id}/messages?limit=10`, as(t));
    }),
  },
  'POST /v1/conversations/{conversationId}/turns': {
    probeBody: { user: 'hi', assistant: 'hello' },
    drivers: {
      ...conversationTable('POST', '/turns', { user: 'hi', assistant: 'hello' }),
      201: async (t) =>
        t.main.call(
          'POST',
          `/v1/conversations/${await conversation(t)}/turns`,
          as(t, { user: 'hi', assistant: 'hello' }),
        ),
      200: async (t) => {
        const path = `/v1/conversations/${await conversation(t)}/turns`;
        const body = { user: 'hi', assistant: 'hello', idempotencyKey: 'k1' };
        expect((await t.main.call('POST', path, as(t, body))).status).toBe(201);
        return t.main.call('POST', path, as(t, body));
      },
      409: async (t) => {
        const path = `/v1/conversations/${await conversation(t)}/turns`;
        expect(
          (
            await t.main.call(
              'POST',
              path,
              as(t, { user: 'hi', assistant: 'a', idempotencyKey: 'k1' }),
            )
          ).status,
        ).toBe(201);
        return t.main.call(
          'POST',
          path,
          as(t, { user: 'other', assistant: 'a', idempotencyKey: 'k1' }),
        );
      },
      413: tooLarge,
    },
  },
  'POST /v1/conversations/{conversationId}/turns/run': {
    probeBody: { message: 'hi' },
    drivers: {
      ...conversationTable('POST', '/turns/run', { message: 'hi' }),
      201: async (t) =>
        t.main.call(
          'POST',
          `/v1/conversations/${await conversation(t)}/turns/run`,
          as(t, { message: 'hi' }),
        ),
      200: async (t) => {
        const path = `/v1/conversations/${await conversation(t)}/turns/run`;
        expect(
          (await t.main.call('POST', path, as(t, { message: 'hi' }, { 'idempotency-key': 'k1' })))
            .status,
        ).toBe(201);
        return t.main.call('POST', path, as(t, { message: 'hi' }, { 'idempotency-key': 'k1' }));
      },
      409: async (t) => {
        const path = `/v1/conversations/${await conversation(t)}/turns/run`;
        expect(
          (await t.main.call('POST', path, as(t, { message: 'hi', idempotencyKey: 'k1' }))).status,
        ).toBe(201);
        return t.main.call('POST', path, as(t, { message: 'changed', idempotencyKey: 'k1' }));
      },
      413: tooLarge,
      502: async (t) =>
        t.agents.call(
          'POST',
          `/v1/conversations/${await conversation(t, t.agents)}/turns/run`,
          as(t, { message: 'fail' }),
        ),
      503: shuttingDown,
      504: async (t) =>
        t.agents.call(
          'POST',
          `/v1/conversations/${await conversation(t, t.agents)}/turns/run`,
          as(t, { message: 'slow' }),
        ),
    },
  },
  'POST /v1/conversations/{conversationId}/turns/stream': {
    probeBody: { message: 'hi' },
    drivers: {
      ...conversationTable('POST', '/turns/stream', { message: 'hi' }, async (t) =>
        t.main.call(
          'POST',
          `/v1/conversations/${await conversation(t)}/turns/stream`,
          as(t, { message: 'hi' }),
        ),
      ),
      409: async (t) => {
        const path = `/v1/conversations/${await conversation(t)}/turns/stream`;
        expect(
          (await t.main.call('POST', path, as(t, { message: 'hi', idempotencyKey: 'k1' }))).status,
        ).toBe(200);
        return t.main.call('POST', path, as(t, { message: 'changed', idempotencyKey: 'k1' }));
      },
      413: tooLarge,
      503: shuttingDown,
    },
  },
  'POST /v1/conversations/{conversationId}/streamed-turns': {
    probeBody: { message: 'hi' },
    drivers: {
      ...conversationTable('POST', '/streamed-turns', { message: 'hi' }),
      201: async (t) =>
        t.main.call(
          'POST',
          `/v1/conversations/${await conversation(t)}/streamed-turns`,
          as(t, { message: 'hi' }),
        ),
      200: async (t) => {
        const path = `/v1/conversations/${await conversation(t)}/streamed-turns`;
        expect(
          (await t.main.call('POST', path, as(t, { message: 'hi', idempotencyKey: 'k1' }))).status,
        ).toBe(201);
        return t.main.call('POST', path, as(t, { message: 'hi', idempotencyKey: 'k1' }));
      },
      409: async (t) => {
        const path = `/v1/conversations/${await conversation(t)}/streamed-turns`;
        expect(
          (await t.main.call('POST', path, as(t, { message: 'hi', idempotencyKey: 'k1' }))).status,
        ).toBe(201);
        return t.main.call('POST', path, as(t, { message: 'changed', idempotencyKey: 'k1' }));
      },
      413: tooLarge,
    },
  },
  'GET /v1/streamed-turns/{turnId}': {
    drivers: {
      200: async (t) => t.main.call('GET', `/v1/streamed-turns/${await streamedTurn(t)}`, as(t)),
      400: (t) => t.main.call('GET', '/v1/streamed-turns/not-a-uuid', as(t)),
      401: unauthenticated,
      404: (t) => t.main.call('GET', `/v1/streamed-turns/${randomUUID()}`, as(t)),
      429: rateLimited,
    },
  },
  'POST /v1/streamed-turns/{turnId}/text': {
    probeBody: { text: 'more' },
    drivers: {
      200: async (t) =>
        t.main.call(
          'POST',
          `/v1/streamed-turns/${await streamedTurn(t)}/text`,
          as(t, { text: 'more' }),
        ),
      400: async (t) =>
        t.main.call(
          'POST',
          `/v1/streamed-turns/${await streamedTurn(t)}/text`,
          as(t, { text: '' }),
        ),
      401: unauthenticated,
      404: (t) =>
        t.main.call('POST', `/v1/streamed-turns/${randomUUID()}/text`, as(t, { text: 'more' })),
      409: async (t) =>
        t.main.call(
          'POST',
          `/v1/streamed-turns/${await streamedTurn(t, 'committed')}/text`,
          as(t, { text: 'late' }),
        ),
      413: tooLarge,
      429: rateLimited,
    },
  },
  'POST /v1/streamed-turns/{turnId}/keep-alive': {
    drivers: {
      200: async (t) => t.main.call('POST', `/v1/streamed-turns/${await streamedTurn(t)}/keep-alive`, as(t)),
      400: (t) => t.main.call('POST', '/v1/streamed-turns/not-a-uuid/keep-alive', as(t)),
      401: unauthenticated,
      404: (t) => t.main.call('POST', `/v1/streamed-turns/${randomUUID()}/keep-alive`, as(t)),
      409: async (t) => t.main.call('POST', `/v1/streamed-turns/${await streamedTurn(t, 'committed')}/keep-alive`, as(t)),
      413: tooLarge,
      429: rateLimited,
    },
  },
  'POST /v1/streamed-turns/{turnId}/commit': {
    drivers: {
      200: async (t) =>
        t.main.call('POST', `/v1/streamed-turns/${await streamedTurn(t)}/commit`, as(t)),
      400: async (t) =>
        t.main.call(
          'POST',
          `/v1/streamed-turns/${await streamedTurn(t)}/commit`,
          as(t, { content: 7 }),
        ),
      401: unauthenticated,
      404: (t) => t.main.call('POST', `/v1/streamed-turns/${randomUUID()}/commit`, as(t)),
      409: async (t) =>
        t.main.call('POST', `/v1/streamed-turns/${await streamedTurn(t, 'aborted')}/commit`, as(t)),
      413: tooLarge,
      429: rateLimited,
    },
  },
  'POST /v1/streamed-turns/{turnId}/abort': {
    drivers: {
      200: async (t) =>
        t.main.call(
          'POST',
          `/v1/streamed-turns/${await streamedTurn(t)}/abort`,
          as(t, { keepPartial: true }),
        ),
      400: async (t) =>
        t.main.call(
          'POST',
          `/v1/streamed-turns/${await streamedTurn(t)}/abort`,
          as(t, { keepPartial: 'yes' }),
        ),
      401: unauthenticated,
      404: (t) => t.main.call('POST', `/v1/streamed-turns/${randomUUID()}/abort`, as(t)),
      409: async (t) =>
        t.main.call(
          'POST',
          `/v1/streamed-turns/${await streamedTurn(t, 'committed')}/abort`,
          as(t),
        ),
      413: tooLarge,
      429: rateLimited,
    },
  },

  'POST /v1/onboarding-sessions': {
    probeBody: { flow: 'setup', phase: 'welcome' },
    drivers: {
      201: (t) =>
        t.main.call('POST', '/v1/onboarding-sessions', as(t, { flow: 'setup', phase: 'welcome' })),
      200: async (t) => {
        await session(t);
        return t.main.call(
          'POST',
          '/v1/onboarding-sessions',
          as(t, { flow: 'setup', phase: 'welcome' }),
        );
      },
      400: (t) =>
        t.main.call(
          'POST',
          '/v1/onboarding-sessions',
          as(t, { flow: 'setup', phase: 'welcome', progress: 101 }),
        ),
      401: unauthenticated,
      404: (t) =>
        t.main.call(
          'POST',
          '/v1/onboarding-sessions',
          as(t, { flow: 'setup', phase: 'welcome', conversationId: randomUUID() }),
        ),
      413: tooLarge,
      429: rateLimited,
    },
  },
  'GET /v1/onboarding-sessions': {
    drivers: {
      200: async (t) => {
        await session(t);
        return t.main.call('GET', '/v1/onboarding-sessions?status=active', as(t));
      },
      400: (t) => t.main.call('GET', '/v1/onboarding-sessions?status=paused', as(t)),
      401: unauthenticated,
      429: rateLimited,
    },
  },
  'GET /v1/onboarding-sessions/{sessionId}': {
    drivers: {
      200: async (t) => t.main.call('GET', `/v1/onboarding-sessions/${await session(t)}`, as(t)),
      400: (t) => t.main.call('GET', '/v1/onboarding-sessions/not-a-uuid', as(t)),
      401: unauthenticated,
      404: (t) => t.main.call('GET', `/v1/onboarding-sessions/${randomUUID()}`, as(t)),
      429: rateLimited,
    },
  },
  'PATCH /v1/onboarding-sessions/{sessionId}': {
    probeBody: { phase: 'next' },
    drivers: {
      200: async (t) =>
        t.main.call(
          'PATCH',
          `/v1/onboarding-sessions/${await session(t)}`,
          as(t, { phase: 'goals', progress: 40 }),
        ),
      400: async (t) =>
        t.main.call(
          'PATCH',
          `/v1/onboarding-sessions/${await session(t)}`,
          as(t, { progress: -1 }),
        ),
      401: unauthenticated,
      404: (t) =>
        t.main.call('PATCH', `/v1/onboarding-sessions/${randomUUID()}`, as(t, { phase: 'goals' })),
      409: async (t) =>
        t.main.call(
          'PATCH',
          `/v1/onboarding-sessions/${await session(t, 'completed')}`,
          as(t, { phase: 'goals' }),
        ),
      413: tooLarge,
      429: rateLimited,
    },
  },
  'POST /v1/onboarding-sessions/{sessionId}/complete': {
    drivers: {
      200: async (t) =>
        t.main.call(
          'POST',
          `/v1/onboarding-sessions/${await session(t)}/complete`,
          as(t, { context: { done: true } }),
        ),
      400: async (t) =>
        t.main.call(
          'POST',
          `/v1/onboarding-sessions/${await session(t)}/complete`,
          as(t, { context: 'done' }),
        ),
      401: unauthenticated,
      404: (t) => t.main.call('POST', `/v1/onboarding-sessions/${randomUUID()}/complete`, as(t)),
      409: async (t) =>
        t.main.call(
          'POST',
          `/v1/onboarding-sessions/${await session(t, 'abandoned')}/complete`,
          as(t),
        ),
      413: tooLarge,
      429: rateLimited,
    },
  },
  'POST /v1/onboarding-sessions/{sessionId}/abandon': {
    drivers: {
      200: async (t) =>
        t.main.call('POST', `/v1/onboarding-sessions/${await session(t)}/abandon`, as(t)),
      400: (t) => t.main.call('POST', '/v1/onboarding-sessions/not-a-uuid/abandon', as(t)),
      401: unauthenticated,
      404: (t) => t.main.call('POST', `/v1/onboarding-sessions/${randomUUID()}/abandon`, as(t)),
      409: async (t) =>
        t.main.call(
          'POST',
          `/v1/onboarding-sessions/${await session(t, 'completed')}/abandon`,
          as(t),
        ),
      413: tooLarge,
      429: rateLimited,
    },
  },

  'GET /v1/me': {
    drivers: {
      200: (t) => t.main.call('GET', '/v1/me', as(t)),
      400: unknownQuery,
      401: unauthenticated,
      429: rateLimited,
    },
  },
  'DELETE /v1/me': {
    drivers: {
      200: async (t) => {
        await conversation(t);
        return t.main.call('DELETE', '/v1/me', as(t));
      },
      400: notJson,
      401: unauthenticated,
      413: tooLarge,
      429: rateLimited,
    },
  },
  'GET /v1/me/api-keys': {
    drivers: {
      200: async (t) => {
        await t.main.store().apiKeys.create(t.user, { name: 'laptop' });
        return t.main.call('GET', '/v1/me/api-keys', as(t));
      },
      400: unknownQuery,
      401: unauthenticated,
      429: rateLimited,
    },
  },
  'POST /v1/me/api-keys': {
    drivers: {
      201: (t) => t.main.call('POST', '/v1/me/api-keys', as(t, { name: 'laptop' })),
      400: (t) => t.main.call('POST', '/v1/me/api-keys', as(t, { name: 'x'.repeat(101) })),
      409: async (t) => t.main.call('POST', '/v1/me/api-keys', { token: await jwtFor(await userWithAllKeys(t)), body: {} }),
      401: unauthenticated,
      413: tooLarge,
      429: rateLimited,
    },
  },
  'DELETE /v1/me/api-keys/{keyId}': {
    drivers: {
      200: async (t) =>
        t.main.call(
          'DELETE',
          `/v1/me/api-keys/${(await t.main.store().apiKeys.create(t.user)).apiKey.id}`,
          as(t),
        ),
      400: (t) => t.main.call('DELETE', '/v1/me/api-keys/not-a-uuid', as(t)),
      401: unauthenticated,
      404: (t) => t.main.call('DELETE', `/v1/me/api-keys/${randomUUID()}`, as(t)),
      413: tooLarge,
      429: rateLimited,
    },
  },

  'POST /v1/admin/users/{userId}/api-keys': {
    drivers: {
      201: (t) =>
        t.main.call('POST', `/v1/admin/users/${t.user}/api-keys`, admin({ name: 'issued' })),
      400: (t) =>
        t.main.call('POST', `/v1/admin/users/${t.user}/api-keys`, admin({ name: 'x'.repeat(101) })),
      409: async (t) => t.main.call('POST', `/v1/admin/users/${await userWithAllKeys(t)}/api-keys`, admin({})),
      401: unauthenticated,
      413: adminTooLarge,
      429: adminRateLimited,
    },
  },
  'GET /v1/admin/users/{userId}/api-keys': {
    drivers: {
      200: async (t) => {
        await t.main.store().apiKeys.create(t.user);
        return t.main.call('GET', `/v1/admin/users/${t.user}/api-keys`, admin());
      },
      400: (t) => t.main.call('GET', '/v1/admin/users/has%20space/api-keys', admin()),
      401: unauthenticated,
      429: adminRateLimited,
    },
  },
  'DELETE /v1/admin/users/{userId}/api-keys/{keyId}': {
    drivers: {
      200: async (t) =>
        t.main.call(
          'DELETE',
          `/v1/admin/users/${t.user}/api-keys/${(await t.main.store().apiKeys.create(t.user)).apiKey.id}`,
          admin(),
        ),
      400: (t) => t.main.call('DELETE', `/v1/admin/users/${t.user}/api-keys/not-a-uuid`, admin()),
      401: unauthenticated,
      404: (t) =>
        t.main.call('DELETE', `/v1/admin/users/${t.user}/api-keys/${randomUUID()}`, admin()),
      413: adminTooLarge,
      429: adminRateLimited,
    },
  },
  'DELETE /v1/admin/users/{userId}': {
    drivers: {
      200: async (t) => {
        await conversation(t);
        return t.main.call('DELETE', `/v1/admin/users/${t.user}`, admin());
      },
      400: (t) => t.main.call('DELETE', '/v1/admin/users/has%20space', admin()),
      401: unauthenticated,
      413: adminTooLarge,
      429: adminRateLimited,
    },
  },
  'GET /v1/me/flags': {
    drivers: {
      200: async (t) => {
        await t.main
          .store()
          .flags.define(`openapi-${process.pid}`, { enabled: true, rolloutPercent: 50 });
        return t.main.call('GET', '/v1/me/flags', as(t));
      },
      400: unknownQuery,
      401: unauthenticated,
      429: rateLimited,
    },
  },
  'GET /v1/admin/flags': {
    drivers: {
      200: async (t) => {
        await flag(t);
        return t.main.call('GET', '/v1/admin/flags', admin());
      },
      400: adminUnknownQuery,
      401: unauthenticated,
      429: adminRateLimited,
    },
  },
  'PUT /v1/admin/flags/{name}': {
    probeBody: {},
    drivers: {
      201: (t) =>
        t.main.call(
          'PUT',
          `/v1/admin/flags/${flagName(t)}`,
          admin({ enabled: true, rolloutPercent: 5 }),
        ),
      200: async (t) =>
        t.main.call('PUT', `/v1/admin/flags/${await flag(t)}`, admin({ rolloutPercent: 10.5 })),
      400: (t) =>
        t.main.call('PUT', `/v1/admin/flags/${flagName(t)}`, admin({ rolloutPercent: 101 })),
      401: unauthenticated,
      413: adminTooLarge,
      429: adminRateLimited,
    },
  },
  'DELETE /v1/admin/flags/{name}': {
    drivers: {
      204: async (t) => t.main.call('DELETE', `/v1/admin/flags/${await flag(t)}`, admin()),
      400: (t) => t.main.call('DELETE', '/v1/admin/flags/Not_A_Flag', admin()),
      401: unauthenticated,
      404: (t) => t.main.call('DELETE', `/v1/admin/flags/${flagName(t)}`, admin()),
      413: adminTooLarge,
      429: adminRateLimited,
    },
  },
  'PUT /v1/admin/flags/{name}/overrides/{userId}': {
    probeBody: { enabled: true },
    drivers: {
      200: async (t) =>
        t.main.call(
          'PUT',
          `/v1/admin/flags/${await flag(t)}/overrides/${t.user}`,
          admin({ enabled: true }),
        ),
      400: async (t) =>
        t.main.call(
          'PUT',
          `/v1/admin/flags/${await flag(t)}/overrides/${t.user}`,
          admin({ enabled: 'yes' }),
        ),
      401: unauthenticated,
      404: (t) =>
        t.main.call(
          'PUT',
          `/v1/admin/flags/${flagName(t)}/overrides/${t.user}`,
          admin({ enabled: true }),
        ),
      413: adminTooLarge,
      429: adminRateLimited,
    },
  },
  'DELETE /v1/admin/flags/{name}/overrides/{userId}': {
    drivers: {
      204: async (t) => {
        const name = await flag(t);
        await t.main.store().flags.setOverride(t.user, name, true);
        return t.main.call('DELETE', `/v1/admin/flags/${name}/overrides/${t.user}`, admin());
      },
      400: async (t) =>
        t.main.call('DELETE', `/v1/admin/flags/${await flag(t)}/overrides/has%20space`, admin()),
      401: unauthenticated,
      404: (t) =>
        t.main.call('DELETE', `/v1/admin/flags/${flagName(t)}/overrides/${t.user}`, admin()),
      413: adminTooLarge,
      429: adminRateLimited,
    },
  },
  'GET /v1/admin/migrations': {
    drivers: {
      200: (t) => t.main.call('GET', '/v1/admin/migrations', admin()),
      400: adminUnknownQuery,
      401: unauthenticated,
      429: adminRateLimited,
    },
  },
  'POST /v1/admin/sweep': {
    drivers: {
      200: (t) => t.main.call('POST', '/v1/admin/sweep', admin()),
      400: adminNotJson,
      401: unauthenticated,
      413: adminTooLarge,
      429: adminRateLimited,
    },
  },
};

/**
 * The full table: every route but the liveness probe also answers 503
 * CK_SHUTTING_DOWN while the server drains, driven the same way for all.
 */
const TABLE: Readonly<Record<string, RouteDrivers>> = Object.fromEntries(
  Object.entries(ROUTE_TABLE).map(([route, r]) => [
    route,
    route === 'GET /healthz' ? r : { ...r, drivers: { 503: shuttingDown, ...r.drivers } },
  ]),
);

/** Routes whose body may be left out: the document must say `requestBody.required: false`. */
const OPTIONAL_BODIES: readonly string[] = [
  'POST /v1/conversations',
  'POST /v1/streamed-turns/{turnId}/commit',
  'POST /v1/streamed-turns/{turnId}/abort',
  'POST /v1/onboarding-sessions/{sessionId}/complete',
  'POST /v1/me/api-keys',
  'POST /v1/admin/users/{userId}/api-keys',
];

/** `METHOD /path` for every route Fastify registered (HEAD twins, which Fastify adds to every GET, left out). */
function registeredRoutes(tree: string): string[] {
  const routes: string[] = [];
  const parents: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (match === null) {
      if (line.trim() !== '')
        throw new Error(`unexpected line in printRoutes(): ${JSON.stringify(line)}`);
      continue;
    }
    const depth = match[1]!.length / 4;
    parents.length = depth;
    const path = parents.join('') + match[2]!;
    parents.push(match[2]!);
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method !== '' && method !== 'HEAD')
        routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

/** JSON-schema violations of `value` against a schema from the document; an unknown keyword is itself a violation. */
function violations(schema: Record<string, any>, value: unknown, at = '$'): string[] {
  const understood = new Set([
    'type',
    'nullable',
    'enum',
    'properties',
    'required',
    'additionalProperties',
    'items',
    'anyOf',
    'format',
    'pattern',
    'minLength',
    'maxLength',
    'minimum',
    'maximum',
    'description',
    'readOnly',
  ]);
  const unknown = Object.keys(schema).filter((k) => !understood.has(k));
  if (unknown.length > 0) return [`${at}: the checker does not understand ${unknown.join(', ')}`];
  if (value === null && schema['nullable'] === true) return [];
  if (schema['anyOf'] !== undefined) {
    const options = schema['anyOf'] as Record<string, any>[];
    return options.some((o) => violations(o, value, at).length === 0)
      ? []
      : [`${at}: matches none of anyOf`];
  }
  const found: string[] = [];
  if (schema['enum'] !== undefined && !(schema['enum'] as unknown[]).includes(value))
    found.push(`${at}: ${JSON.stringify(value)} not in enum`);
  const type = schema['type'] as string | undefined;
  const typeOk =
    type === undefined ||
    (type === 'object' && typeof value === 'object' && value !== null && !Array.isArray(value)) ||
    (type === 'array' && Array.isArray(value)) ||
    (type === 'string' && typeof value === 'string') ||
    (type === 'integer' && Number.isInteger(value)) ||
    (type === 'number' && typeof value === 'number') ||
    (type === 'boolean' && typeof value === 'boolean');
  if (!typeOk)
    return [...found, `${at}: expected ${type}, got ${JSON.stringify(value)?.slice(0, 80)}`];
  if (typeof value === 'string') {
    if (schema['minLength'] !== undefined && value.length < schema['minLength'])
      found.push(`${at}: shorter than ${schema['minLength']}`);
    if (schema['maxLength'] !== undefined && value.length > schema['maxLength'])
      found.push(`${at}: longer than ${schema['maxLength']}`);
    if (schema['pattern'] !== undefined && !new RegExp(schema['pattern']).test(value))
      found.push(`${at}: does not match ${schema['pattern']}`);
    if (
      schema['format'] === 'date-time' &&
      !(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value) &&
        !Number.isNaN(Date.parse(value))
      )
    ) {
      found.push(`${at}: not a date-time`);
    }
    if (
      schema['format'] === 'uuid' &&
      !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)
    )
      found.push(`${at}: not a uuid`);
  }
  if (typeof value === 'number') {
    if (schema['minimum'] !== undefined && value < schema['minimum'])
      found.push(`${at}: below ${schema['minimum']}`);
    if (schema['maximum'] !== undefined && value > schema['maximum'])
      found.push(`${at}: above ${schema['maximum']}`);
  }
  if (Array.isArray(value) && schema['items'] !== undefined) {
    value.forEach((item, i) => found.push(...violations(schema['items'], item, `${at}[${i}]`)));
  }
  if (type === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (schema['properties'] ?? {}) as Record<string, Record<string, any>>;
    for (const key of (schema['required'] ?? []) as string[])
      if (!(key in object)) found.push(`${at}.${key}: required but missing`);
    for (const [key, item] of Object.entries(object)) {
      const property = properties[key];
      if (property !== undefined) found.push(...violations(property, item, `${at}.${key}`));
      else if (schema['additionalProperties'] === false) found.push(`${at}.${key}: not allowed`);
      else if (typeof schema['additionalProperties'] === 'object')
        found.push(...violations(schema['additionalProperties'], item, `${at}.${key}`));
    }
  }
  return found;
}

/** A GET with a JSON body of `bytes` bytes and its Content-Length (which fetch refuses to send); resolves to the status. */
function getWithBody(base: string, path: string, token: string, bytes: number): Promise<number> {
  const body = JSON.stringify({ padding: 'x'.repeat(bytes) });
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      {
        method: 'GET',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the OpenAPI document`, () => {
    const main = useServer(backend.name);
    const limited = useServer(backend.name, { rateLimit: { max: 1, windowMs: 60_000 } });
    const failing: Agent = async ({ message, signal }) => {
      if (message === 'fail') throw new Error('the model exploded');
      if (message === 'slow') await sleepUnlessAborted(10_000, signal);
      return 'fine';
    };
    const noStream: StreamingAgent = async function* () {
      yield 'fine';
    };
    const agents = useServer(backend.name, {
      agent: { name: 'failing', run: failing, stream: noStream },
      agentTimeoutMs: 300,
    });

    // A server that is shutting down while one agent run is still in flight:
    // it keeps serving that run, and answers everything new with 503.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered: () => void = () => undefined;
    const agentEntered = new Promise<void>((resolve) => (entered = resolve));
    const holding: Agent = async () => {
      entered();
      await held;
      return 'finished during shutdown';
    };
    const drainingFixture = useServer(backend.name, {
      agent: { name: 'holding', run: holding, stream: noStream },
    });
    let draining: Promise<{ inFlight: Promise<Reply>; closed: Promise<unknown> }> | undefined;
    const startDraining = async () => {
      draining ??= (async () => {
        const user = newUser('drain');
        const { id } = await drainingFixture.store().conversations.create(user);
        const inFlight = drainingFixture.call('POST', `/v1/conversations/${id}/turns/run`, {
          token: await jwtFor(user),
          body: { message: 'hold' },
        });
        await agentEntered;
        const closed = drainingFixture.server().close();
        return { inFlight, closed };
      })();
      await draining;
      return drainingFixture;
    };
    afterAll(async () => {
      release();
      if (draining === undefined) return;
      const { inFlight, closed } = await draining;
      expect((await inFlight).status).toBe(201);
      await closed;
    });

    let document: Record<string, any>;
    beforeAll(async () => {
      const reply = await main.call('GET', '/openapi.json');
      expect(reply.status).toBe(200);
      document = reply.body;
    });

    const documented = () =>
      Object.entries(
        document['paths'] as Record<string, Record<string, { responses: Record<string, any> }>>,
      ).flatMap(([path, operations]) =>
        Object.entries(operations).map(([method, operation]) => ({
          route: `${method.toUpperCase()} ${path}`,
          operation,
        })),
      );

    it('is an OpenAPI 3 document served without a token, not listing itself', () => {
      expect(document['openapi']).toMatch(/^3\.\d+\.\d+$/);
      expect(document['info']).toMatchObject({
        title: expect.any(String),
        version: expect.any(String),
      });
      expect(Object.keys(document['paths'])).not.toContain('/openapi.json');
    });

    it('documents every registered route, and no route that does not exist', () => {
      const registered = registeredRoutes(
        main.server().app.printRoutes({ commonPrefix: false }),
      ).filter((r) => r !== 'GET /openapi.json');
      expect(registered.length).toBeGreaterThan(30);
      expect(
        documented()
          .map((d) => d.route)
          .sort(),
      ).toEqual(registered);
    });

    it('has a driver in this test for exactly the documented statuses of every route', () => {
      const fromDocument = Object.fromEntries(
        documented().map(({ route, operation }) => [
          route,
          Object.keys(operation.responses).map(Number).sort(),
        ]),
      );
      const fromTable = Object.fromEntries(
        Object.entries(TABLE).map(([route, r]) => [
          route,
          Object.keys(r.drivers).map(Number).sort(),
        ]),
      );
      expect(fromTable).toEqual(fromDocument);
    });

    it('the response checker rejects what the document forbids', () => {
      const schema =
        document['paths']['/v1/conversations/{conversationId}'].get.responses['200'].content[
          'application/json'
        ].schema;
      const good = {
        id: randomUUID(),
        userId: 'u',
        title: null,
        summary: '',
        metadata: {},
        messageCount: 0,
        lastMessageAt: null,
        createdAt: new Date().toISOString(),
        updatedAt: new Date().toISOString(),
      };
      expect(violations(schema, good)).toEqual([]);
      const { title: _title, ...missing } = good;
      expect(violations(schema, missing)).toEqual(['$.title: required but missing']);
      expect(
        violations(schema, { ...good, messageCount: '0', extra: 1, createdAt: 'yesterday' }),
      ).toEqual([
        '$.messageCount: expected integer, got "0"',
        '$.createdAt: not a date-time',
        '$.extra: not allowed',
      ]);
    });

    // A 204 has no body (RFC 9110 section 15.3.5): a document giving it content makes generated clients parse nothing as JSON.
    it('documents every 204 without content', () => {
      const noContent = documented().filter(({ operation }) => operation.responses['204'] !== undefined);
      expect(noContent.length).toBeGreaterThanOrEqual(3);
      expect(noContent.filter(({ operation }) => operation.responses['204'].content !== undefined).map(({ route }) => route)).toEqual([]);
    });

    // The stream route's 200 is an event stream; its errors, sent before streaming starts, are JSON.
    it('documents the JSON error responses of the stream route as application/json', () => {
      const responses = document['paths']['/v1/conversations/{conversationId}/turns/stream'].post
        .responses as Record<string, { content: object }>;
      for (const [status, response] of Object.entries(responses)) {
        expect({ status, types: Object.keys(response.content) }).toEqual({
          status,
          types: [Number(status) >= 400 ? 'application/json' : 'text/event-stream'],
        });
      }
    });

    // Fastify reads a body on POST, PUT, PATCH and DELETE whatever the route
    // declares, so a body that is not JSON (400) or is over bodyLimit (413)
    // reaches every such route; the drivers above send both to each. Every
    // /v1 route refuses a query parameter it does not take (400),
    // authenticates (401), counts against the rate limit (429) and refuses
    // new requests while draining (503).
    it('documents 413 on every route whose method carries a body, and 400, 401, 429, 503 on every /v1 route', () => {
      const missing = documented().flatMap(({ route, operation }) => {
        const [method, path] = route.split(' ') as [string, string];
        const expected = [
          ...(['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) ? ['400', '413'] : []),
          ...(path.startsWith('/v1/') ? ['400', '401', '429', '503'] : []),
        ];
        return expected
          .filter((s) => operation.responses[s] === undefined)
          .map((s) => `${route} → ${s}`);
      });
      expect(missing).toEqual([]);
    });

    // Why the GET routes list no 413: their bodies are never read (fetch will not even send one).
    it('a GET route ignores a body over bodyLimit, so no GET lists 413', async () => {
      const user = newUser('openapi');
      const status = await getWithBody(main.url(), '/v1/me', await jwtFor(user), 1_100_000);
      expect(status).toBe(200);
      for (const { route, operation } of documented()) {
        if (route.startsWith('GET '))
          expect({ route, has413: '413' in operation.responses }).toEqual({ route, has413: false });
      }
    });

    // The router refuses a path it cannot decode before any route runs; the
    // refusal is a documented 400 (in the one error shape, naming url) of
    // every route with a path parameter.
    it('a malformed %-escape in any path parameter is a documented 400 naming url, on every route that has one', async () => {
      const answers: Record<string, unknown> = {};
      const expected: Record<string, unknown> = {};
      const token = await jwtFor(newUser('openapi'));
      for (const { route, operation } of documented()) {
        const [method, path] = route.split(' ') as [string, string];
        for (const [param] of path.matchAll(/\{\w+\}/g)) {
          const url = probePath({ method, path: path.replace(param, '%E0%A4%A') });
          const reply = await main.call(method, url, {
            token: path.startsWith('/v1/admin/') ? ADMIN_TOKEN : token,
          });
          const key = `${method} ${path} with ${param} = %E0%A4%A`;
          answers[key] = {
            documented: operation.responses['400'] !== undefined,
            status: reply.status,
            code: reply.body?.error?.code,
            field: reply.body?.error?.details?.field,
          };
          expected[key] = { documented: true, status: 400, code: 'CK_VALIDATION', field: 'url' };
        }
      }
      expect(Object.keys(expected).length).toBeGreaterThan(20);
      expect(answers).toEqual(expected);
    });

    // docs/http.md: the key comes "as the `Idempotency-Key` header or an
    // `idempotencyKey` body field". A client generated from the document
    // only knew the body field: the header, which HTTP tooling and proxies
    // expect, was nowhere in it.
    it('documents the Idempotency-Key header on every route whose body takes an idempotencyKey', () => {
      const withKey = documented().filter(({ operation }) => {
        const body = (operation as { requestBody?: { content?: Record<string, { schema?: { properties?: object } }> } }).requestBody;
        return body?.content?.['application/json']?.schema?.properties !== undefined && 'idempotencyKey' in body.content['application/json'].schema.properties;
      });
      expect(withKey.map(({ route }) => route).sort()).toEqual([
        'POST /v1/conversations/{conversationId}/streamed-turns',
        'POST /v1/conversations/{conversationId}/turns',
        'POST /v1/conversations/{conversationId}/turns/run',
        'POST /v1/conversations/{conversationId}/turns/stream',
      ]);
      for (const { route, operation } of withKey) {
        const parameters = (operation as { parameters?: { in: string; name: string; required?: boolean; schema?: { type?: string } }[] }).parameters ?? [];
        const header = parameters.find((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key');
        expect({ route, header: header === undefined ? undefined : { required: header.required ?? false, type: header.schema?.type } }).toEqual({
          route,
          header: { required: false, type: 'string' },
        });
      }
    });

    it('documents every integer query parameter as an integer with its bounds', () => {
      const integers = documented().flatMap(({ route, operation }) =>
        (
          (operation as { parameters?: { in: string; name: string; schema: { type?: string } }[] })
            .parameters ?? []
        )
          .filter((p) => p.in === 'query' && p.schema.type === 'integer')
          .map((p) => [`${route} ?${p.name}`, p.schema] as const),
      );
      expect(Object.fromEntries(integers)).toEqual({
        'GET /v1/conversations ?limit': { type: 'integer', minimum: 1, maximum: 100 },
        'GET /v1/conversations/{conversationId}/messages ?limit': {
          type: 'integer',
          minimum: 1,
          maximum: 1000,
        },
        'GET /v1/onboarding-sessions ?limit': { type: 'integer', minimum: 1, maximum: 100 },
      });
    });

    // A request body the document marks required must really be required, or clients are told wrong.
    for (const [route, { probeBody }] of Object.entries(TABLE)) {
      const [method, path] = route.split(' ') as [string, string];
      const optional = OPTIONAL_BODIES.includes(route);
      it(
        `${route}: a body documented as required is refused when missing, one documented optional is accepted`,
        async () => {
          const body = document['paths'][path][method.toLowerCase()].requestBody as
            { required?: boolean } | undefined;
          if (body?.required !== true) {
            // Not documented as required: only a route known to take an optional body may say so.
            expect(body === undefined || optional).toBe(true);
            return;
          }
          expect(optional).toBe(false);
          const user = newUser('openapi');
          const token = path.startsWith('/v1/admin/') ? ADMIN_TOKEN : await jwtFor(user);
          const reply = await main.call(method, probePath({ method, path, probeBody }), { token });
          expect(reply.status).toBe(400);
          expect(reply.body.error).toMatchObject({
            code: 'CK_VALIDATION',
            details: { field: 'body' },
          });
        },
      );
    }

    for (const [route, { drivers, probeBody, knownBugs }] of Object.entries(TABLE)) {
      const [method, path] = route.split(' ') as [string, string];
      for (const [status, drive] of Object.entries(drivers)) {
        const bug = knownBugs?.[Number(status)];
        // A known product bug runs as it.fails: it turns red the moment the bug is fixed, so the mark is then removed.
        (bug !== undefined ? it.fails : it)(
          `${route} → ${status}${bug !== undefined ? ` (known bug: ${bug})` : ''}`,
          async () => {
            const user = newUser('openapi');
            const tools: Tools = {
              main,
              limited,
              agents,
              draining: startDraining,
              user,
              token: await jwtFor(user),
            };
            const reply = await drive(tools, { method, path, probeBody });
            expect({ status: reply.status, body: reply.body }).toMatchObject({
              status: Number(status),
            });

            const response = document['paths'][path][method.toLowerCase()].responses[status];
            if (reply.status === 204) {
              expect(reply.body).toBeUndefined();
              return;
            }
            const [mediaType, { schema }] = Object.entries(
              response.content as Record<string, { schema: Record<string, any> }>,
            )[0]!;
            expect(reply.headers.get('content-type')).toContain(mediaType);
            expect(violations(schema, reply.body)).toEqual([]);
            if (reply.status >= 400) {
              expect(
                ERROR_CATALOGUE[reply.body.error.code as keyof typeof ERROR_CATALOGUE].status,
              ).toBe(reply.status);
              expect(reply.body.error.requestId).toBe(reply.headers.get('x-request-id'));
            }
            if (reply.status === 429) expect(reply.headers.get('retry-after')).toMatch(/^\d+$/);
          },
        );
      }
    }
  });
}
