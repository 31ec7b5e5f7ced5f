import { timingSafeEqual, createHash } from 'node:crypto';
import { ChatkeepError } from '../../errors/index.js';
import type { Store } from '../../store/index.js';
import { rulesFor } from '../../store/validation.js';
import { SERVER_DEFAULTS, type AuthOptions } from '../server-options.js';
import { jwtVerifier } from './jwt-verifier.js';
import type { Principal, UnusableToken } from './principal.js';

/** Resolves bearer tokens: users (JWT or API key) and the admin credential. */
export interface Authenticator {
  user(token: string): Promise<Principal | UnusableToken | undefined>;
  admin(token: string): boolean;
  /**
   * Drops what this process remembers of `userId`'s API keys, so a key
   * revoked or erased through this server stops working at once rather than
   * after `apiKeyCacheMs` (other processes of a cluster still wait that long).
   */
  forget(userId: string): void;
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
  const cache = new Map<string, { userId: string; checkedAt: number; until: number }>();
  // userId → when its keys were last forgotten: a lookup that started before
  // then (and may have read a key the erase or revoke then deleted) is not trusted.
  const forgotten = new Map<string, number>();
  // The auth hook reads a bearer token as one run of non-blank characters
  // (RFC 6750 token68), so an admin token with white space in it (a trailing
  // newline from a secret file) or none at all could never be sent: the admin
  // routes answered 401 to every request, counted as failed authentications.
  if (options.adminToken !== undefined && !/^\S+$/.test(options.adminToken)) {
    throw new ChatkeepError('CK_CONFIG', 'adminToken: must be one or more characters with no white space (it is sent as "Authorization: Bearer <token>")', { field: 'adminToken' });
  }
  const adminDigest = options.adminToken === undefined ? undefined : digest(options.adminToken);
  const userIdRule = rulesFor(store.settings).userId;
  // The id in the one spelling the store uses (`7` for `007` with an integer users table), or undefined.
  const canonical = (id: string) => {
    const parsed = userIdRule.safeParse(id);
    return parsed.success ? parsed.data : undefined;
  };
  const stale = (userId: string, checkedAt: number) => (forgotten.get(userId) ?? -Infinity) >= checkedAt;
  return {
    modes: verifyJwt === undefined ? ['api-key'] : ['jwt', 'api-key'],
    async user(token) {
      if (token.startsWith('ck_')) {
        const hit = cache.get(token);
        if (hit !== undefined && hit.until > Date.now() && !stale(hit.userId, hit.checkedAt)) return { userId: hit.userId, method: 'api-key' };
        const checkedAt = performance.now();
        const userId = await store.apiKeys.authenticate(token);
        if (userId === undefined) {
          cache.delete(token);
          return undefined;
        }
        if (cacheMs > 0 && !stale(userId, checkedAt)) {
          if (cache.size > 10_000) cache.clear();
          cache.set(token, { userId, checkedAt, until: Date.now() + cacheMs });
        }
        return { userId, method: 'api-key' };
      }
      if (verifyJwt === undefined) return undefined;
      const sub = await verifyJwt(token);
      if (sub === undefined) return undefined;
      // A signed token whose sub is no user id this store accepts acts for nobody: refused like any bad
      // token, rather than a 400 on every route but /v1/me, which would answer for it.
      const userId = canonical(sub);
      if (userId === undefined) {
        return { unusable: `its sub is not a valid user id (${userIdRule.safeParse(sub).error?.issues[0]?.message ?? 'invalid'})` };
      }
      return { userId, method: 'jwt' };
    },
    forget(userId) {
      const id = canonical(userId) ?? userId;
      const now = performance.now();
      forgotten.set(id, now);
      for (const [token, entry] of cache) if (entry.userId === id) cache.delete(token);
      // Only lookups still in flight can be older than a forget; once a lookup takes longer than this, it is no longer guarded.
      for (const [user, at] of forgotten) if (at < now - 60_000) forgotten.delete(user);
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
