import { SignJWT } from 'jose';
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent, openStore } from '../../src/index.js';
import { buildServer } from '../../src/server/index.js';
import { BACKENDS, scratchDatabase } from '../support/backends.js';
import {
  ADMIN_TOKEN,
  JWT_SECRET,
  jwtFor,
  useServer,
  type ServerFixture,
} from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Issue 3 "Auth": the acting user comes only from a verified bearer token (an
 * HS256 JWT with the right issuer and audience, or a chatkeep API key). Every
 * other credential is a 401 CK_UNAUTHENTICATED with `WWW-Authenticate: Bearer`
 * whose body never names a user; admin routes take only the admin credential.
 */

const ISSUER = 'https://auth.example.test';
const AUDIENCE = 'chatkeep-tests';

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT with `alg: none` and no signature, otherwise valid: the classic forgery. */
function unsignedJwt(sub: string): string {
  const now = Math.floor(Date.now() / 1000);
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub, aud: AUDIENCE, iss: ISSUER, iat: now, exp: now + 3600 })}.`;
}

/** Everything that must not authenticate `victim`, as an Authorization header (or none). */
async function badCredentials(victim: string): Promise<[string, string | undefined][]> {
  const key = new TextEncoder().encode(JWT_SECRET);
  return [
    ['no Authorization header', undefined],
    ['an empty Authorization header', ''],
    ['Basic credentials', `Basic ${Buffer.from(`${victim}:pw`).toString('base64')}`],
    ['Bearer with no token', 'Bearer '],
    ['Bearer with two tokens', `Bearer ${await jwtFor(victim)} extra`],
    ['a token that is not a JWT', 'Bearer not-a-jwt'],
    [
      'an expired JWT',
      `Bearer ${await jwtFor(victim, { exp: Math.floor(Date.now() / 1000) - 60 })}`,
    ],
    [
      'a JWT signed with another secret',
      `Bearer ${await jwtFor(victim, { secret: 'another-secret-that-is-32-bytes-or-more!' })}`,
    ],
    ['a JWT for another audience', `Bearer ${await jwtFor(victim, { aud: 'some-other-api' })}`],
    [
      'a JWT from another issuer',
      `Bearer ${await jwtFor(victim, { iss: 'https://evil.example.test' })}`,
    ],
    ['an alg "none" JWT', `Bearer ${unsignedJwt(victim)}`],
    [
      'an HS512 JWT under the right secret',
      `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject(victim).setAudience(AUDIENCE).setIssuer(ISSUER).setExpirationTime('1h').sign(key)}`,
    ],
    // Signed and current, but its sub is no user id chatkeep accepts (a space, a NUL): /v1/me used to answer 200 and echo it.
    ['a JWT whose sub has a space', `Bearer ${await jwtFor(`${victim} x`)}`],
    ['a JWT whose sub has a NUL', `Bearer ${await jwtFor(`${victim}\u0000`)}`],
    [
      'a JWT without sub',
      `Bearer ${await new SignJWT({ user: victim }).setProtectedHeader({ alg: 'HS256' }).setAudience(AUDIENCE).setIssuer(ISSUER).setExpirationTime('1h').sign(key)}`,
    ],
    ['a JWT whose signature was altered', `Bearer ${(await jwtFor(victim)).slice(0, -4)}AAAA`],
    ['an API key chatkeep never issued', `Bearer ck_0123abcd_${'A'.repeat(43)}`],
    ['the admin token', `Bearer ${ADMIN_TOKEN}`],
  ];
}

async function get(f: ServerFixture, path: string, authorization: string | undefined) {
  return f.call('GET', path, authorization === undefined ? {} : { headers: { authorization } });
}

/** JWTs with issuer and audience, an admin token, and API keys remembered for `apiKeyCacheMs`. */
const fullAuth = (apiKeyCacheMs: number) => ({ jwtSecret: JWT_SECRET, issuer: ISSUER, audience: AUDIENCE, adminToken: ADMIN_TOKEN, apiKeyCacheMs });

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: authentication over HTTP`, () => {
    const f = useServer(backend.name, { auth: fullAuth(0) });

    it('a verified JWT is remembered only until its own exp: an expired token is refused even after a success', async () => {
      const user = newUser();
      // At least 2 s to use it on a busy machine (exp is whole seconds), then wait until just past it.
      const exp = Math.ceil(Date.now() / 1000) + 2;
      const token = await jwtFor(user, { exp });
      expect((await f.call('GET', '/v1/me', { token })).body.userId).toBe(user);
      await new Promise((r) => setTimeout(r, exp * 1000 + 100 - Date.now()));
      const refused = await f.call('GET', '/v1/me', { token });
      expect([refused.status, refused.body.error.code]).toEqual([401, 'CK_UNAUTHENTICATED']);
    });

    it('a valid JWT acts for its sub', async () => {
      const user = newUser('auth');
      const reply = await f.call('GET', '/v1/me', { token: await jwtFor(user) });
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({ userId: user, authMethod: 'jwt' });
    });

    it('every bad credential is a 401 with WWW-Authenticate: Bearer, the same body, and no user named', async () => {
      const victim = newUser('victim');
      await f.store().conversations.create(victim, { title: 'victim data' });
      const bodies: unknown[] = [];
      for (const [name, authorization] of await badCredentials(victim)) {
        for (const path of ['/v1/me', '/v1/conversations']) {
          const reply = await get(f, path, authorization);
          expect({
            name,
            path,
            status: reply.status,
            challenge: reply.headers.get('www-authenticate'),
          }).toEqual({
            name,
            path,
            status: 401,
            challenge: 'Bearer',
          });
          expect(reply.body.error.code).toBe('CK_UNAUTHENTICATED');
          expect(JSON.stringify(reply.body)).not.toContain(victim);
          expect(JSON.stringify(reply.body)).not.toContain('victim data');
          const { requestId: _requestId, ...rest } = reply.body.error;
          bodies.push(rest);
        }
      }
      // Identical answers: the response never tells a caller which check failed.
      expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    });

    it('a refused request writes nothing', async () => {
      const victim = newUser('victim');
      const { id } = await f.store().conversations.create(victim);
      for (const [, authorization] of await badCredentials(victim)) {
        const reply = await f.call('POST', `/v1/conversations/${id}/turns`, {
          body: { user: 'injected', assistant: 'x' },
          ...(authorization !== undefined ? { headers: { authorization } } : {}),
        });
        expect(reply.status).toBe(401);
      }
      expect((await f.store().messages.list(victim, id)).messages).toEqual([]);
    });

    it('an API key issued by the admin acts for its user, is listed without its secret, and stops working once revoked', async () => {
      const user = newUser('keyed');
      const issued = await f.call('POST', `/v1/admin/users/${user}/api-keys`, {
        token: ADMIN_TOKEN,
        body: { name: 'ci' },
      });
      expect(issued.status).toBe(201);
      const { apiKey, secret } = issued.body as {
        apiKey: { id: string; prefix: string; userId: string };
        secret: string;
      };
      expect(secret).toMatch(/^ck_[0-9a-f]{8}_/);
      expect(apiKey).toMatchObject({ userId: user, name: 'ci', revokedAt: null });
      expect(secret.startsWith(apiKey.prefix)).toBe(true);

      expect((await f.call('GET', '/v1/me', { token: secret })).body).toEqual({
        userId: user,
        authMethod: 'api-key',
      });
      const created = await f.call('POST', '/v1/conversations', {
        token: secret,
        body: { title: 'via key' },
      });
      expect(created.status).toBe(201);
      expect(created.body.userId).toBe(user);

      const listed = await f.call('GET', '/v1/me/api-keys', { token: secret });
      expect(listed.status).toBe(200);
      expect(listed.body.apiKeys.map((k: { id: string }) => k.id)).toEqual([apiKey.id]);
      expect(JSON.stringify(listed.body)).not.toContain(secret);
      const adminListed = await f.call('GET', `/v1/admin/users/${user}/api-keys`, {
        token: ADMIN_TOKEN,
      });
      expect(adminListed.body.apiKeys.map((k: { id: string }) => k.id)).toEqual([apiKey.id]);
      expect(JSON.stringify(adminListed.body)).not.toContain(secret);

      const revoked = await f.call('DELETE', `/v1/me/api-keys/${apiKey.id}`, { token: secret });
      expect(revoked.status).toBe(200);
      expect(revoked.body.revokedAt).toEqual(expect.any(String));
      const after = await f.call('GET', '/v1/me', { token: secret });
      expect(after.status).toBe(401);
      expect(after.headers.get('www-authenticate')).toBe('Bearer');
      expect(
        (await f.call('GET', '/v1/me/api-keys', { token: await jwtFor(user) })).body.apiKeys[0]
          .revokedAt,
      ).toEqual(expect.any(String));
    });

    it('a user can issue their own key, and the admin can revoke it', async () => {
      const user = newUser('keyed');
      const issued = await f.call('POST', '/v1/me/api-keys', {
        token: await jwtFor(user),
        body: { name: 'laptop' },
      });
      expect(issued.status).toBe(201);
      const { secret, apiKey } = issued.body as { secret: string; apiKey: { id: string } };
      expect((await f.call('GET', '/v1/me', { token: secret })).body).toEqual({
        userId: user,
        authMethod: 'api-key',
      });

      const revoked = await f.call('DELETE', `/v1/admin/users/${user}/api-keys/${apiKey.id}`, {
        token: ADMIN_TOKEN,
      });
      expect(revoked.status).toBe(200);
      expect((await f.call('GET', '/v1/me', { token: secret })).status).toBe(401);
    });

    it('an API key with a changed character does not authenticate', async () => {
      const user = newUser('keyed');
      const { secret } = await f.store().apiKeys.create(user);
      const last = secret.at(-1) === 'A' ? 'B' : 'A';
      expect(
        (await f.call('GET', '/v1/me', { token: `${secret.slice(0, -1)}${last}` })).status,
      ).toBe(401);
      expect((await f.call('GET', '/v1/me', { token: secret })).status).toBe(200);
    });

    it('admin routes refuse user JWTs, user API keys, a wrong admin token and no token', async () => {
      const user = newUser('notadmin');
      const { secret } = await f.store().apiKeys.create(user);
      const wrong = [
        await jwtFor(user),
        secret,
        `${ADMIN_TOKEN}x`,
        ADMIN_TOKEN.slice(0, -1),
        undefined,
      ];
      for (const token of wrong) {
        for (const [method, path] of [
          ['POST', `/v1/admin/users/${user}/api-keys`],
          ['GET', `/v1/admin/users/${user}/api-keys`],
          ['DELETE', `/v1/admin/users/${user}/api-keys/${randomUUID()}`],
          ['DELETE', `/v1/admin/users/${user}`],
          ['POST', '/v1/admin/sweep'],
        ] as const) {
          const reply = await f.call(method, path, token === undefined ? {} : { token });
          expect({
            token,
            method,
            path,
            status: reply.status,
            code: reply.body?.error?.code,
          }).toEqual({
            token,
            method,
            path,
            status: 401,
            code: 'CK_UNAUTHENTICATED',
          });
          expect(reply.headers.get('www-authenticate')).toBe('Bearer');
        }
      }
      // Nothing happened: the user's one key is still there and live.
      expect((await f.store().apiKeys.list(user)).map((k) => k.revokedAt)).toEqual([null]);
      expect((await f.call('GET', '/v1/me', { token: secret })).status).toBe(200);
    });

    // Admin routes authenticate in onRequest, before body and params validation, as user routes
    // do: a caller without the admin token learns nothing about the admin input.
    it(
      'an admin route answers a caller without the admin token 401 before looking at the body',
      async () => {
        const reply = await f.call('POST', `/v1/admin/users/${newUser()}/api-keys`, {
          body: { name: 'n'.repeat(101) },
        });
        expect(reply.status).toBe(401);
      },
    );

    it('/healthz, /readyz and /openapi.json need no token', async () => {
      expect((await f.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
      const ready = await f.call('GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ status: 'ready', database: backend.name });
      expect((await f.call('GET', '/openapi.json')).status).toBe(200);
    });
  });
}

/**
 * A verified API key is remembered for `apiKeyCacheMs`; a revoke or an erase
 * through the same server forgets it at once, so an erased user's key cannot
 * write new data for them in the seconds after the erase.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: remembered API keys are forgotten on revoke and erase`, () => {
    const f = useServer(backend.name, {
      auth: fullAuth(600_000),
    });

    async function rememberedKey(user: string): Promise<{ id: string; secret: string }> {
      const issued = await f.call('POST', `/v1/admin/users/${user}/api-keys`, { token: ADMIN_TOKEN, body: {} });
      const key = { id: issued.body.apiKey.id as string, secret: issued.body.secret as string };
      // Used once: from now on it is remembered for ten minutes.
      expect((await f.call('GET', '/v1/me', { token: key.secret })).status).toBe(200);
      return key;
    }

    it('revoked by its user or by the admin, a remembered key is refused on the next request', async () => {
      const user = newUser('cached');
      const own = await rememberedKey(user);
      expect((await f.call('DELETE', `/v1/me/api-keys/${own.id}`, { token: own.secret })).status).toBe(200);
      expect((await f.call('GET', '/v1/me', { token: own.secret })).status).toBe(401);

      const other = await rememberedKey(user);
      expect((await f.call('DELETE', `/v1/admin/users/${user}/api-keys/${other.id}`, { token: ADMIN_TOKEN })).status).toBe(200);
      expect((await f.call('GET', '/v1/me', { token: other.secret })).status).toBe(401);
    });

    it('after DELETE /v1/me or an admin erase, the erased keys write nothing more for the user', async () => {
      for (const erase of ['self', 'admin'] as const) {
        const user = newUser(`erased-${erase}`);
        const key = await rememberedKey(user);
        const spare = await rememberedKey(user);
        const erased =
          erase === 'self'
            ? await f.call('DELETE', '/v1/me', { token: key.secret })
            : await f.call('DELETE', `/v1/admin/users/${user}`, { token: ADMIN_TOKEN });
        expect(erased.status, erase).toBe(200);
        expect(erased.body.apiKeys, erase).toBe(2);
        for (const secret of [key.secret, spare.secret]) {
          const write = await f.call('POST', '/v1/conversations', { token: secret, body: { title: 'after erase' } });
          expect(write.status, erase).toBe(401);
        }
        expect((await f.store().conversations.list(user)).conversations, erase).toEqual([]);
      }
    });
  });
}

/**
 * A key revoked elsewhere (the CLI, another server process: here the store
 * directly, which this server's cache never hears about) stops working once
 * `apiKeyCacheMs` has passed since this server last looked it up.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: a remembered API key expires after apiKeyCacheMs`,
    () => {
      const CACHE_MS = 300;
      const f = useServer(backend.name, { auth: fullAuth(CACHE_MS) });

      it('revoked through the store, not this server, the key is refused once the cache time has passed', async () => {
        const user = newUser('revoked-elsewhere');
        const { apiKey, secret } = await f.store().apiKeys.create(user, { name: 'cli' });
        expect((await f.call('GET', '/v1/me', { token: secret })).status).toBe(200);
        await f.store().apiKeys.revoke(user, apiKey.id);
        await new Promise((resolve) => setTimeout(resolve, CACHE_MS + 200));
        const refused = await f.call('GET', '/v1/me', { token: secret });
        expect([refused.status, refused.body.error.code]).toEqual([401, 'CK_UNAUTHENTICATED']);
      });
    },
  );
}

/** With an integer users table, a JWT's sub is used in the store's one spelling: `007` acts as user `7`. */
describe('pglite: a JWT sub is used as the store spells the user', () => {
  it('007 is user 7 on /v1/me and in what it writes; a sub that is no integer is refused', async () => {
    const scratch = await scratchDatabase('pglite');
    try {
      await sql`create table public.users (id integer primary key)`.execute(scratch.database.db);
      await sql`insert into public.users values (7)`.execute(scratch.database.db);
      const store = await openStore({ database: scratch.database, users: { table: 'public.users', column: 'id', type: 'integer' } });
      const server = await buildServer(store, {
        auth: { jwtSecret: JWT_SECRET, issuer: ISSUER, audience: AUDIENCE },
        agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent({ delayMs: 0 }) },
        logger: false,
      });
      try {
        const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
        const as = async (sub: string) => ({ authorization: `Bearer ${await jwtFor(sub)}`, 'content-type': 'application/json' });
        const me = await fetch(`${url}/v1/me`, { headers: await as('007') });
        expect(await me.json()).toEqual({ userId: '7', authMethod: 'jwt' });
        const created = await fetch(`${url}/v1/conversations`, { method: 'POST', headers: await as('007'), body: '{}' });
        expect(((await created.json()) as { userId: string }).userId).toBe('7');
        const listed = await fetch(`${url}/v1/conversations`, { headers: await as('7') });
        expect(((await listed.json()) as { conversations: unknown[] }).conversations).toHaveLength(1);
        expect((await fetch(`${url}/v1/me`, { headers: await as('0x7') })).status).toBe(401);
      } finally {
        await server.close();
        await store.close();
      }
    } finally {
      await scratch.drop();
    }
  });
});
