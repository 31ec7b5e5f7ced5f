import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { ADMIN_TOKEN, jwtFor, useServer } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * The request contracts the OpenAPI document states, held against what the
 * server does. The store validates everything again, so a route whose zod
 * schema is loosened still refuses most bad input, but then the document no
 * longer tells clients the rule, and input the store ignores (an unknown
 * body field) is silently dropped instead of refused. Found by a mutation
 * pass: removing `.strict()` from three bodies, or a bound from two fields,
 * left every other test green.
 */

/** A body each route accepts, so that an added unknown field is the only thing wrong with it. */
const VALID_BODIES: Readonly<Record<string, unknown>> = {
  'POST /v1/conversations': {},
  'PATCH /v1/conversations/{conversationId}': {},
  'POST /v1/conversations/{conversationId}/turns': { user: 'u', assistant: 'a' },
  'POST /v1/conversations/{conversationId}/turns/run': { message: 'm' },
  'POST /v1/conversations/{conversationId}/turns/stream': { message: 'm' },
  'POST /v1/conversations/{conversationId}/streamed-turns': { message: 'm' },
  'POST /v1/streamed-turns/{turnId}/text': { text: 't' },
  'POST /v1/streamed-turns/{turnId}/commit': {},
  'POST /v1/streamed-turns/{turnId}/abort': {},
  'POST /v1/onboarding-sessions': { flow: 'f', phase: 'p' },
  'PATCH /v1/onboarding-sessions/{sessionId}': {},
  'POST /v1/onboarding-sessions/{sessionId}/complete': {},
  'POST /v1/me/api-keys': {},
  'POST /v1/admin/users/{userId}/api-keys': {},
  'PUT /v1/admin/flags/{name}': {},
  'PUT /v1/admin/flags/{name}/overrides/{userId}': { enabled: true },
};

/** A bound the document states for a body field, and the request one past it. */
interface Bound {
  readonly route: string;
  readonly field: string;
  readonly keyword: 'maxLength' | 'maximum';
  readonly value: number;
  readonly body: Record<string, unknown>;
}

const BOUNDS: readonly Bound[] = [
  {
    route: 'POST /v1/conversations',
    field: 'title',
    keyword: 'maxLength',
    value: 200,
    body: { title: 't'.repeat(201) },
  },
  {
    route: 'POST /v1/conversations',
    field: 'summary',
    keyword: 'maxLength',
    value: 100,
    body: { summary: 's'.repeat(101) },
  },
  {
    route: 'PATCH /v1/conversations/{conversationId}',
    field: 'title',
    keyword: 'maxLength',
    value: 200,
    body: { title: 't'.repeat(201) },
  },
  {
    route: 'PATCH /v1/conversations/{conversationId}',
    field: 'summary',
    keyword: 'maxLength',
    value: 100,
    body: { summary: 's'.repeat(101) },
  },
  {
    route: 'POST /v1/conversations/{conversationId}/turns',
    field: 'idempotencyKey',
    keyword: 'maxLength',
    value: 200,
    body: { user: 'u', assistant: 'a', idempotencyKey: 'k'.repeat(201) },
  },
  {
    route: 'POST /v1/onboarding-sessions',
    field: 'flow',
    keyword: 'maxLength',
    value: 64,
    body: { flow: 'f'.repeat(65), phase: 'p' },
  },
  {
    route: 'POST /v1/onboarding-sessions',
    field: 'progress',
    keyword: 'maximum',
    value: 100,
    body: { flow: 'f', phase: 'p', progress: 101 },
  },
  {
    route: 'PATCH /v1/onboarding-sessions/{sessionId}',
    field: 'phase',
    keyword: 'maxLength',
    value: 100,
    body: { phase: 'p'.repeat(101) },
  },
  {
    route: 'PATCH /v1/onboarding-sessions/{sessionId}',
    field: 'progress',
    keyword: 'maximum',
    value: 100,
    body: { progress: 101 },
  },
  {
    route: 'POST /v1/me/api-keys',
    field: 'name',
    keyword: 'maxLength',
    value: 100,
    body: { name: 'n'.repeat(101) },
  },
  {
    route: 'POST /v1/admin/users/{userId}/api-keys',
    field: 'name',
    keyword: 'maxLength',
    value: 100,
    body: { name: 'n'.repeat(101) },
  },
  {
    route: 'PUT /v1/admin/flags/{name}',
    field: 'description',
    keyword: 'maxLength',
    value: 1000,
    body: { description: 'd'.repeat(1001) },
  },
  {
    route: 'PUT /v1/admin/flags/{name}',
    field: 'salt',
    keyword: 'maxLength',
    value: 100,
    body: { salt: 's'.repeat(101) },
  },
  {
    route: 'PUT /v1/admin/flags/{name}',
    field: 'rolloutPercent',
    keyword: 'maximum',
    value: 100,
    body: { rolloutPercent: 101 },
  },
];

interface Operation {
  readonly security?: readonly Record<string, unknown>[];
  readonly requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

interface JsonSchema {
  readonly additionalProperties?: unknown;
  readonly properties?: Record<string, Record<string, unknown>>;
}

const FLAG = 'contract-probe-flag';
const TARGET = 'contract-probe-user';

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: request contracts of the OpenAPI document`,
    () => {
      const f = useServer(backend.name);
      const user = newUser('contract');
      let token = '';
      let paths: Record<string, Record<string, Operation>> = {};

      beforeAll(async () => {
        token = await jwtFor(user);
        paths = (await f.call('GET', '/openapi.json')).body.paths;
      });

      function operation(route: string): Operation {
        const [method = '', path = ''] = route.split(' ');
        const found = paths[path]?.[method.toLowerCase()];
        if (found === undefined) throw new Error(`${route} is not in the document`);
        return found;
      }

      function bodySchema(route: string): JsonSchema | undefined {
        return operation(route).requestBody?.content?.['application/json']?.schema;
      }

      /** Sends `body` to `route`, every path parameter filled with a well-formed id, as its user or the admin. */
      function send(route: string, body: unknown) {
        const [method = '', path = ''] = route.split(' ');
        const filled = path.replace(/\{(\w+)\}/g, (_, name: string) =>
          name === 'userId' ? TARGET : name === 'name' ? FLAG : randomUUID(),
        );
        const admin = (operation(route).security ?? []).some((s) => 'adminToken' in s);
        return f.call(method, filled, { token: admin ? ADMIN_TOKEN : token, body });
      }

      /** What a probe could have written: the user's and the target's data, and the probe flag. */
      async function written() {
        const store = f.store();
        return {
          conversations: (await store.conversations.list(user)).conversations.length,
          sessions: (await store.onboarding.list(user)).length,
          keys: (await store.apiKeys.list(user)).length + (await store.apiKeys.list(TARGET)).length,
          flag: (await store.flags.list()).some((flag) => flag.name === FLAG),
        };
      }

      it('every route that takes a JSON body is documented as closed and refuses an unknown field with a 400 naming it; nothing is written', async () => {
        const before = await written();
        const withBody = Object.entries(paths).flatMap(([path, operations]) =>
          Object.entries(operations)
            .filter(([, op]) => op.requestBody?.content?.['application/json'] !== undefined)
            .map(([method]) => `${method.toUpperCase()} ${path}`),
        );
        // A new route with a body must get a valid body here, so it is checked too.
        expect(withBody.sort()).toEqual(Object.keys(VALID_BODIES).sort());

        const seen: Record<string, unknown> = {};
        const expected: Record<string, unknown> = {};
        for (const route of withBody) {
          const reply = await send(route, { ...(VALID_BODIES[route] as object), notAField: 1 });
          seen[route] = {
            documentedClosed: bodySchema(route)?.additionalProperties === false,
            status: reply.status,
            code: reply.body?.error?.code,
            field: reply.body?.error?.details?.field,
          };
          expected[route] = {
            documentedClosed: true,
            status: 400,
            code: 'CK_VALIDATION',
            field: 'notAField',
          };
        }
        expect(seen).toEqual(expected);
        expect(await written()).toEqual(before);
      });

      // A route that takes no body (abandon, keep-alive, the DELETEs, the
      // sweep) took any JSON object and ignored it: `{ "context": … }` sent
      // to /abandon (as to /complete, which takes one) was dropped without a
      // word. Now a field there is a 400 naming it, like an unknown field of
      // a route that takes a body; `{}`, `null` and no body at all are fine.
      it('every route that takes no body refuses a body with a field, naming it; nothing is written', async () => {
        const store = f.store();
        const owner = newUser('no-body');
        const ownerToken = await jwtFor(owner);
        const flag = `${FLAG}-no-body`;
        await store.flags.define(flag, { enabled: true });
        await store.flags.setOverride(TARGET, flag, true);
        const conversation = (await store.conversations.create(owner, { title: 'kept' })).id;
        await store.turns.append(owner, conversation, { user: 'hello', assistant: 'hi' });
        const turn = (await store.turns.begin(owner, conversation, 'question')).id;
        const session = (await store.onboarding.start(owner, { flow: 'kept', phase: 'welcome' })).session.id;
        const key = (await store.apiKeys.create(owner)).apiKey.id;
        const targetKey = (await store.apiKeys.create(TARGET)).apiKey.id;
        const ids: Record<string, string> = { conversationId: conversation, turnId: turn, sessionId: session, userId: TARGET, name: flag };
        const state = async () => ({
          conversations: (await store.conversations.list(owner)).conversations.map((c) => [c.id, c.messageCount]),
          turn: (await store.turns.getStreamed(owner, turn)).state,
          sessions: (await store.onboarding.list(owner)).map((x) => [x.id, x.status]),
          keys: (await store.apiKeys.list(owner)).map((k) => [k.id, k.revokedAt]),
          targetKeys: (await store.apiKeys.list(TARGET)).map((k) => [k.id, k.revokedAt]),
          flags: (await store.flags.list()).filter((x) => x.name === flag).map((x) => x.enabled),
          override: (await store.flags.evaluate(TARGET))[flag],
        });

        const bodyless = Object.entries(paths).flatMap(([path, operations]) =>
          Object.entries(operations)
            .filter(([method, op]) => ['post', 'put', 'patch', 'delete'].includes(method) && op.requestBody === undefined)
            .map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
        );
        expect(bodyless.length).toBeGreaterThanOrEqual(10);
        const before = await state();
        const seen: Record<string, unknown> = {};
        const expected: Record<string, unknown> = {};
        for (const { method, path, op } of bodyless) {
          const filled = path
            .replace('/v1/me/api-keys/{keyId}', `/v1/me/api-keys/${key}`)
            .replace('/api-keys/{keyId}', `/api-keys/${targetKey}`)
            .replace(/\{(\w+)\}/g, (_, name: string) => ids[name]!);
          const admin = (op.security ?? []).some((x) => 'adminToken' in x);
          const reply = await f.call(method, filled, { token: admin ? ADMIN_TOKEN : ownerToken, body: { reason: 'tidying up' } });
          seen[`${method} ${path}`] = { status: reply.status, field: reply.body?.error?.details?.field, message: reply.body?.error?.message };
          expected[`${method} ${path}`] = { status: 400, field: 'reason', message: 'reason: unknown field (this route takes no body)' };
        }
        expect(seen).toEqual(expected);
        expect(await state()).toEqual(before);

        // What clients send when they have nothing to say is still taken.
        expect((await f.call('POST', `/v1/streamed-turns/${turn}/keep-alive`, { token: ownerToken, body: {} })).status).toBe(200);
        expect((await f.call('POST', `/v1/streamed-turns/${turn}/keep-alive`, { token: ownerToken, body: 'null' })).status).toBe(200);
        expect((await f.call('POST', `/v1/onboarding-sessions/${session}/abandon`, { token: ownerToken })).status).toBe(200);
      });

      // Fetch wrappers set `content-type: application/json` on every call,
      // also one without a body; Fastify answered those with 400 "Body cannot
      // be empty", so `POST /v1/conversations` (body optional), `/abandon` and
      // every DELETE failed for them.
      it('an empty body sent as application/json is no body: optional and absent bodies are fine, a required one is a 400 naming body', async () => {
        const store = f.store();
        const owner = newUser('empty-json');
        const ownerToken = await jwtFor(owner);
        const json = { 'content-type': 'application/json; charset=utf-8' };
        for (const empty of ['', '  \r\n']) {
          const created = await f.call('POST', '/v1/conversations', { token: ownerToken, body: empty, headers: json });
          expect([created.status, created.body?.userId]).toEqual([201, owner]);
          const session = (await store.onboarding.start(owner, { flow: `f${empty.length}`, phase: 'p' })).session.id;
          expect((await f.call('POST', `/v1/onboarding-sessions/${session}/abandon`, { token: ownerToken, body: empty, headers: json })).status).toBe(200);
          const patched = await f.call('PATCH', `/v1/conversations/${created.body.id}`, { token: ownerToken, body: empty, headers: json });
          expect([patched.status, patched.body?.error?.details?.field]).toEqual([400, 'body']);
          expect((await f.call('DELETE', `/v1/conversations/${created.body.id}`, { token: ownerToken, body: empty, headers: json })).status).toBe(204);
        }
        expect((await store.conversations.list(owner)).conversations).toEqual([]);
      });

      it('a body with a "__proto__" key (or "constructor" holding "prototype") is a 400 that says so, not "not valid JSON"; nothing is written', async () => {
        const owner = newUser('proto');
        const ownerToken = await jwtFor(owner);
        for (const body of ['{"metadata":{"__proto__":{"admin":true}}}', '{"metadata":{"constructor":{"prototype":{"admin":true}}}}']) {
          const reply = await f.call('POST', '/v1/conversations', { token: ownerToken, body });
          expect([reply.status, reply.body?.error]).toEqual([
            400,
            expect.objectContaining({ code: 'CK_VALIDATION', message: 'body: a key named "__proto__", or "constructor" holding "prototype", is refused', details: { field: 'body' } }),
          ]);
        }
        const broken = await f.call('POST', '/v1/conversations', { token: ownerToken, body: '{"title":' });
        expect(broken.body?.error?.message).toMatch(/^body: .*not valid JSON/);
        expect((await f.store().conversations.list(owner)).conversations).toEqual([]);
      });

      it('every bound the document states for a body field is there, and one past it is a 400 naming the field; nothing is written', async () => {
        const before = await written();
        const seen: Record<string, unknown> = {};
        const expected: Record<string, unknown> = {};
        for (const bound of BOUNDS) {
          const reply = await send(bound.route, bound.body);
          const key = `${bound.route} ${bound.field}`;
          seen[key] = {
            documented: bodySchema(bound.route)?.properties?.[bound.field]?.[bound.keyword],
            status: reply.status,
            field: reply.body?.error?.details?.field,
          };
          expected[key] = { documented: bound.value, status: 400, field: bound.field };
        }
        expect(seen).toEqual(expected);
        expect(await written()).toEqual(before);
      });
    },
  );
}
