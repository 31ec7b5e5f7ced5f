import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent, openStore, type Store } from '../../src/index.js';
import { buildServer, type ChatkeepServer } from '../../src/server/index.js';

/**
 * A valid JWT while the identity provider's JWKS cannot be fetched. The
 * token is none of what docs/http.md lists for a 401 (missing, malformed,
 * expired, forged, revoked, wrong audience); the server simply cannot check
 * it right now, as when the database cannot look up an API key, which is a
 * 503 and counts no failure. Answered 401, each such request is also counted
 * as a failed authentication of the client's address ("every 401 … counts"),
 * so a short IdP outage locks every client out with 429 for the rest of the
 * window, after the IdP is back and with tokens that verify.
 */
describe('auth with a JWKS URL that cannot be fetched for a moment', () => {
  let jwks: Server;
  let store: Store;
  let server: ChatkeepServer;
  let url = '';
  let signer: CryptoKey;
  let idpUp = false;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    signer = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      if (!idpUp) res.writeHead(503).end('down for maintenance');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const port = (jwks.address() as { port: number }).port;
    store = await openStore({ dataDir: 'memory://' });
    server = await buildServer(store, {
      auth: { jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`, issuer: 'https://idp.test', audience: 'chat' },
      agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent() },
      authFailureLimit: { max: 3, windowMs: 60_000 },
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

  const token = () =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'key-1' })
      .setSubject('idp-user-1')
      .setIssuer('https://idp.test')
      .setAudience('chat')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signer);
  const me = async () => {
    const response = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${await token()}` } });
    return { status: response.status, retryAfter: response.headers.get('retry-after') };
  };

  it('is a 503 with Retry-After while the keys cannot be fetched, not a 401, and the address is not refused once the IdP is back', async () => {
    const during = [await me(), await me(), await me()];
    for (const reply of during) {
      expect(reply.status).toBe(503);
      expect(reply.retryAfter).toMatch(/^\d+$/);
    }
    idpUp = true;
    expect((await me()).status).toBe(200);
  });
});
