import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { ADMIN_TOKEN, jwtFor, useServer, type ServerFixture } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Issue 3: every validation error over HTTP is a 400 CK_VALIDATION whose
 * `details.field` names the bad input, and nothing is written. A body over the
 * server's limit is a 413 CK_PAYLOAD_TOO_LARGE.
 */

/** The ids a case may point at: the user's own conversation, streamed turn and onboarding session. */
interface Ids {
  readonly conversation: string;
  readonly turn: string;
  readonly session: string;
}

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: (ids: Ids) => string;
  /** A JSON value, or a raw string sent as is (for malformed JSON). */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly admin?: boolean;
  readonly field: string;
  /** The whole message, where its wording is the point of the case. */
  readonly says?: string;
  /** Set when the case fails because of a known product bug (it then runs as it.fails). */
  readonly knownBug?: string;
}

const TOO_LONG = 'x'.repeat(100_001);
const c = (ids: Ids) => `/v1/conversations/${ids.conversation}`;

const CASES: readonly Case[] = [
  // Conversations
  {
    name: 'title of the wrong type',
    method: 'POST',
    path: () => '/v1/conversations',
    body: { title: 42 },
    field: 'title',
    says: 'title: expected a string, received a number',
  },
  {
    name: 'title longer than 200',
    method: 'POST',
    path: () => '/v1/conversations',
    body: { title: 't'.repeat(201) },
    field: 'title',
  },
  {
    name: 'an unknown field',
    method: 'POST',
    path: () => '/v1/conversations',
    body: { title: 'ok', colour: 'red' },
    field: 'colour',
  },
  {
    name: 'a field with an empty name',
    method: 'POST',
    path: () => '/v1/conversations',
    body: { title: 'ok', '': 1 },
    field: 'body',
    says: 'body: has a field with an empty name ("")',
  },
  {
    name: 'metadata that is not an object',
    method: 'POST',
    path: () => '/v1/conversations',
    body: { metadata: ['a'] },
    field: 'metadata',
    says: 'metadata: expected a JSON object, received an array',
  },
  {
    name: 'malformed JSON',
    method: 'POST',
    path: () => '/v1/conversations',
    body: '{"title": "unterminated',
    field: 'body',
  },
  // jsonb refuses \u0000 and unpaired surrogates: these were 500 CK_INTERNAL (22P05) or a 400 naming "input"
  {
    name: 'a NUL in a metadata string',
    method: 'POST',
    path: () => '/v1/conversations',
    body: { metadata: { note: 'a\u0000b' } },
    field: 'metadata',
  },
  {
    name: 'a NUL in a metadata key',
    method: 'POST',
    path: () => '/v1/conversations',
    body: { metadata: { 'k\u0000': 1 } },
    field: 'metadata',
  },
  {
    name: 'an unpaired surrogate in metadata',
    method: 'POST',
    path: () => '/v1/conversations',
    body: { metadata: { note: '\ud800' } },
    field: 'metadata',
  },
  {
    name: 'a body that is not JSON',
    method: 'POST',
    path: () => '/v1/conversations',
    body: 'title=hello',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    field: 'body',
  },
  // The body is read as UTF-8 text: a compressed or UTF-16 body was read all the same (or called "not JSON").
  {
    name: 'a body labelled Content-Encoding gzip',
    method: 'POST',
    path: () => '/v1/conversations',
    body: '{"title":"compressed?"}',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    field: 'body',
    says: 'body: Content-Encoding gzip is not accepted; send the JSON uncompressed',
  },
  {
    name: 'a body in another charset',
    method: 'POST',
    path: () => '/v1/conversations',
    body: '{"title":"utf-16?"}',
    headers: { 'content-type': 'application/json; charset="UTF-16"' },
    field: 'body',
    says: 'body: charset utf-16 is not accepted; send the JSON as UTF-8',
  },
  { name: 'limit 0', method: 'GET', path: () => '/v1/conversations?limit=0', field: 'limit' },
  {
    name: 'limit over 100',
    method: 'GET',
    path: () => '/v1/conversations?limit=101',
    field: 'limit',
  },
  {
    name: 'limit not a number',
    method: 'GET',
    path: () => '/v1/conversations?limit=ten',
    field: 'limit',
  },
  {
    name: 'limit in hexadecimal (Number() would read 16)',
    method: 'GET',
    path: () => '/v1/conversations?limit=0x10',
    field: 'limit',
  },
  {
    name: 'an empty limit (Number() would read 0)',
    method: 'GET',
    path: () => '/v1/conversations?limit=',
    field: 'limit',
  },
  {
    name: 'limit given twice',
    method: 'GET',
    path: () => '/v1/conversations?limit=5&limit=6',
    field: 'limit',
  },
  {
    name: 'a cursor given twice',
    method: 'GET',
    path: () => '/v1/conversations?cursor=a&cursor=b',
    field: 'cursor',
  },
  {
    name: 'a cursor chatkeep never issued',
    method: 'GET',
    path: () => '/v1/conversations?cursor=forged',
    field: 'cursor',
  },
  {
    name: 'an unknown query parameter',
    method: 'GET',
    path: () => '/v1/conversations?sort=title',
    field: 'sort',
  },
  {
    name: 'a conversation id that is not a uuid',
    method: 'GET',
    path: () => '/v1/conversations/42',
    field: 'conversationId',
  },
  {
    name: 'renaming with a bad id',
    method: 'PATCH',
    path: () => '/v1/conversations/42',
    body: { title: 'x' },
    field: 'conversationId',
  },
  { name: 'an empty title', method: 'PATCH', path: c, body: { title: '' }, field: 'title' },
  {
    name: 'a summary over 100',
    method: 'PATCH',
    path: c,
    body: { summary: 's'.repeat(101) },
    field: 'summary',
  },
  {
    name: 'renaming with an unknown field',
    method: 'PATCH',
    path: c,
    body: { name: 'x' },
    field: 'name',
  },
  { name: 'renaming without a body', method: 'PATCH', path: c, field: 'body' },
  {
    name: 'deleting with a bad id',
    method: 'DELETE',
    path: () => '/v1/conversations/not-a-uuid',
    field: 'conversationId',
  },

  // Messages
  {
    name: 'history limit over 1000',
    method: 'GET',
    path: (ids) => `${c(ids)}/messages?limit=1001`,
    field: 'limit',
  },
  {
    name: 'history limit 0',
    method: 'GET',
    path: (ids) => `${c(ids)}/messages?limit=0`,
    field: 'limit',
  },
  {
    name: 'history limit in exponent form (Number() would read 100)',
    method: 'GET',
    path: (ids) => `${c(ids)}/messages?limit=1e2`,
    field: 'limit',
  },
  {
    name: 'a forged before cursor',
    method: 'GET',
    path: (ids) => `${c(ids)}/messages?before=forged`,
    field: 'before',
  },
  {
    name: 'history of a bad id',
    method: 'GET',
    path: () => '/v1/conversations/42/messages',
    field: 'conversationId',
  },

  // Turns
  {
    name: 'an empty user message',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns`,
    body: { user: '', assistant: 'a' },
    field: 'user',
  },
  {
    name: 'a blank user message',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns`,
    body: { user: '  \n ', assistant: 'a' },
    field: 'user',
  },
  {
    name: 'a user message over 100000 chars',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns`,
    body: { user: TOO_LONG, assistant: 'a' },
    field: 'user',
  },
  {
    name: 'an assistant message over 100000 chars',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns`,
    body: { user: 'q', assistant: TOO_LONG },
    field: 'assistant',
  },
  {
    name: 'a user message of the wrong type',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns`,
    body: { user: 7, assistant: 'a' },
    field: 'user',
    says: 'user: expected a string or { content, metadata }, received a number',
  },
  {
    name: 'a missing assistant message',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns`,
    body: { user: 'q' },
    field: 'assistant',
    says: 'assistant: required',
  },
  {
    name: 'a turn with an unknown field',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns`,
    body: { user: 'q', assistant: 'a', role: 'system' },
    field: 'role',
  },
  {
    name: 'an empty idempotency key',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns`,
    body: { user: 'q', assistant: 'a', idempotencyKey: '' },
    field: 'idempotencyKey',
  },
  {
    name: 'a turn on a bad id',
    method: 'POST',
    path: () => '/v1/conversations/42/turns',
    body: { user: 'q', assistant: 'a' },
    field: 'conversationId',
  },
  {
    name: 'an empty message to run',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns/run`,
    body: { message: '' },
    field: 'message',
    says: 'message: must not be empty',
  },
  {
    name: 'a misspelt message field',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns/run`,
    body: { text: 'q' },
    field: 'message',
    says: 'message: required (the unknown field "text" was given: misspelt?)',
  },
  {
    name: 'a run message over 100000 chars',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns/run`,
    body: { message: TOO_LONG },
    field: 'message',
  },
  {
    name: 'historyLimit 0',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns/run`,
    body: { message: 'q', historyLimit: 0 },
    field: 'historyLimit',
    says: 'historyLimit: must be at least 1',
  },
  {
    name: 'a fractional token budget',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns/run`,
    body: { message: 'q', historyTokenBudget: 1.5 },
    field: 'historyTokenBudget',
    says: 'historyTokenBudget: expected a whole number, received 1.5',
  },
  {
    name: 'an empty message to stream',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns/stream`,
    body: { message: '' },
    field: 'message',
  },
  {
    name: 'keepPartialOnAbort of the wrong type',
    method: 'POST',
    path: (ids) => `${c(ids)}/turns/stream`,
    body: { message: 'q', keepPartialOnAbort: 'yes' },
    field: 'keepPartialOnAbort',
  },

  // Streamed turns
  {
    name: 'an empty message to begin',
    method: 'POST',
    path: (ids) => `${c(ids)}/streamed-turns`,
    body: { message: '' },
    field: 'message',
  },
  {
    name: 'abandonAfterMs under a second',
    method: 'POST',
    path: (ids) => `${c(ids)}/streamed-turns`,
    body: { message: 'q', abandonAfterMs: 10 },
    field: 'abandonAfterMs',
  },
  {
    name: 'a turn id that is not a uuid',
    method: 'GET',
    path: () => '/v1/streamed-turns/42',
    field: 'turnId',
  },
  {
    name: 'empty text',
    method: 'POST',
    path: (ids) => `/v1/streamed-turns/${ids.turn}/text`,
    body: { text: '' },
    field: 'text',
  },
  {
    name: 'text of the wrong type',
    method: 'POST',
    path: (ids) => `/v1/streamed-turns/${ids.turn}/text`,
    body: { text: ['a'] },
    field: 'text',
  },
  {
    name: 'an empty final content',
    method: 'POST',
    path: (ids) => `/v1/streamed-turns/${ids.turn}/commit`,
    body: { content: '' },
    field: 'content',
  },
  {
    name: 'a NUL in the commit metadata',
    method: 'POST',
    path: (ids) => `/v1/streamed-turns/${ids.turn}/commit`,
    body: { content: 'final', metadata: { x: '\u0000' } },
    field: 'metadata',
  },
  {
    name: 'keepPartial of the wrong type',
    method: 'POST',
    path: (ids) => `/v1/streamed-turns/${ids.turn}/abort`,
    body: { keepPartial: 1 },
    field: 'keepPartial',
  },

  // Onboarding
  {
    name: 'a session without a flow',
    method: 'POST',
    path: () => '/v1/onboarding-sessions',
    body: { phase: 'welcome' },
    field: 'flow',
  },
  {
    name: 'progress over 100',
    method: 'POST',
    path: () => '/v1/onboarding-sessions',
    body: { flow: 'f', phase: 'p', progress: 101 },
    field: 'progress',
  },
  {
    name: 'a NUL in the phase',
    method: 'POST',
    path: () => '/v1/onboarding-sessions',
    body: { flow: 'f', phase: 'a\u0000' },
    field: 'phase',
  },
  {
    name: 'a NUL inside the goals',
    method: 'POST',
    path: () => '/v1/onboarding-sessions',
    body: { flow: 'f', phase: 'p', goals: ['run', 'a\u0000'] },
    field: 'goals',
  },
  {
    name: 'a NUL inside the step state',
    method: 'PATCH',
    path: (ids) => `/v1/onboarding-sessions/${ids.session}`,
    body: { steps: { welcome: { note: '\u0000' } } },
    field: 'steps',
  },
  {
    name: 'goals that are not a list',
    method: 'POST',
    path: () => '/v1/onboarding-sessions',
    body: { flow: 'f', phase: 'p', goals: 'run' },
    field: 'goals',
  },
  {
    name: 'a linked conversation id that is not a uuid',
    method: 'POST',
    path: () => '/v1/onboarding-sessions',
    body: { flow: 'f', phase: 'p', conversationId: 'nope' },
    field: 'conversationId',
  },
  {
    name: 'an unknown status filter',
    method: 'GET',
    path: () => '/v1/onboarding-sessions?status=paused',
    field: 'status',
  },
  {
    name: 'a session id that is not a uuid',
    method: 'GET',
    path: () => '/v1/onboarding-sessions/42',
    field: 'sessionId',
  },
  {
    name: 'negative progress',
    method: 'PATCH',
    path: (ids) => `/v1/onboarding-sessions/${ids.session}`,
    body: { progress: -1 },
    field: 'progress',
  },
  {
    name: 'an empty phase',
    method: 'PATCH',
    path: (ids) => `/v1/onboarding-sessions/${ids.session}`,
    body: { phase: '' },
    field: 'phase',
  },
  {
    name: 'a completion context that is not an object',
    method: 'POST',
    path: (ids) => `/v1/onboarding-sessions/${ids.session}/complete`,
    body: { context: 'done' },
    field: 'context',
  },
  {
    name: 'abandoning a bad id',
    method: 'POST',
    path: () => '/v1/onboarding-sessions/42/abandon',
    field: 'sessionId',
  },

  // API keys
  {
    name: 'a key name over 100',
    method: 'POST',
    path: () => '/v1/me/api-keys',
    body: { name: 'n'.repeat(101) },
    field: 'name',
  },
  {
    name: 'revoking a key id that is not a uuid',
    method: 'DELETE',
    path: () => '/v1/me/api-keys/42',
    field: 'keyId',
  },
  {
    name: 'an admin user id with a space',
    method: 'GET',
    path: () => '/v1/admin/users/has%20space/api-keys',
    admin: true,
    field: 'userId',
  },
  {
    name: 'an admin user id over 128 characters',
    method: 'GET',
    path: () => `/v1/admin/users/${'u'.repeat(129)}/api-keys`,
    admin: true,
    field: 'userId',
  },

  // The URL itself (refused by the router, before any route runs)
  {
    name: 'a malformed percent-escape in the path',
    method: 'GET',
    path: () => '/v1/conversations/%E0%A4%A',
    field: 'url',
  },
  {
    name: 'an admin key name over 100',
    method: 'POST',
    path: () => '/v1/admin/users/someone/api-keys',
    body: { name: 'n'.repeat(101) },
    admin: true,
    field: 'name',
  },
];

/** Everything of `user` the store can show: conversations (with message counts), streamed turn, sessions, keys. */
async function snapshot(f: ServerFixture, user: string, ids: Ids) {
  const store = f.store();
  return {
    conversations: (await store.conversations.list(user)).conversations,
    messages: (await store.messages.list(user, ids.conversation)).messages,
    turn: await store.turns.getStreamed(user, ids.turn),
    sessions: await store.onboarding.list(user),
    apiKeys: await store.apiKeys.list(user),
  };
}

async function seed(f: ServerFixture, user: string): Promise<Ids> {
  const store = f.store();
  const { id } = await store.conversations.create(user, { title: 'Mine' });
  await store.turns.append(user, id, { user: 'hello', assistant: 'hi' });
  const turn = await store.turns.begin(user, id, 'streaming question');
  const { session } = await store.onboarding.start(user, { flow: 'setup', phase: 'welcome' });
  await store.apiKeys.create(user, { name: 'laptop' });
  return { conversation: id, turn: turn.id, session: session.id };
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: validation errors over HTTP`, () => {
    const f = useServer(backend.name);
    const user = newUser('valid');
    let token = '';
    let ids: Ids;
    beforeAll(async () => {
      token = await jwtFor(user);
      ids = await seed(f, user);
    });

    for (const k of CASES) {
      const title = `${k.method} ${k.path({ conversation: ':conversationId', turn: ':turnId', session: ':sessionId' })} with ${k.name} → 400 naming ${k.field}`;
      (k.knownBug !== undefined ? it.fails : it)(
        k.knownBug !== undefined ? `${title} (known bug: ${k.knownBug})` : title,
        async () => {
          const before = await snapshot(f, user, ids);
          const reply = await f.call(k.method, k.path(ids), {
            token: k.admin === true ? ADMIN_TOKEN : token,
            ...(k.body !== undefined ? { body: k.body } : {}),
            ...(k.headers !== undefined ? { headers: k.headers } : {}),
          });
          expect({ status: reply.status, error: reply.body?.error }).toMatchObject({
            status: 400,
            error: {
              code: 'CK_VALIDATION',
              details: { field: k.field },
              requestId: reply.headers.get('x-request-id'),
            },
          });
          expect(reply.body.error.message).toMatch(new RegExp(`^${k.field.replace('.', '\\.')}: `));
          // zod's defaults describe the schema ("Invalid input", "Too small: expected string to have >=1
          // characters"); every message says what to send instead.
          expect(reply.body.error.message).not.toMatch(/Invalid input|Invalid option|Too small|Too big|Unrecognized key/);
          if (k.says !== undefined) expect(reply.body.error.message).toBe(k.says);
          expect(await snapshot(f, user, ids)).toEqual(before);
        },
      );
    }

    it('bad metadata inside a message object names that field of that message, as the library does', async () => {
      const reply = await f.call('POST', `${c(ids)}/turns`, {
        token,
        body: { user: { content: 'q', metadata: 'x' }, assistant: 'a' },
      });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatchObject({ code: 'CK_VALIDATION', details: { field: 'user.metadata' } });
    });

    it('the Idempotency-Key header and a different body key are refused, naming idempotencyKey', async () => {
      const before = await snapshot(f, user, ids);
      const reply = await f.call('POST', `${c(ids)}/turns`, {
        token,
        body: { user: 'q', assistant: 'a', idempotencyKey: 'body-key' },
        headers: { 'idempotency-key': 'header-key' },
      });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatchObject({
        code: 'CK_VALIDATION',
        details: { field: 'idempotencyKey' },
      });
      expect(await snapshot(f, user, ids)).toEqual(before);
    });

    it('a valid request right at the content limit is accepted, so the 100000-char rule is the boundary', async () => {
      const reply = await f.call(
        'POST',
        `/v1/conversations/${(await f.store().conversations.create(user)).id}/turns`,
        {
          token,
          body: { user: 'x'.repeat(100_000), assistant: 'ok' },
        },
      );
      expect(reply.status).toBe(201);
      expect(reply.body.userMessage.content).toHaveLength(100_000);
    });

    it('a path segment of 2000 characters is a 400 naming url, in the one error shape', async () => {
      const reply = await f.call('GET', `/v1/conversations/${'x'.repeat(2000)}`, { token });
      expect({ status: reply.status, error: reply.body?.error }).toMatchObject({
        status: 400,
        error: {
          code: 'CK_VALIDATION',
          details: { field: 'url' },
          requestId: reply.headers.get('x-request-id'),
        },
      });
    });

    it('an admin can issue a key for, list and erase a user whose id is the longest allowed (128 characters)', async () => {
      const longest = `${'l'.repeat(120)}-${process.pid}`.slice(0, 128).padEnd(128, 'l');
      const issued = await f.call('POST', `/v1/admin/users/${longest}/api-keys`, {
        token: ADMIN_TOKEN,
        body: { name: 'long' },
      });
      expect(issued.status).toBe(201);
      expect(issued.body.apiKey.userId).toBe(longest);
      const listed = await f.call('GET', `/v1/admin/users/${longest}/api-keys`, {
        token: ADMIN_TOKEN,
      });
      expect(listed.body.apiKeys).toHaveLength(1);
      const erased = await f.call('DELETE', `/v1/admin/users/${longest}`, { token: ADMIN_TOKEN });
      expect(erased).toMatchObject({ status: 200, body: { apiKeys: 1 } });
    });

    it('a bad id is a 400 even for a conversation that does not exist, and a good unknown id is a 404', async () => {
      expect((await f.call('GET', '/v1/conversations/123', { token })).status).toBe(400);
      expect((await f.call('GET', `/v1/conversations/${randomUUID()}`, { token })).status).toBe(
        404,
      );
    });
  });

  describe.skipIf(backend.skip)(`${backend.name}: body size limit`, () => {
    const f = useServer(backend.name, { bodyLimit: 10_000 });

    it('a body over bodyLimit is a 413 CK_PAYLOAD_TOO_LARGE naming body, and nothing is written', async () => {
      const user = newUser('big');
      const token = await jwtFor(user);
      const { id } = await f.store().conversations.create(user);
      const reply = await f.call('POST', `/v1/conversations/${id}/turns`, {
        token,
        body: { user: 'x'.repeat(20_000), assistant: 'a' },
      });
      expect(reply.status).toBe(413);
      expect(reply.body.error).toMatchObject({
        code: 'CK_PAYLOAD_TOO_LARGE',
        details: { field: 'body' },
      });
      expect((await f.store().messages.list(user, id)).messages).toEqual([]);

      const created = await f.call('POST', '/v1/conversations', {
        token,
        body: { title: 'x', metadata: { note: 'y'.repeat(11_000) } },
      });
      expect(created.status).toBe(413);
      expect((await f.store().conversations.list(user)).conversations).toHaveLength(1);
    });

    it('a body just under bodyLimit is accepted', async () => {
      const user = newUser('big');
      const { id } = await f.store().conversations.create(user);
      const reply = await f.call('POST', `/v1/conversations/${id}/turns`, {
        token: await jwtFor(user),
        body: { user: 'x'.repeat(9_000), assistant: 'a' },
      });
      expect(reply.status).toBe(201);
    });
  });
}
