import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * SPEC R-SEC-1 over HTTP (issue 3): user A, holding user B's ids, gets a 404
 * for every request on them, with exactly the body (request id aside) that a
 * random missing id gets, so A cannot even learn they exist; and B's data is
 * unchanged afterwards.
 */

interface Probe {
  readonly name: string;
  readonly method: string;
  readonly path: (id: string) => string;
  readonly body?: (id: string) => unknown;
}

const ON_CONVERSATION: readonly Probe[] = [
  { name: 'get', method: 'GET', path: (id) => `/v1/conversations/${id}` },
  {
    name: 'rename',
    method: 'PATCH',
    path: (id) => `/v1/conversations/${id}`,
    body: () => ({ title: 'pwned', metadata: { owned: true } }),
  },
  { name: 'delete', method: 'DELETE', path: (id) => `/v1/conversations/${id}` },
  { name: 'read history', method: 'GET', path: (id) => `/v1/conversations/${id}/messages` },
  {
    name: 'read a one-message page of history',
    method: 'GET',
    path: (id) => `/v1/conversations/${id}/messages?limit=1`,
  },
  {
    name: 'append a turn',
    method: 'POST',
    path: (id) => `/v1/conversations/${id}/turns`,
    body: () => ({ user: 'injected', assistant: 'x' }),
  },
  {
    name: 'run a turn',
    method: 'POST',
    path: (id) => `/v1/conversations/${id}/turns/run`,
    body: () => ({ message: 'what did bob say?' }),
  },
  {
    name: 'stream a turn',
    method: 'POST',
    path: (id) => `/v1/conversations/${id}/turns/stream`,
    body: () => ({ message: 'what did bob say?' }),
  },
  {
    name: 'begin a streamed turn',
    method: 'POST',
    path: (id) => `/v1/conversations/${id}/streamed-turns`,
    body: () => ({ message: 'injected' }),
  },
  {
    name: 'link a new onboarding session to it',
    method: 'POST',
    path: () => '/v1/onboarding-sessions',
    body: (id) => ({ flow: `link-${randomUUID()}`, phase: 'a', conversationId: id }),
  },
];

const ON_TURN: readonly Probe[] = [
  { name: 'get', method: 'GET', path: (id) => `/v1/streamed-turns/${id}` },
  {
    name: 'append text',
    method: 'POST',
    path: (id) => `/v1/streamed-turns/${id}/text`,
    body: () => ({ text: 'injected' }),
  },
  { name: 'keep alive', method: 'POST', path: (id) => `/v1/streamed-turns/${id}/keep-alive` },
  {
    name: 'commit',
    method: 'POST',
    path: (id) => `/v1/streamed-turns/${id}/commit`,
    body: () => ({ content: 'hijacked' }),
  },
  {
    name: 'abort keeping the partial reply',
    method: 'POST',
    path: (id) => `/v1/streamed-turns/${id}/abort`,
    body: () => ({ keepPartial: true }),
  },
];

const ON_SESSION: readonly Probe[] = [
  { name: 'get', method: 'GET', path: (id) => `/v1/onboarding-sessions/${id}` },
  {
    name: 'advance',
    method: 'PATCH',
    path: (id) => `/v1/onboarding-sessions/${id}`,
    body: () => ({ phase: 'pwned', progress: 100 }),
  },
  { name: 'complete', method: 'POST', path: (id) => `/v1/onboarding-sessions/${id}/complete` },
  { name: 'abandon', method: 'POST', path: (id) => `/v1/onboarding-sessions/${id}/abandon` },
];

const ON_API_KEY: readonly Probe[] = [
  { name: 'revoke', method: 'DELETE', path: (id) => `/v1/me/api-keys/${id}` },
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: per-user isolation over HTTP`, () => {
    const f = useServer(backend.name);
    const alice = newUser('alice');
    const bob = newUser('bob');
    let aliceToken = '';
    let bobToken = '';
    let bobs: {
      conversation: string;
      turn: string;
      session: string;
      apiKey: string;
      secret: string;
    };

    /** All of Bob's data, as Bob sees it. */
    async function bobsData() {
      const store = f.store();
      return {
        conversations: await store.conversations.list(bob),
        messages: await store.messages.list(bob, bobs.conversation),
        turn: await store.turns.getStreamed(bob, bobs.turn),
        sessions: await store.onboarding.list(bob),
        apiKeys: await store.apiKeys.list(bob),
      };
    }

    beforeAll(async () => {
      aliceToken = await jwtFor(alice);
      bobToken = await jwtFor(bob);
      const store = f.store();
      const conversation = await store.conversations.create(bob, {
        title: 'Bob private',
        metadata: { secret: true },
      });
      await store.turns.append(bob, conversation.id, {
        user: 'my secret plan',
        assistant: 'noted',
      });
      const turn = await store.turns.begin(bob, conversation.id, 'a streaming secret');
      await store.turns.appendText(bob, turn.id, 'partial secret');
      const { session } = await store.onboarding.start(bob, {
        flow: 'coach',
        phase: 'welcome',
        conversationId: conversation.id,
      });
      const key = await store.apiKeys.create(bob, { name: 'bob laptop' });
      bobs = {
        conversation: conversation.id,
        turn: turn.id,
        session: session.id,
        apiKey: key.apiKey.id,
        secret: key.secret,
      };
      // Alice has data of her own, so an empty answer is not the only possible one.
      await store.conversations.create(alice, { title: 'Alice own' });
    });

    /** A's request on B's id answers exactly like the same request on an id that never existed. */
    async function sameAsMissing(probe: Probe, foreignId: string) {
      const send = (id: string) =>
        f.call(probe.method, probe.path(id), {
          token: aliceToken,
          ...(probe.body !== undefined ? { body: probe.body(id) } : {}),
        });
      const foreign = await send(foreignId);
      const missing = await send(randomUUID());
      const { requestId: foreignRequestId, ...foreignError } = foreign.body.error;
      const { requestId: _missingRequestId, ...missingError } = missing.body.error;
      expect(foreign.status).toBe(404);
      expect(foreignError.code).toBe('CK_NOT_FOUND');
      expect(foreignRequestId).toBe(foreign.headers.get('x-request-id'));
      expect({
        status: foreign.status,
        error: foreignError,
        type: foreign.headers.get('content-type'),
      }).toEqual({
        status: missing.status,
        error: missingError,
        type: missing.headers.get('content-type'),
      });
    }

    const groups: [string, readonly Probe[], () => string][] = [
      ['conversation', ON_CONVERSATION, () => bobs.conversation],
      ['streamed turn', ON_TURN, () => bobs.turn],
      ['onboarding session', ON_SESSION, () => bobs.session],
      ['API key', ON_API_KEY, () => bobs.apiKey],
    ];
    for (const [what, probes, id] of groups) {
      for (const probe of probes) {
        it(`A cannot ${probe.name} B's ${what}: 404 exactly like a missing one, and B's data is unchanged`, async () => {
          const before = await bobsData();
          await sameAsMissing(probe, id());
          expect(await bobsData()).toEqual(before);
        });
      }
    }

    it("A cannot link her own onboarding session to B's conversation", async () => {
      const { session } = await f.store().onboarding.start(alice, { flow: 'own', phase: 'a' });
      const before = await bobsData();
      await sameAsMissing(
        {
          name: 'link',
          method: 'PATCH',
          path: () => `/v1/onboarding-sessions/${session.id}`,
          body: (id) => ({ conversationId: id }),
        },
        bobs.conversation,
      );
      expect((await f.store().onboarding.get(alice, session.id)).conversationId).toBeNull();
      expect(await bobsData()).toEqual(before);
    });

    it("A's lists never show B's data", async () => {
      const conversations = await f.call('GET', '/v1/conversations', { token: aliceToken });
      expect(conversations.body.conversations.map((c: { title: string }) => c.title)).toEqual([
        'Alice own',
      ]);
      expect(JSON.stringify(conversations.body)).not.toContain(bob);
      expect(
        (await f.call('GET', '/v1/onboarding-sessions', { token: aliceToken })).body.sessions.every(
          (s: { userId: string }) => s.userId === alice,
        ),
      ).toBe(true);
      expect((await f.call('GET', '/v1/me/api-keys', { token: aliceToken })).body.apiKeys).toEqual(
        [],
      );
    });

    it("B's idempotency key never replays B's turn for A", async () => {
      await f.call('POST', `/v1/conversations/${bobs.conversation}/turns`, {
        token: bobToken,
        body: { user: 'keyed', assistant: 'bob reply' },
        headers: { 'idempotency-key': 'shared-key' },
      });
      const mine = await f.store().conversations.create(alice);
      const reply = await f.call('POST', `/v1/conversations/${mine.id}/turns`, {
        token: aliceToken,
        body: { user: 'keyed', assistant: 'alice reply' },
        headers: { 'idempotency-key': 'shared-key' },
      });
      expect(reply.status).toBe(201);
      expect(reply.body.assistantMessage.content).toBe('alice reply');
      expect(reply.body.userMessage.userId).toBe(alice);
    });

    it("A erasing her data leaves B's untouched, and B still gets in with his key", async () => {
      const before = await bobsData();
      const erased = await f.call('DELETE', '/v1/me', { token: aliceToken });
      expect(erased.status).toBe(200);
      expect(await bobsData()).toEqual(before);
      expect((await f.call('GET', '/v1/me', { token: bobs.secret })).body).toEqual({
        userId: bob,
        authMethod: 'api-key',
      });
      const own = await f.call('GET', `/v1/conversations/${bobs.conversation}`, {
        token: bobToken,
      });
      expect(own.body).toMatchObject({ title: 'Bob private', metadata: { secret: true } });
    });
  });
}
