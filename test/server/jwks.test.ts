import { generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent, openStore, type Store } from '../../src/index.js';
import { buildServer, type ChatkeepServer } from '../../src/server/index.js';
import { idpToken, startLocalIdp, type LocalIdp } from '../support/jwks-idp.js';

/** A server on a fresh store whose JWTs are checked against `idp`'s JWKS. */
async function serveWithIdp(idp: LocalIdp, extra: { authFailureLimit?: { max: number; windowMs: number } } = {}) {
  const store: Store = await openStore({ dataDir: 'memory://' });
  const server: ChatkeepServer = await buildServer(store, {
    auth: { jwksUrl: idp.jwksUrl, issuer: 'https://idp.test', audience: 'chat' },
    agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent() },
    logger: false,
    ...extra,
  });
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const me = async (bearer: string) => {
    const response = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${bearer}` } });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as any };
  };
  return {
    me,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

/**
 * JWTs from an identity provider that publishes its keys as a JWKS (RS256
 * here): served by a real local HTTP server, fetched by the chatkeep server.
 */
describe('auth with a JWKS URL', () => {
  let idp: LocalIdp;
  let served: Awaited<ReturnType<typeof serveWithIdp>>;
  let stranger: CryptoKey;

  beforeAll(async () => {
    idp = await startLocalIdp();
    stranger = (await generateKeyPair('RS256')).privateKey;
    served = await serveWithIdp(idp);
  });
  afterAll(async () => {
    await served.close();
    await idp.close();
  });

  it('a token signed by the published key acts for its sub', async () => {
    const reply = await served.me(await idpToken(idp.signer));
    expect([reply.status, reply.body]).toEqual([200, { userId: 'idp-user-1', authMethod: 'jwt' }]);
    expect(idp.fetches()).toBeGreaterThanOrEqual(1);
  });

  it('a token signed by another key, for another issuer or audience, or without sub is refused', async () => {
    for (const bad of [
      await idpToken(stranger),
      await idpToken(stranger, { kid: 'unknown-kid' }),
      await idpToken(idp.signer, { iss: 'https://evil.test' }),
      await idpToken(idp.signer, { aud: 'someone-else' }),
      await idpToken(idp.signer, { sub: '' }),
    ]) {
      const reply = await served.me(bad);
      expect([reply.status, reply.body.error.code]).toEqual([401, 'CK_UNAUTHENTICATED']);
    }
  });
});

/**
 * A valid JWT while the identity provider's JWKS cannot be fetched. The
 * server cannot check it right now, as when the database cannot look up an
 * API key: a 503 that counts no failure. Answered 401 (as it once was), each
 * such request counted as a failed authentication of the client's address,
 * so a short IdP outage locked every client out with 429 for the rest of the
 * window, after the IdP was back and with tokens that verify.
 */
describe('auth with a JWKS URL that cannot be fetched for a moment', () => {
  let idp: LocalIdp;
  let served: Awaited<ReturnType<typeof serveWithIdp>>;

  beforeAll(async () => {
    idp = await startLocalIdp();
    idp.setUp(false);
    served = await serveWithIdp(idp, { authFailureLimit: { max: 3, windowMs: 60_000 } });
  });
  afterAll(async () => {
    await served.close();
    await idp.close();
  });

  it('is a 503 CK_AUTH_UNAVAILABLE with Retry-After while the keys cannot be fetched, and the address is not refused once the IdP is back', async () => {
    for (let i = 0; i < 3; i++) {
      const reply = await served.me(await idpToken(idp.signer));
      expect([reply.status, reply.body.error.code, reply.retryAfter]).toEqual([503, 'CK_AUTH_UNAVAILABLE', expect.stringMatching(/^\d+$/)]);
    }
    idp.setUp(true);
    expect((await served.me(await idpToken(idp.signer))).status).toBe(200);
  });
});
