import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../src/index.js';
import { SERVER_DEFAULTS } from '../../src/server/server-options.js';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer } from '../support/server-fixture.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * The defaults a user gets without choosing: checked by what they do where
 * that takes at most a second, and otherwise (60 s, 120 s, 24 h) by moving
 * the clock or the rows' timestamps rather than waiting. Where the docs
 * state a default, the last suite checks the code uses the same number.
 */

const MiB = 1024 * 1024;

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the store's defaults`, () => {
    const fixture = useStore(backend.name);

    const conversation = () => fixture.conversation('defaults');

    it('conversations.list returns 20 at a time, with a cursor to the rest', async () => {
      const store = fixture.get();
      const user = newUser('lister');
      for (let i = 0; i < 21; i++) await store.conversations.create(user, { title: `c${i}` });
      const first = await store.conversations.list(user);
      expect(first.conversations).toHaveLength(20);
      expect(first.nextCursor).not.toBeNull();
      const rest = await store.conversations.list(user, { cursor: first.nextCursor! });
      expect(rest.conversations).toHaveLength(1);
      expect(rest.nextCursor).toBeNull();
    });

    it('a history page is at most 1000 messages: limit 1000 is read, 1001 is CK_VALIDATION naming limit', async () => {
      const { store, user, id } = await conversation();
      expect((await store.messages.list(user, id, { limit: 1000 })).messages).toEqual([]);
      const refused = await caught(() => store.messages.list(user, id, { limit: 1001 }));
      expect([refused.code, refused.details?.['field']]).toEqual(['CK_VALIDATION', 'limit']);
    });

    it('a streamed turn begun without abandonAfterMs may go 120 s without news', async () => {
      const { store, user, id } = await conversation();
      const begun = await store.turns.begin(user, id, 'no options');
      expect(begun.abandonAfterMs).toBe(120_000);
      expect(begun.expiresAt.getTime() - begun.updatedAt.getTime()).toBe(120_000);
    });

    it('sweep keeps a finished turn record for 24 h: one finished 23 h 59 min ago stays, one finished 24 h 1 min ago goes', async () => {
      const { store, user, id } = await conversation();
      const finishedAgo = async (minutes: number) => {
        const begun = await store.turns.begin(user, id, `finished ${minutes} min ago`);
        await store.turns.commit(user, begun.id, { content: 'done' });
        // Past the API: no call moves a record's finish into the past.
        await sql`
          update chatkeep.streamed_turns
             set created_at = now() - make_interval(mins => ${minutes + 1}),
                 updated_at = now() - make_interval(mins => ${minutes}),
                 finished_at = now() - make_interval(mins => ${minutes})
           where user_id = ${user} and id = ${begun.id}`.execute(fixture.scratch().database.db);
        return begun.id;
      };
      const young = await finishedAgo(24 * 60 - 1);
      const old = await finishedAgo(24 * 60 + 1);
      await store.turns.sweep();
      expect((await store.turns.getStreamed(user, young)).state).toBe('committed');
      expect((await caught(() => store.turns.getStreamed(user, old))).code).toBe('CK_NOT_FOUND');
    });

    it('turns.run gives the agent 60 s: still waiting at 59.5 s, CK_AGENT_TIMEOUT by 60 s, nothing stored', async () => {
      const { store, user, id } = await conversation();
      let called!: () => void;
      const agentCalled = new Promise<void>((resolve) => (called = resolve));
      // Answers only when told to stop, i.e. never before the timeout.
      const silent: Agent = ({ signal }) => {
        called();
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }),
        );
      };
      // The clock moves on its own too (shouldAdvanceTime), so the database's own timers keep working.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'], shouldAdvanceTime: true });
      try {
        let outcome: string | undefined;
        const run = store.turns.run(user, id, 'are you there?', silent).then(
          () => (outcome = 'answered'),
          (error: { code?: string }) => (outcome = error.code),
        );
        await agentCalled;
        await vi.advanceTimersByTimeAsync(59_500);
        expect(outcome).toBeUndefined();
        await vi.advanceTimersByTimeAsync(500);
        vi.useRealTimers();
        // The timeout has fired by now; a second of real time lets its rejection through, and fails fast if it has not.
        await Promise.race([run, new Promise((resolve) => setTimeout(resolve, 1000))]);
        expect(outcome).toBe('CK_AGENT_TIMEOUT');
      } finally {
        vi.useRealTimers();
      }
      expect((await store.messages.list(user, id)).messages).toEqual([]);
    });
  });

  describe.skipIf(backend.skip)(`${backend.name}: the HTTP server's defaults`, () => {
    const f = useServer(backend.name);

    /** POST /v1/conversations with a valid JSON body padded with whitespace to exactly `bytes` bytes. */
    async function createWithBodyOf(user: string, bytes: number) {
      const json = JSON.stringify({ title: `${bytes} bytes` });
      const body = json + ' '.repeat(bytes - json.length);
      expect(Buffer.byteLength(body)).toBe(bytes);
      return f.call('POST', '/v1/conversations', { token: await jwtFor(user), body });
    }

    it('a request body of 1 MiB is read; one byte more is 413 CK_PAYLOAD_TOO_LARGE and stores nothing', async () => {
      const user = newUser('body');
      const atLimit = await createWithBodyOf(user, MiB);
      expect(atLimit.status).toBe(201);
      const over = await createWithBodyOf(user, MiB + 1);
      expect([over.status, over.body.error.code]).toEqual([413, 'CK_PAYLOAD_TOO_LARGE']);
      expect((await f.store().conversations.list(user)).conversations.map((c) => c.title)).toEqual([
        `${MiB} bytes`,
      ]);
    });

    it("idle keep-alive connections last 72 s (Fastify's default), longer than a load balancer's usual 60 s", async () => {
      const me = await f.call('GET', '/v1/me', { token: await jwtFor(newUser('alive')) });
      expect([me.status, me.headers.get('keep-alive')]).toEqual([200, 'timeout=72']);
    });

    it('a history page over HTTP is at most 1000 messages: ?limit=1001 is 400 naming limit', async () => {
      const token = await jwtFor(newUser('pager'));
      const created = await f.call('POST', '/v1/conversations', { token, body: {} });
      const path = `/v1/conversations/${created.body.id}/messages`;
      expect((await f.call('GET', `${path}?limit=1000`, { token })).status).toBe(200);
      const refused = await f.call('GET', `${path}?limit=1001`, { token });
      expect([refused.status, refused.body.error.code, refused.body.error.details?.field]).toEqual([
        400,
        'CK_VALIDATION',
        'limit',
      ]);
    });
  });
}

describe('the defaults the docs state are the ones the server uses', () => {
  const doc = (name: string) =>
    readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8').replace(/\s+/g, ' ');

  it('an API key is trusted for 5 seconds without another lookup (docs/http.md)', () => {
    expect(doc('http.md')).toContain(
      'A verified API key is trusted for 5 seconds without another lookup (`apiKeyCacheMs`)',
    );
    expect(doc('http.md')).toContain('stops working within 5 seconds');
    expect(SERVER_DEFAULTS.apiKeyCacheMs).toBe(5_000);
  });

  it('--body-limit is 1 MiB and --abandon-after 120000 ms (docs/cli.md, docs/http.md)', () => {
    expect(doc('cli.md')).toContain('`--body-limit` (bytes, 1 MiB)');
    expect(SERVER_DEFAULTS.bodyLimit).toBe(MiB);
    expect(doc('cli.md')).toContain('`--abandon-after` (ms, 120000)');
    expect(doc('http.md')).toContain('`--abandon-after`, default 120 s)');
    expect(SERVER_DEFAULTS.abandonAfterMs).toBe(120_000);
  });

  it('a silent event stream sends a keep-alive comment every 15 s; --sse-heartbeat says so (docs/cli.md, docs/http.md)', () => {
    expect(SERVER_DEFAULTS.sseHeartbeatMs).toBe(15_000);
    expect(doc('cli.md')).toContain('`--sse-heartbeat` (ms, 15000:');
    expect(doc('http.md')).toContain('after every 15 s without an event (`--sse-heartbeat`, `sseHeartbeatMs`;');
  });

  it("the server gives its agent the store's 60 s", () => {
    expect(SERVER_DEFAULTS.agentTimeoutMs).toBe(60_000);
  });
});
