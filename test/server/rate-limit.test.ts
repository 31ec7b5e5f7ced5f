import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer, type ServerFixture } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Issue 3: per-user rate limiting, 429 CK_RATE_LIMITED with Retry-After. All
 * users here call from 127.0.0.1, so a limit keyed by IP would show up as one
 * user's burst limiting another.
 */

/** Five requests across different routes, all of which succeed. */
async function useUpTheWindow(f: ServerFixture, token: string): Promise<void> {
  const statuses = [
    (await f.call('GET', '/v1/me', { token })).status,
    (await f.call('GET', '/v1/conversations', { token })).status,
    (await f.call('POST', '/v1/conversations', { token, body: { title: 'one' } })).status,
    (await f.call('GET', '/v1/onboarding-sessions', { token })).status,
    (await f.call('GET', '/v1/me/api-keys', { token })).status,
  ];
  expect(statuses).toEqual([200, 200, 201, 200, 200]);
}

function expectRateLimited(
  reply: Awaited<ReturnType<ServerFixture['call']>>,
  windowSeconds: number,
): void {
  expect(reply.status).toBe(429);
  expect(reply.body.error).toMatchObject({
    code: 'CK_RATE_LIMITED',
    requestId: reply.headers.get('x-request-id'),
  });
  const retryAfter = reply.headers.get('retry-after');
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter)).toBeLessThanOrEqual(windowSeconds);
  expect(reply.body.error.details.retryAfterSeconds).toBe(Number(retryAfter));
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: rate limiting`, () => {
    const f = useServer(backend.name, { rateLimit: { max: 5, windowMs: 60_000 } });

    it("a user's 6th request in the window is 429 with a numeric Retry-After, and writes nothing", async () => {
      const alice = newUser('alice');
      const token = await jwtFor(alice);
      await useUpTheWindow(f, token);
      const sixth = await f.call('POST', '/v1/conversations', { token, body: { title: 'six' } });
      expectRateLimited(sixth, 60);
      expect((await f.store().conversations.list(alice)).conversations.map((c) => c.title)).toEqual(
        ['one'],
      );
      expectRateLimited(await f.call('GET', '/v1/me', { token }), 60);
    });

    it('the limit is per user, not per IP: another user on the same address is unaffected', async () => {
      const alice = await jwtFor(newUser('alice'));
      const bob = await jwtFor(newUser('bob'));
      await useUpTheWindow(f, alice);
      expect((await f.call('GET', '/v1/me', { token: alice })).status).toBe(429);
      await useUpTheWindow(f, bob);
      expect((await f.call('GET', '/v1/me', { token: bob })).status).toBe(429);
    });

    it("counts a user's JWT and API-key requests together", async () => {
      const carol = newUser('carol');
      const jwt = await jwtFor(carol);
      const { secret } = await f.store().apiKeys.create(carol);
      for (const token of [jwt, secret, jwt, secret, jwt])
        expect((await f.call('GET', '/v1/me', { token })).status).toBe(200);
      expectRateLimited(await f.call('GET', '/v1/me', { token: secret }), 60);
    });

    it('/healthz and /readyz are never limited, even for an address whose users are', async () => {
      const dave = await jwtFor(newUser('dave'));
      await useUpTheWindow(f, dave);
      expect((await f.call('GET', '/v1/me', { token: dave })).status).toBe(429);
      for (let i = 0; i < 20; i++) {
        expect((await f.call('GET', '/healthz')).status).toBe(200);
        expect((await f.call('GET', '/readyz')).status).toBe(200);
      }
    });

    it('a request refused for its token does not use up the real user’s window', async () => {
      const erin = newUser('erin');
      for (let i = 0; i < 10; i++) {
        expect(
          (
            await f.call('GET', '/v1/me', {
              token: await jwtFor(erin, { secret: 'forged-secret-of-at-least-32-bytes!!' }),
            })
          ).status,
        ).toBe(401);
      }
      await useUpTheWindow(f, await jwtFor(erin));
    });

    it('requests refused for their body (400, 413) count too: past the limit they are 429, and so is the next good one', async () => {
      const frank = newUser('frank');
      const token = await jwtFor(frank);
      const refused = [
        (await f.call('POST', '/v1/conversations', { token, body: { colour: 'red' } })).status,
        (await f.call('POST', '/v1/conversations', { token, body: '{"title": "unterminated' }))
          .status,
        (await f.call('POST', '/v1/conversations', { token, body: { title: 7 } })).status,
        (
          await f.call('POST', '/v1/conversations', {
            token,
            body: { title: 'x'.repeat(1_100_000) },
          })
        ).status,
        (await f.call('POST', '/v1/conversations', { token, body: { title: '' } })).status,
      ];
      expect(refused).toEqual([400, 400, 400, 413, 400]);
      expectRateLimited(
        await f.call('POST', '/v1/conversations', { token, body: { colour: 'red' } }),
        60,
      );
      expectRateLimited(
        await f.call('POST', '/v1/conversations', { token, body: { title: 'ok' } }),
        60,
      );
      expect((await f.store().conversations.list(frank)).conversations).toEqual([]);
    });
  });

  describe.skipIf(backend.skip)(`${backend.name}: rate-limit window`, () => {
    const f = useServer(backend.name, { rateLimit: { max: 2, windowMs: 1_500 } });

    it('after waiting Retry-After seconds, requests pass again', async () => {
      const token = await jwtFor(newUser('patient'));
      expect((await f.call('GET', '/v1/me', { token })).status).toBe(200);
      expect((await f.call('GET', '/v1/me', { token })).status).toBe(200);
      const limited = await f.call('GET', '/v1/me', { token });
      expectRateLimited(limited, 2);
      await sleep(Number(limited.headers.get('retry-after')) * 1000 + 100);
      expect((await f.call('GET', '/v1/me', { token })).status).toBe(200);
    });
  });
}
