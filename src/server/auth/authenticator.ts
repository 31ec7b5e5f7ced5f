import { timingSafeEqual, createHash } from 'node:crypto';
import type { Store } from '../../store/index.js';
import { rulesFor } from '../../store/validation.js';
import { SERVER_DEFAULTS, type AuthOptions } from '../server-options.js';
import { jwtVerifier } from './jwt-verifier.js';
import type { Principal } from './principal.js';

/** Resolves bearer tokens: users (JWT or API key) and the admin credential. */
export interface Authenticator {
  user(token: string): Promise<Principal | undefined>;
  admin(token: string): boolean;
  /** Which user-token modes are on, for the startup banner and /readyz. */
  readonly modes: readonly ('jwt' | 'api-key')[];
}

/**
 * API keys (`ck_…`) are looked up in the store, with a short positive cache
 * so a busy client costs one lookup per `apiKeyCacheMs`, not one per request;
 * a revoked key therefore stops working within that time (documented). Any
 * other token is tried as a JWT when a JWT mode is configured.
 */
export function createAuthenticator(store: Store, options: AuthOptions): Authenticator {
  const verifyJwt = jwtVerifier(options);
  const cacheMs = options.apiKeyCacheMs ?? SERVER_DEFAULTS.apiKeyCacheMs;
  const cache = new Map<string, { userId: string; until: number }>();
  const adminDigest = options.adminToken === undefined ? undefined : digest(options.adminToken);
  const userIdRule = rulesFor(store.settings).userId;
  const validUserId = (id: string) => userIdRule.safeParse(id).success;
  return {
    modes: verifyJwt === undefined ? ['api-key'] : ['jwt', 'api-key'],
    async user(token) {
      if (token.startsWith('ck_')) {
        const hit = cache.get(token);
        if (hit !== undefined && hit.until > Date.now()) return { userId: hit.userId, method: 'api-key' };
        const userId = await store.apiKeys.authenticate(token);
        if (userId === undefined) {
          cache.delete(token);
          return undefined;
        }
        if (cacheMs > 0) {
          if (cache.size > 10_000) cache.clear();
          cache.set(token, { userId, until: Date.now() + cacheMs });
        }
        return { userId, method: 'api-key' };
      }
      if (verifyJwt === undefined) return undefined;
      const sub = await verifyJwt(token);
      // A signed token whose sub is no user id this store accepts acts for nobody: refused like any bad
      // token, rather than a 400 on every route but /v1/me, which would answer for it.
      return sub === undefined || !validUserId(sub) ? undefined : { userId: sub, method: 'jwt' };
    },
    admin(token) {
      // Compare digests in constant time so response timing reveals nothing about the admin token.
      return adminDigest !== undefined && timingSafeEqual(digest(token), adminDigest);
    },
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
