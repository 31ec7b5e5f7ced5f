import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent, openStore, type Store } from '../../src/index.js';
import { buildServer, type ChatkeepServer } from '../../src/server/index.js';

/**
 * JWTs from an identity provider that publishes its keys as a JWKS (RS256
 * here): served by a real local HTTP server, fetched by the chatkeep server.
 */
describe('auth with a JWKS URL', () => {
  let jwks: Server;
  let store: Store;
  let server: ChatkeepServer;
  let url = '';
  let signer: CryptoKey;
  let stranger: CryptoKey;
  let fetches = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    signer = pair.privateKey;
    stranger = (await generateKeyPair('RS256')).privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const port = (jwks.address() as { port: number }).port;
    store = await openStore({ dataDir: 'memory://' });
    server = await buildServer(store, {
      auth: { jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`, issuer: 'https://idp.test', audience: 'chat' },
      agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent() },
      logger: false,
    });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await store.close();
    jwks.closeAllConnections();
    await new Promise((resolve) => jwks.close(resolve));
  });

  const token = (key: CryptoKey, claims: { sub?: string; iss?: string; aud?: string; kid?: string } = {}) => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: claims.kid ?? 'key-1' }).setIssuedAt().setExpirationTime('5m');
    jwt = jwt.setIssuer(claims.iss ?? 'https://idp.test').setAudience(claims.aud ?? 'chat');
    if (claims.sub !== '') jwt = jwt.setSubject(claims.sub ?? 'idp-user-1');
    return jwt.sign(key);
  };
  const me = async (bearer: string) => {
    const response = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${bearer}` } });
    return { status: response.status, body: (await response.json()) as any };
  };

  it('a token signed by the published key acts for its sub', async () => {
    expect(await me(await token(signer))).toEqual({ status: 200, body: { userId: 'idp-user-1', authMethod: 'jwt' } });
    expect(fetches).toBeGreaterThanOrEqual(1);
  });

  it('a token signed by another key, for another issuer or audience, or without sub is refused', async () => {
    for (const bad of [
      await token(stranger),
      await token(stranger, { kid: 'unknown-kid' }),
      await token(signer, { iss: 'https://evil.test' }),
      await token(signer, { aud: 'someone-else' }),
      await token(signer, { sub: '' }),
    ]) {
      const reply = await me(bad);
      expect([reply.status, reply.body.error.code]).toEqual([401, 'CK_UNAUTHENTICATED']);
    }
  });
});
