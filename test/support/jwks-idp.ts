import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

/** A local identity provider publishing one RS256 key (`kid` key-1) as a JWKS, for the server to fetch. */
export interface LocalIdp {
  /** The JWKS URL to configure as `auth.jwksUrl`. */
  readonly jwksUrl: string;
  /** The private key behind the published one. */
  readonly signer: CryptoKey;
  /** How many times the JWKS was fetched. */
  fetches(): number;
  /** While down, the JWKS answers 503. */
  setUp(up: boolean): void;
  close(): Promise<void>;
}

export async function startLocalIdp(): Promise<LocalIdp> {
  const pair = await generateKeyPair('RS256');
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  let fetches = 0;
  let up = true;
  const server: Server = createServer((_req, res) => {
    fetches++;
    if (!up) res.writeHead(503).end('down for maintenance');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    signer: pair.privateKey,
    fetches: () => fetches,
    setUp: (value) => (up = value),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** An RS256 token for issuer https://idp.test and audience chat, valid 5 minutes; `sub: ''` leaves sub out. */
export function idpToken(key: CryptoKey, claims: { sub?: string; iss?: string; aud?: string; kid?: string } = {}): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: claims.kid ?? 'key-1' }).setIssuedAt().setExpirationTime('5m');
  jwt = jwt.setIssuer(claims.iss ?? 'https://idp.test').setAudience(claims.aud ?? 'chat');
  if (claims.sub !== '') jwt = jwt.setSubject(claims.sub ?? 'idp-user-1');
  return jwt.sign(key);
}
