import { sql } from 'kysely';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent } from '../../src/index.js';
import { addressKey } from '../../src/server/auth-failure-limiter.js';
import { buildServer } from '../../src/server/index.js';
import { assertBuilt, target } from '../cli/cli-process.js';
import { killLeftoverServers, serve } from '../cli/serve-process.js';
import { BACKENDS, createPgDatabase } from '../support/backends.js';
import { ADMIN_TOKEN, jwtFor, useServer, type ServerFixture } from '../support/server-fixture.js';
import { caught, newUser } from '../support/store-fixture.js';

/**
 * Failed authentications are limited per client address (docs/http.md,
 * "Failed authentication"): a flood of bad tokens from one address would
 * otherwise cost an API-key lookup or a JWT verification each, unthrottled,
 * as authentication answers 401 before the per-user rate limit sees the
 * request. Clients call from different loopback addresses (all of
 * 127.0.0.0/8 is loopback on Linux) by binding their socket's local address.
 */

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: any;
}

/** One request on a fresh connection from `from` (a local address), with an optional bearer token and headers. */
function callFrom(
  f: ServerFixture,
  from: string,
  method: string,
  path: string,
  options: { token?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Reply> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${f.url()}${path}`,
      {
        method,
        localAddress: from,
        agent: false,
        headers: {
          ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode!,
            headers: response.headers,
            body: text === '' ? undefined : JSON.parse(text),
          }),
        );
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * GET `path` with each of `tokens` at the same moment from `from`: every
 * connection is opened first and then all requests are written in one go,
 * so the server reads them together (requests sent one after another as
 * connections open would arrive spread out). Returns the statuses in order.
 */
async function burstFrom(server: { url(): string }, from: string, path: string, tokens: readonly string[]): Promise<number[]> {
  const { port } = new URL(server.url());
  const sockets = await Promise.all(
    tokens.map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port: Number(port), localAddress: from }, () => resolve(socket));
          socket.on('error', reject);
        }),
    ),
  );
  const answers = sockets.map(
    (socket) =>
      new Promise<number>((resolve, reject) => {
        let head = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => {
          head += chunk;
          const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
          if (status !== null) {
            resolve(Number(status[1]));
            socket.destroy();
          }
        });
        socket.on('close', () => reject(new Error(`closed without an answer: ${head}`)));
      }),
  );
  sockets.forEach((socket, i) =>
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tokens[i]}\r\nConnection: close\r\n\r\n`),
  );
  return Promise.all(answers);
}

/** A key of the right shape (so it is looked up) that chatkeep never issued. */
const badKey = (n: number) => `ck_0123abcd_${String(n).padStart(43, 'A')}`;
const forged = (user: string) =>
  jwtFor(user, { secret: 'forged-secret-that-is-at-least-32-bytes' });

let lastOctet = 10;
/** A loopback address no earlier test of this file has used. */
const freshAddress = () => `127.0.0.${lastOctet++}`;

function expectRefused(reply: Reply, max: number, windowSeconds: number): void {
  expect(reply.status).toBe(429);
  expect(reply.body.error).toMatchObject({
    code: 'CK_RATE_LIMITED',
    requestId: reply.headers['x-request-id'],
  });
  const retryAfter = Number(reply.headers['retry-after']);
  expect(reply.headers['retry-after']).toMatch(/^\d+$/);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
  expect(reply.body.error.details).toEqual({ retryAfterSeconds: retryAfter });
  expect(reply.headers['x-ratelimit-limit']).toBe(String(max));
  expect(reply.headers['x-ratelimit-remaining']).toBe('0');
  expect(reply.headers['x-ratelimit-reset']).toBe(String(retryAfter));
  expect(reply.headers['www-authenticate']).toBeUndefined();
}

/** `count` failed authentications from `from`, each answered 401. */
async function fail(
  f: ServerFixture,
  from: string,
  count: number,
  user = newUser('victim'),
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const token = i % 2 === 0 ? badKey(i) : await forged(user);
    expect((await callFrom(f, from, 'GET', '/v1/me', { token })).status).toBe(401);
  }
}

describe('addressKey', () => {
  it('counts IPv4 and IPv4-mapped addresses as they are, and IPv6 addresses by their /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('::ffff:203.0.113.7');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:DB8:0:0:ffff::2')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    // `::` standing for one group in the middle: the fourth group is `c`, not 0.
    expect(addressKey('a:b::c:d:e:f:1')).toBe('a:b:0:c::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: failed-authentication limit`, () => {
    const f = useServer(backend.name, { authFailureLimit: { max: 5, windowMs: 60_000 } });

    it('after 5 failed authentications an address gets 429 with Retry-After and x-ratelimit-* headers, even for a valid token, and nothing is written', async () => {
      const from = freshAddress();
      const alice = newUser('alice');
      const token = await jwtFor(alice);
      await fail(f, from, 5);
      expectRefused(await callFrom(f, from, 'GET', '/v1/me', { token: badKey(99) }), 5, 60);
      expectRefused(
        await callFrom(f, from, 'GET', '/v1/me', { token: await forged(alice) }),
        5,
        60,
      );
      expectRefused(await callFrom(f, from, 'GET', '/v1/me'), 5, 60);
      // A valid token too: the answer does not depend on the token, so it tells a guesser nothing.
      expectRefused(await callFrom(f, from, 'GET', '/v1/me', { token }), 5, 60);
      expectRefused(
        await callFrom(f, from, 'POST', '/v1/conversations', { token, body: { title: 'x' } }),
        5,
        60,
      );
      expectRefused(
        await callFrom(f, from, 'POST', '/v1/admin/sweep', { token: ADMIN_TOKEN }),
        5,
        60,
      );
      expect((await f.store().conversations.list(alice)).conversations).toEqual([]);
    });

    it('while an address is refused, a bad ck_ key is not looked up: with the api_keys table gone, another address gets a 500 from the lookup, the refused one a 429', async () => {
      const refused = freshAddress();
      await fail(f, refused, 5);
      const db = f.scratch().database.db;
      await sql`alter table chatkeep.api_keys rename to api_keys_hidden`.execute(db);
      try {
        // The observable is real: a lookup now fails, visibly.
        const lookedUp = await callFrom(f, freshAddress(), 'GET', '/v1/me', { token: badKey(1) });
        expect([lookedUp.status, lookedUp.body.error.code]).toEqual([500, 'CK_INTERNAL']);
        for (let i = 0; i < 10; i++)
          expectRefused(await callFrom(f, refused, 'GET', '/v1/me', { token: badKey(i) }), 5, 60);
      } finally {
        await sql`alter table chatkeep.api_keys_hidden rename to api_keys`.execute(db);
      }
    });

    it('another address is unaffected: its valid tokens work and its bad ones are 401, not 429', async () => {
      const attacker = freshAddress();
      const neighbour = freshAddress();
      await fail(f, attacker, 5);
      expect(
        (await callFrom(f, attacker, 'GET', '/v1/me', { token: await jwtFor(newUser()) })).status,
      ).toBe(429);
      const bob = newUser('bob');
      const { secret } = await f.store().apiKeys.create(bob);
      expect(
        (await callFrom(f, neighbour, 'GET', '/v1/me', { token: await jwtFor(bob) })).body,
      ).toEqual({ userId: bob, authMethod: 'jwt' });
      expect((await callFrom(f, neighbour, 'GET', '/v1/me', { token: secret })).body).toEqual({
        userId: bob,
        authMethod: 'api-key',
      });
      expect((await callFrom(f, neighbour, 'GET', '/v1/me', { token: badKey(1) })).status).toBe(
        401,
      );
    });

    it('/healthz, /readyz and /openapi.json still answer a refused address', async () => {
      const from = freshAddress();
      await fail(f, from, 5);
      expect((await callFrom(f, from, 'GET', '/v1/me')).status).toBe(429);
      for (const path of ['/healthz', '/readyz', '/openapi.json'])
        expect((await callFrom(f, from, 'GET', path)).status).toBe(200);
    });

    it('wrong admin credentials count as failures too, together with bad user tokens', async () => {
      const from = freshAddress();
      for (const token of [`${ADMIN_TOKEN}x`, 'guess', undefined]) {
        expect(
          (await callFrom(f, from, 'POST', '/v1/admin/sweep', token === undefined ? {} : { token }))
            .status,
        ).toBe(401);
      }
      await fail(f, from, 2);
      expectRefused(
        await callFrom(f, from, 'POST', '/v1/admin/sweep', { token: ADMIN_TOKEN }),
        5,
        60,
      );
      expectRefused(
        await callFrom(f, from, 'GET', '/v1/me', { token: await jwtFor(newUser()) }),
        5,
        60,
      );
    });

    it('successful requests are not counted: an address with 4 failures and many successes still gets its 5th 401', async () => {
      const from = freshAddress();
      const token = await jwtFor(newUser());
      await fail(f, from, 4);
      for (let i = 0; i < 20; i++)
        expect((await callFrom(f, from, 'GET', '/v1/me', { token })).status).toBe(200);
      await fail(f, from, 1);
      expect((await callFrom(f, from, 'GET', '/v1/me', { token })).status).toBe(429);
    });

    it('100 bad tokens sent at once from one address get 5 401s and 95 429s: a burst cannot pass the check before its failures are counted', async () => {
      const from = freshAddress();
      const forgedToken = await forged(newUser('victim'));
      const statuses = await burstFrom(
        f,
        from,
        '/v1/me',
        Array.from({ length: 100 }, (_, i) => (i % 4 === 0 ? forgedToken : badKey(i))),
      );
      expect(statuses.filter((s) => s === 401)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(95);
      expectRefused(await callFrom(f, from, 'GET', '/v1/me', { token: badKey(1) }), 5, 60);
    });

    it('100 valid tokens sent at once from one address all authenticate, also with 4 failures already counted (they take turns)', async () => {
      const from = freshAddress();
      const users = Array.from({ length: 10 }, () => newUser('nat'));
      const tokens = await Promise.all(users.map((u) => jwtFor(u)));
      const hundred = Array.from({ length: 100 }, (_, i) => tokens[i % 10]!);
      expect(await burstFrom(f, from, '/v1/me', hundred)).toEqual(Array<number>(100).fill(200));
      await fail(f, from, 4);
      expect(await burstFrom(f, from, '/v1/me', hundred)).toEqual(Array<number>(100).fill(200));
      // The failures were not forgotten while the valid tokens waited their turn.
      await fail(f, from, 1);
      expectRefused(await callFrom(f, from, 'GET', '/v1/me', { token: tokens[0]! }), 5, 60);
    });

    it('a burst of bad and valid tokens mixed: exactly 5 401s, the valid ones authenticate or (after the refusal began) get 429', async () => {
      const from = freshAddress();
      const token = await jwtFor(newUser('mixed'));
      const statuses = await burstFrom(
        f,
        from,
        '/v1/me',
        Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? badKey(i) : token)),
      );
      expect(statuses.filter((s) => s === 401)).toHaveLength(5);
      expect(statuses.filter((s) => s !== 401 && s !== 200 && s !== 429)).toEqual([]);
      expect(statuses.filter((s, i) => s === 200 && i % 3 === 0), 'a bad key never authenticates').toEqual([]);
    });

    it('without trustProxy, X-Forwarded-For is not believed: a refused address cannot name another one', async () => {
      const from = freshAddress();
      await fail(f, from, 5);
      const reply = await callFrom(f, from, 'GET', '/v1/me', {
        token: await jwtFor(newUser()),
        headers: { 'x-forwarded-for': '198.51.100.1' },
      });
      expect(reply.status).toBe(429);
    });

    it('a trustProxy entry that is not an address or range is a CK_CONFIG error naming it', async () => {
      for (const bad of ['10.0.0.0/33', 'proxy.example', '::1/129', '']) {
        const error = await caught(() =>
          buildServer(f.store(), {
            auth: {},
            agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent() },
            trustProxy: ['loopback', bad],
          }),
        );
        expect(error).toMatchObject({ code: 'CK_CONFIG', details: { field: 'trustProxy' } });
        expect(error.message).toContain(`"${bad}"`);
      }
    });
  });

  describe.skipIf(backend.skip)(`${backend.name}: failed-authentication window`, () => {
    const f = useServer(backend.name, { authFailureLimit: { max: 2, windowMs: 1_500 } });

    it('after waiting Retry-After seconds, the address may try again', async () => {
      const from = freshAddress();
      const token = await jwtFor(newUser('patient'));
      await fail(f, from, 2);
      const refused = await callFrom(f, from, 'GET', '/v1/me', { token });
      expectRefused(refused, 2, 2);
      await sleep(Number(refused.headers['retry-after']) * 1000 + 100);
      expect((await callFrom(f, from, 'GET', '/v1/me', { token })).status).toBe(200);
      // A new window: two more failures before the next refusal.
      await fail(f, from, 2);
      expect((await callFrom(f, from, 'GET', '/v1/me', { token })).status).toBe(429);
    });
  });

  for (const off of [false, { max: 0, windowMs: 60_000 }] as const) {
    describe.skipIf(backend.skip)(
      `${backend.name}: failed-authentication limit off (${JSON.stringify(off)})`,
      () => {
        const f = useServer(backend.name, { authFailureLimit: off });

        it('150 failures from one address (more than the default limit of 100) are all 401, and a valid token still works', async () => {
          const from = freshAddress();
          await fail(f, from, 150);
          expect(
            (await callFrom(f, from, 'GET', '/v1/me', { token: await jwtFor(newUser()) })).status,
          ).toBe(200);
        });
      },
    );
  }

  describe.skipIf(backend.skip)(
    `${backend.name}: failed-authentication limit behind a trusted proxy`,
    () => {
      const f = useServer(backend.name, {
        trustProxy: ['loopback'],
        authFailureLimit: { max: 3, windowMs: 60_000 },
      });
      const via = (client: string) => ({ 'x-forwarded-for': client });

      async function failVia(client: string, count: number): Promise<void> {
        for (let i = 0; i < count; i++) {
          expect(
            (
              await callFrom(f, '127.0.0.1', 'GET', '/v1/me', {
                token: badKey(i),
                headers: via(client),
              })
            ).status,
          ).toBe(401);
        }
      }

      it('clients behind the proxy are counted by their X-Forwarded-For address, not the proxy’s', async () => {
        const token = await jwtFor(newUser());
        await failVia('203.0.113.7', 3);
        expectRefused(
          await callFrom(f, '127.0.0.1', 'GET', '/v1/me', { token, headers: via('203.0.113.7') }),
          3,
          60,
        );
        expect(
          (await callFrom(f, '127.0.0.1', 'GET', '/v1/me', { token, headers: via('203.0.113.8') }))
            .status,
        ).toBe(200);
        expect(
          (
            await callFrom(f, '127.0.0.1', 'GET', '/v1/me', {
              token: badKey(1),
              headers: via('203.0.113.8'),
            })
          ).status,
        ).toBe(401);
        // The proxy itself, calling for nobody else, is not refused either.
        expect((await callFrom(f, '127.0.0.1', 'GET', '/v1/me', { token })).status).toBe(200);
      });

      it('IPv6 clients are counted by their /64', async () => {
        const token = await jwtFor(newUser());
        await failVia('2001:db8:7::1', 3);
        expect(
          (
            await callFrom(f, '127.0.0.1', 'GET', '/v1/me', {
              token,
              headers: via('2001:db8:7::2'),
            })
          ).status,
        ).toBe(429);
        expect(
          (
            await callFrom(f, '127.0.0.1', 'GET', '/v1/me', {
              token,
              headers: via('2001:db8:7:1::1'),
            })
          ).status,
        ).toBe(200);
      });
    },
  );
}

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: chatkeep serve --workers 2 --auth-failure-limit', () => {
  afterAll(killLeftoverServers);

  it('failures are counted for the whole cluster: an address gets max + workers − 1 failed attempts one after another, not max per worker, and a burst at most max + workers × (max − 1)', async () => {
    assertBuilt();
    const db = await createPgDatabase();
    try {
      const server = await serve(target({ url: db.url }), [
        '--workers',
        '2',
        '--auth-failure-limit',
        '6',
        '--log-level',
        'info',
      ]);
      try {
        const statuses: number[] = [];
        // Each on a connection of its own, so the cluster hands them to the workers in turn.
        for (let i = 0; i < 20; i++)
          statuses.push(await statusOf(`${server.url}/v1/me`, badKey(i)));
        const failed = statuses.filter((s) => s === 401).length;
        // Counted per worker, 12 would be 401 (6 on each).
        expect(failed).toBeGreaterThanOrEqual(6);
        expect(failed).toBeLessThanOrEqual(7);
        expect(statuses).toEqual([
          ...Array<number>(failed).fill(401),
          ...Array<number>(20 - failed).fill(429),
        ]);
        const pids = new Set(
          server
            .stdout()
            .split('\n')
            .filter((line) => line.startsWith('{') && line.includes('"url":"/v1/me"'))
            .map((line) => (JSON.parse(line) as { pid: number }).pid),
        );
        expect(pids.size, 'both workers answered').toBe(2);

        // At once from another address: each worker checks at most 6 − (the
        // failures it has seen counted) tokens of it at a time, so the burst gets
        // at most max + workers × (max − 1) = 16 401s; unbounded before.
        // Every connection is open before any request is written, so all 80 are in flight at once.
        const burst = await burstFrom({ url: () => server.url }, '127.0.0.2', '/v1/me', Array.from({ length: 80 }, (_, i) => badKey(i)));
        const burstFailed = burst.filter((s) => s === 401).length;
        expect(burstFailed).toBeGreaterThanOrEqual(6);
        expect(burstFailed).toBeLessThanOrEqual(16);
        expect(burst.filter((s) => s === 429)).toHaveLength(80 - burstFailed);
      } finally {
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
      }
    } finally {
      await db.drop();
    }
  });
});

/** The status of a GET on a connection of its own, from the local address `from` when given. */
function statusOf(url: string, token: string, from?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent: false, localAddress: from, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
