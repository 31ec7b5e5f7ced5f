import { SignJWT } from 'jose';
import { afterAll, beforeAll } from 'vitest';
import { demoAgent, demoStreamingAgent, type Store } from '../../src/index.js';
import { buildServer, type ChatkeepServer, type ServerOptions } from '../../src/server/index.js';
import type { BackendName, ScratchDatabase } from './backends.js';
import { useStore } from './store-fixture.js';

export const JWT_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';
export const ADMIN_TOKEN = 'admin-token-for-tests';
/** What the tests' JWTs are checked against (see {@link jwtFor}). */
export const TEST_JWT_AUTH = { jwtSecret: JWT_SECRET, issuer: 'https://auth.example.test', audience: 'chatkeep-tests' } as const;

/** A signed HS256 JWT for `sub`, valid for an hour unless `claims` say otherwise. */
export async function jwtFor(sub: string, claims: { exp?: number | string; aud?: string; iss?: string; secret?: string } = {}): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(claims.exp ?? '1h');
  jwt = jwt.setAudience(claims.aud ?? 'chatkeep-tests').setIssuer(claims.iss ?? 'https://auth.example.test');
  return jwt.sign(new TextEncoder().encode(claims.secret ?? JWT_SECRET));
}

export interface ServerFixture {
  readonly store: () => Store;
  /** The database under the store, for tests that reach past the API. */
  readonly scratch: () => ScratchDatabase;
  readonly server: () => ChatkeepServer;
  /** `http://127.0.0.1:<port>` of the listening server. */
  readonly url: () => string;
  /** fetch against the server with `Authorization: Bearer <token>` (when given) and JSON bodies. */
  call(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; body: any }>;
}

/** A real listening chatkeep server on a fresh database of `backend`, for the suite. */
export function useServer(backend: BackendName, overrides: Partial<ServerOptions> = {}): ServerFixture {
  const storeFixture = useStore(backend);
  let server: ChatkeepServer | undefined;
  let url = '';
  beforeAll(async () => {
    server = await buildServer(storeFixture.get(), {
      auth: { ...TEST_JWT_AUTH, adminToken: ADMIN_TOKEN },
      agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent({ delayMs: 5 }) },
      logger: false,
      ...overrides,
    });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
  });
  return {
    store: storeFixture.get,
    scratch: storeFixture.scratch,
    server: () => server!,
    url: () => url,
    async call(method, path, options = {}) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
        ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON (e.g. an event stream): keep the text
      }
      return { status: response.status, headers: response.headers, body };
    },
  };
}
