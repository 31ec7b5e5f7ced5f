import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer, type ServerFixture } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Issue 3: the happy paths of every resource over a real listening server —
 * conversations, messages (cursor pagination, chronological pages), turns,
 * streamed turns, onboarding sessions, "who am I", "erase my data", request ids.
 */

type Reply = Awaited<ReturnType<ServerFixture['call']>>;

/** The `event:`/`data:` pairs of a Server-Sent Events body. */
function events(text: string): { event: string; data: any }[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => ({
      event: /^event: (.*)$/m.exec(block)?.[1] ?? 'message',
      data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null'),
    }));
}

function ok(reply: Reply, status = 200): any {
  expect({ status: reply.status, body: reply.body }).toMatchObject({ status });
  return reply.body;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: resources over HTTP`, () => {
    const f = useServer(backend.name);

    async function me() {
      const user = newUser('res');
      const token = await jwtFor(user);
      const call = (
        method: string,
        path: string,
        body?: unknown,
        headers?: Record<string, string>,
      ) =>
        f.call(method, path, {
          token,
          ...(body !== undefined ? { body } : {}),
          ...(headers !== undefined ? { headers } : {}),
        });
      return { user, token, call };
    }

    it('GET /v1/me names the acting user', async () => {
      const { user, call } = await me();
      expect(ok(await call('GET', '/v1/me'))).toEqual({ userId: user, authMethod: 'jwt' });
    });

    it('creates, gets, renames and deletes a conversation (204, then 404)', async () => {
      const { user, call } = await me();
      const created = ok(
        await call('POST', '/v1/conversations', { title: 'Trip', metadata: { topic: 'travel' } }),
        201,
      );
      expect(created).toMatchObject({
        userId: user,
        title: 'Trip',
        summary: '',
        metadata: { topic: 'travel' },
        messageCount: 0,
        lastMessageAt: null,
      });
      expect(new Date(created.createdAt).toISOString()).toBe(created.createdAt);
      const untitled = ok(await call('POST', '/v1/conversations'), 201);
      expect(untitled.title).toBeNull();

      expect(ok(await call('GET', `/v1/conversations/${created.id}`))).toEqual(created);
      const renamed = ok(
        await call('PATCH', `/v1/conversations/${created.id}`, {
          title: 'Trip to Lisbon',
          summary: 'planning',
          metadata: { topic: 'lisbon' },
        }),
      );
      expect(renamed).toMatchObject({
        id: created.id,
        title: 'Trip to Lisbon',
        summary: 'planning',
        metadata: { topic: 'lisbon' },
      });
      expect(Date.parse(renamed.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
      expect(
        ok(await call('PATCH', `/v1/conversations/${created.id}`, { title: null })).title,
      ).toBeNull();

      await f.store().turns.append(user, created.id, { user: 'hi', assistant: 'hello' });
      const deleted = await call('DELETE', `/v1/conversations/${created.id}`);
      expect(deleted.status).toBe(204);
      expect(deleted.body).toBeUndefined();
      expect((await call('GET', `/v1/conversations/${created.id}`)).status).toBe(404);
      expect((await call('GET', `/v1/conversations/${created.id}/messages`)).status).toBe(404);
      expect((await call('DELETE', `/v1/conversations/${created.id}`)).status).toBe(404);
      expect((await f.store().conversations.list(user)).conversations.map((c) => c.id)).toEqual([
        untitled.id,
      ]);
    });

    it('lists conversations newest activity first, page by page with nextCursor', async () => {
      const { call } = await me();
      const ids: string[] = [];
      for (const title of ['a', 'b', 'c', 'd', 'e'])
        ids.push(ok(await call('POST', '/v1/conversations', { title }), 201).id);
      // A new turn in the oldest one makes it the most recent activity.
      ok(
        await call('POST', `/v1/conversations/${ids[0]}/turns`, { user: 'bump', assistant: 'ok' }),
        201,
      );

      const titles: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string =
          cursor === null ? '?limit=2' : `?limit=2&cursor=${encodeURIComponent(cursor)}`;
        const page = ok(await call('GET', `/v1/conversations${query}`));
        expect(page.conversations.length).toBeLessThanOrEqual(2);
        titles.push(...page.conversations.map((c: { title: string }) => c.title));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      expect(titles).toEqual(['a', 'e', 'd', 'c', 'b']);
      expect(pages).toBe(3);

      // A new conversation arriving mid-pagination does not shift the later pages.
      const first = ok(await call('GET', '/v1/conversations?limit=2'));
      ok(await call('POST', '/v1/conversations', { title: 'f' }), 201);
      const second = ok(
        await call(
          'GET',
          `/v1/conversations?limit=2&cursor=${encodeURIComponent(first.nextCursor)}`,
        ),
      );
      expect(second.conversations.map((c: { title: string }) => c.title)).toEqual(['d', 'c']);
    });

    it('pages history in chronological order, latest first page, then before/after cursors', async () => {
      const { call } = await me();
      const { id } = ok(await call('POST', '/v1/conversations'), 201);
      for (let i = 1; i <= 5; i++)
        ok(
          await call('POST', `/v1/conversations/${id}/turns`, {
            user: `q${i}`,
            assistant: `a${i}`,
          }),
          201,
        );
      const contents = (page: { messages: { content: string }[] }) =>
        page.messages.map((m) => m.content);

      const latest = ok(await call('GET', `/v1/conversations/${id}/messages?limit=4`));
      expect(contents(latest)).toEqual(['q4', 'a4', 'q5', 'a5']);
      expect(latest.messages.map((m: { seq: number }) => m.seq)).toEqual([7, 8, 9, 10]);
      expect([latest.hasOlder, latest.hasNewer]).toEqual([true, false]);

      const older = ok(
        await call(
          'GET',
          `/v1/conversations/${id}/messages?limit=4&before=${encodeURIComponent(latest.olderCursor)}`,
        ),
      );
      expect(contents(older)).toEqual(['q2', 'a2', 'q3', 'a3']);
      expect([older.hasOlder, older.hasNewer]).toEqual([true, true]);
      const oldest = ok(
        await call(
          'GET',
          `/v1/conversations/${id}/messages?limit=4&before=${encodeURIComponent(older.olderCursor)}`,
        ),
      );
      expect(contents(oldest)).toEqual(['q1', 'a1']);
      expect([oldest.hasOlder, oldest.hasNewer]).toEqual([false, true]);

      const newer = ok(
        await call(
          'GET',
          `/v1/conversations/${id}/messages?limit=3&after=${encodeURIComponent(oldest.newerCursor)}`,
        ),
      );
      expect(contents(newer)).toEqual(['q2', 'a2', 'q3']);
      expect([newer.hasOlder, newer.hasNewer]).toEqual([true, true]);
      const rest = ok(
        await call(
          'GET',
          `/v1/conversations/${id}/messages?after=${encodeURIComponent(newer.newerCursor)}`,
        ),
      );
      expect(contents(rest)).toEqual(['a3', 'q4', 'a4', 'q5', 'a5']);
      expect(rest.hasNewer).toBe(false);
      expect(rest.messages.map((m: { role: string }) => m.role)).toEqual([
        'assistant',
        'user',
        'assistant',
        'user',
        'assistant',
      ]);
    });

    // A history cursor is a position in one conversation's sequence. Sent
    // with another conversation's id it used to page that conversation from
    // the same number (a UI that switched conversations mid-scroll showed a
    // slice of the wrong chat with no error); it is now a 400 naming it.
    it('a history cursor of one conversation is refused on another, naming it; its own conversation still takes it', async () => {
      const { call } = await me();
      const first = ok(await call('POST', '/v1/conversations'), 201).id as string;
      const second = ok(await call('POST', '/v1/conversations'), 201).id as string;
      for (const id of [first, second])
        for (let i = 1; i <= 3; i++)
          ok(await call('POST', `/v1/conversations/${id}/turns`, { user: `${id.slice(-4)} q${i}`, assistant: `a${i}` }), 201);
      const page = ok(await call('GET', `/v1/conversations/${first}/messages?limit=2`));
      const answers: Record<string, unknown> = {};
      for (const [name, cursor] of [['before', page.olderCursor], ['after', page.newerCursor], ['after', page.olderCursor]] as const) {
        const reply = await call('GET', `/v1/conversations/${second}/messages?${name}=${encodeURIComponent(cursor)}`);
        answers[`${name}=${cursor}`] = { status: reply.status, field: reply.body?.error?.details?.field, messages: reply.body?.messages?.length };
      }
      expect(answers).toEqual({
        [`before=${page.olderCursor}`]: { status: 400, field: 'before', messages: undefined },
        [`after=${page.newerCursor}`]: { status: 400, field: 'after', messages: undefined },
        [`after=${page.olderCursor}`]: { status: 400, field: 'after', messages: undefined },
      });
      const older = ok(await call('GET', `/v1/conversations/${first}/messages?before=${encodeURIComponent(page.olderCursor)}`));
      expect(older.messages.map((m: { content: string }) => m.content)).toEqual([`${first.slice(-4)} q1`, 'a1', `${first.slice(-4)} q2`, 'a2']);
    });

    it('appends a turn with metadata, and runs one with the agent', async () => {
      const { user, call } = await me();
      const { id } = ok(await call('POST', '/v1/conversations'), 201);
      const turn = ok(
        await call('POST', `/v1/conversations/${id}/turns`, {
          user: { content: 'hi', metadata: { lang: 'en' } },
          assistant: 'hello',
        }),
        201,
      );
      expect(turn).toMatchObject({
        conversationId: id,
        replayed: false,
        userMessage: {
          seq: 1,
          role: 'user',
          content: 'hi',
          metadata: { lang: 'en' },
          turnId: turn.id,
          userId: user,
        },
        assistantMessage: { seq: 2, role: 'assistant', content: 'hello', turnId: turn.id },
      });
      const run = ok(
        await call('POST', `/v1/conversations/${id}/turns/run`, {
          message: 'what did I say?',
          historyLimit: 10,
        }),
        201,
      );
      expect(run.userMessage).toMatchObject({ seq: 3, content: 'what did I say?' });
      expect(run.assistantMessage.seq).toBe(4);
      expect(run.assistantMessage.content.length).toBeGreaterThan(0);
      const conversation = ok(await call('GET', `/v1/conversations/${id}`));
      expect(conversation.messageCount).toBe(4);
      expect(conversation.lastMessageAt).toBe(run.assistantMessage.createdAt);
    });

    it('streams a turn as Server-Sent Events: begin, text…, commit; the stored reply is the streamed text', async () => {
      const { call } = await me();
      const { id } = ok(await call('POST', '/v1/conversations'), 201);
      const reply = await call('POST', `/v1/conversations/${id}/turns/stream`, {
        message: 'tell me a story',
      });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toContain('text/event-stream');
      const stream = events(reply.body);
      expect(stream[0]?.event).toBe('begin');
      expect(stream.at(-1)?.event).toBe('commit');
      const texts = stream.filter((e) => e.event === 'text').map((e) => e.data.text as string);
      expect(texts.length).toBeGreaterThan(0);
      const committed = stream.at(-1)!.data;
      expect(committed.id).toBe(stream[0]!.data.id);
      expect(committed.assistantMessage.content).toBe(texts.join(''));
      const history = ok(await call('GET', `/v1/conversations/${id}/messages`));
      expect(history.messages.map((m: { content: string }) => m.content)).toEqual([
        'tell me a story',
        texts.join(''),
      ]);
    });

    it('a streamed turn: begin, text, read, commit — invisible to history until the commit', async () => {
      const { call } = await me();
      const { id } = ok(await call('POST', '/v1/conversations'), 201);
      const begun = ok(
        await call('POST', `/v1/conversations/${id}/streamed-turns`, { message: 'plan my week' }),
        201,
      );
      expect(begun).toMatchObject({
        conversationId: id,
        state: 'streaming',
        message: 'plan my week',
        partialContent: '',
      });
      ok(await call('POST', `/v1/streamed-turns/${begun.id}/text`, { text: 'Monday: ' }));
      expect(
        ok(await call('POST', `/v1/streamed-turns/${begun.id}/text`, { text: 'rest.' }))
          .partialContent,
      ).toBe('Monday: rest.');
      expect(ok(await call('GET', `/v1/streamed-turns/${begun.id}`))).toMatchObject({
        state: 'streaming',
        partialContent: 'Monday: rest.',
      });
      expect(ok(await call('GET', `/v1/conversations/${id}/messages`)).messages).toEqual([]);

      const turn = ok(
        await call('POST', `/v1/streamed-turns/${begun.id}/commit`, {
          metadata: { model: 'test' },
        }),
      );
      expect(turn).toMatchObject({
        id: begun.id,
        userMessage: { id: begun.userMessageId, content: 'plan my week' },
        assistantMessage: {
          id: begun.assistantMessageId,
          content: 'Monday: rest.',
          metadata: { model: 'test' },
          aborted: false,
        },
      });
      expect(ok(await call('GET', `/v1/conversations/${id}/messages`)).messages).toHaveLength(2);
      expect(ok(await call('POST', `/v1/streamed-turns/${begun.id}/commit`))).toMatchObject({
        id: begun.id,
        replayed: true,
      });
      expect(ok(await call('GET', `/v1/streamed-turns/${begun.id}`)).state).toBe('committed');
    });

    it('a streamed turn aborted shows nothing, or with keepPartial the partial reply marked aborted', async () => {
      const { call } = await me();
      const { id } = ok(await call('POST', '/v1/conversations'), 201);
      const dropped = ok(
        await call('POST', `/v1/conversations/${id}/streamed-turns`, { message: 'drop me' }),
        201,
      );
      ok(await call('POST', `/v1/streamed-turns/${dropped.id}/text`, { text: 'half' }));
      expect(ok(await call('POST', `/v1/streamed-turns/${dropped.id}/abort`))).toMatchObject({
        turn: { state: 'aborted', keptPartial: false },
        kept: null,
      });
      expect(ok(await call('GET', `/v1/conversations/${id}/messages`)).messages).toEqual([]);

      const kept = ok(
        await call('POST', `/v1/conversations/${id}/streamed-turns`, { message: 'keep me' }),
        201,
      );
      ok(await call('POST', `/v1/streamed-turns/${kept.id}/text`, { text: 'half an answer' }));
      const aborted = ok(
        await call('POST', `/v1/streamed-turns/${kept.id}/abort`, { keepPartial: true }),
      );
      expect(aborted).toMatchObject({
        turn: { state: 'aborted', keptPartial: true },
        kept: { assistantMessage: { content: 'half an answer', aborted: true } },
      });
      const history = ok(await call('GET', `/v1/conversations/${id}/messages`));
      expect(
        history.messages.map((m: { content: string; aborted: boolean }) => [m.content, m.aborted]),
      ).toEqual([
        ['keep me', false],
        ['half an answer', true],
      ]);
    });

    it('onboarding: start (201), resume (200), advance, list, complete, start anew, abandon', async () => {
      const { user, call } = await me();
      const { id: conversationId } = ok(await call('POST', '/v1/conversations'), 201);
      const started = ok(
        await call('POST', '/v1/onboarding-sessions', {
          flow: 'coach',
          phase: 'welcome',
          goals: ['run'],
          conversationId,
        }),
        201,
      );
      expect(started).toMatchObject({
        resumed: false,
        session: {
          userId: user,
          flow: 'coach',
          phase: 'welcome',
          progress: 0,
          status: 'active',
          goals: ['run'],
          conversationId,
        },
      });
      const session = started.session;

      const resumed = ok(
        await call('POST', '/v1/onboarding-sessions', {
          flow: 'coach',
          phase: 'ignored on resume',
        }),
      );
      expect(resumed).toMatchObject({
        resumed: true,
        session: { id: session.id, phase: 'welcome' },
      });

      const advanced = ok(
        await call('PATCH', `/v1/onboarding-sessions/${session.id}`, {
          phase: 'goals',
          progress: 50,
          context: { name: 'Ana' },
          steps: { welcome: 'done' },
        }),
      );
      expect(advanced).toMatchObject({
        id: session.id,
        phase: 'goals',
        progress: 50,
        context: { name: 'Ana' },
        steps: { welcome: 'done' },
        status: 'active',
      });
      expect(ok(await call('GET', `/v1/onboarding-sessions/${session.id}`))).toEqual(advanced);

      const completed = ok(
        await call('POST', `/v1/onboarding-sessions/${session.id}/complete`, {
          context: { name: 'Ana', done: true },
        }),
      );
      expect(completed).toMatchObject({
        status: 'completed',
        context: { name: 'Ana', done: true },
        completedAt: expect.any(String),
        abandonedAt: null,
      });

      const again = ok(
        await call('POST', '/v1/onboarding-sessions', { flow: 'coach', phase: 'welcome' }),
        201,
      );
      expect(again.session.id).not.toBe(session.id);
      const abandoned = ok(
        await call('POST', `/v1/onboarding-sessions/${again.session.id}/abandon`),
      );
      expect(abandoned).toMatchObject({ status: 'abandoned', abandonedAt: expect.any(String) });

      const all = ok(await call('GET', '/v1/onboarding-sessions'));
      expect(all.sessions.map((s: { id: string }) => s.id)).toEqual([again.session.id, session.id]);
      const done = ok(await call('GET', '/v1/onboarding-sessions?flow=coach&status=completed'));
      expect(done.sessions.map((s: { id: string }) => s.id)).toEqual([session.id]);
      expect(ok(await call('GET', '/v1/onboarding-sessions?flow=other')).sessions).toEqual([]);
      const newest = ok(await call('GET', '/v1/onboarding-sessions?limit=1'));
      expect(newest.sessions.map((s: { id: string }) => s.id)).toEqual([again.session.id]);
    });

    it('DELETE /v1/me erases all of my data and reports what it removed', async () => {
      const { user, token, call } = await me();
      const a = ok(await call('POST', '/v1/conversations', { title: 'a' }), 201);
      ok(await call('POST', '/v1/conversations', { title: 'b' }), 201);
      for (let i = 0; i < 3; i++)
        ok(
          await call('POST', `/v1/conversations/${a.id}/turns`, {
            user: `q${i}`,
            assistant: `a${i}`,
          }),
          201,
        );
      ok(await call('POST', '/v1/onboarding-sessions', { flow: 'coach', phase: 'welcome' }), 201);
      const { secret } = ok(await call('POST', '/v1/me/api-keys', { name: 'cli' }), 201);
      const other = newUser('bystander');
      await f.store().conversations.create(other, { title: 'not mine' });

      expect(ok(await call('DELETE', '/v1/me'))).toEqual({
        conversations: 2,
        messages: 6,
        onboardingSessions: 1,
        apiKeys: 1,
      });
      expect(ok(await call('GET', '/v1/conversations')).conversations).toEqual([]);
      expect(ok(await call('GET', '/v1/onboarding-sessions')).sessions).toEqual([]);
      expect(ok(await call('GET', '/v1/me/api-keys')).apiKeys).toEqual([]);
      expect((await f.call('GET', '/v1/me', { token: secret })).status).toBe(401);
      expect((await call('GET', `/v1/conversations/${a.id}`)).status).toBe(404);
      expect(ok(await f.call('DELETE', '/v1/me', { token }))).toEqual({
        conversations: 0,
        messages: 0,
        onboardingSessions: 0,
        apiKeys: 0,
      });
      expect((await f.store().conversations.list(other)).conversations).toHaveLength(1);
      expect((await f.store().conversations.list(user)).conversations).toEqual([]);
    });

    it('POST /v1/me/api-keys issues a key under the name given (201, the secret once); GET lists names, never secrets', async () => {
      const { user, call } = await me();
      const named = ok(await call('POST', '/v1/me/api-keys', { name: 'laptop' }), 201);
      expect(named.apiKey).toMatchObject({ userId: user, name: 'laptop', revokedAt: null });
      expect(named.secret.startsWith(named.apiKey.prefix)).toBe(true);
      const unnamed = ok(await call('POST', '/v1/me/api-keys'), 201);
      expect(unnamed.apiKey.name).toBe('');

      const listed = ok(await call('GET', '/v1/me/api-keys'));
      expect(
        listed.apiKeys.map((k: { id: string; name: string }) => [k.id, k.name]).sort(),
      ).toEqual(
        [
          [named.apiKey.id, 'laptop'],
          [unnamed.apiKey.id, ''],
        ].sort(),
      );
      expect(JSON.stringify(listed)).not.toContain(named.secret);
      expect((await f.store().apiKeys.list(user)).map((k) => k.name).sort()).toEqual([
        '',
        'laptop',
      ]);
    });

    it('every response carries an x-request-id; a sane caller X-Request-Id is kept, a bad one replaced', async () => {
      const { call } = await me();
      const plain = await call('GET', '/v1/me');
      expect(plain.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const other = await call('GET', '/v1/me');
      expect(other.headers.get('x-request-id')).not.toBe(plain.headers.get('x-request-id'));

      const mine = await call('GET', '/v1/me', undefined, { 'x-request-id': 'trace-abc.123:xyz' });
      expect(mine.headers.get('x-request-id')).toBe('trace-abc.123:xyz');
      const failed = await call('GET', `/v1/conversations/${randomUUID()}`, undefined, {
        'x-request-id': 'trace-404',
      });
      expect(failed.status).toBe(404);
      expect(failed.headers.get('x-request-id')).toBe('trace-404');
      expect(failed.body.error.requestId).toBe('trace-404');
      const unauthenticated = await f.call('GET', '/v1/me', {
        headers: { 'x-request-id': 'trace-401' },
      });
      expect([
        unauthenticated.status,
        unauthenticated.headers.get('x-request-id'),
        unauthenticated.body.error.requestId,
      ]).toEqual([401, 'trace-401', 'trace-401']);

      for (const bad of ['has spaces in it', 'x'.repeat(129), 'caf\u00e9', '<script>']) {
        const reply = await call('GET', '/v1/me', undefined, { 'x-request-id': bad });
        expect(reply.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      }
      expect(
        (await f.call('GET', '/healthz', { headers: { 'x-request-id': 'probe-1' } })).headers.get(
          'x-request-id',
        ),
      ).toBe('probe-1');
    });

    it('an unknown route is a 404 in the one error shape', async () => {
      const { call } = await me();
      const reply = await call('GET', '/v1/nothing-here');
      expect(reply.status).toBe(404);
      expect(reply.body.error).toMatchObject({
        code: 'CK_NOT_FOUND',
        requestId: reply.headers.get('x-request-id'),
      });
    });
  });
}
