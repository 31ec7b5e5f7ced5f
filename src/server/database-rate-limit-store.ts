import type { RateLimits } from '../store/index.js';

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * A store for @fastify/rate-limit that counts in the database
 * (`store.rateLimits`, migration 0008): `rateLimit: { scope: 'database' }`,
 * i.e. `chatkeep serve --rate-limit-scope database`. Every server on the
 * database shares one count per user, so machines behind a load balancer
 * limit a user like one process does. One statement per request. A count
 * that fails (the database is unreachable) fails the request with the
 * store's error, which is 503 like any other call that needs the database.
 */
export function databaseRateLimitStore(rateLimits: RateLimits) {
  return class DatabaseRateLimitStore {
    incr(key: string, callback: Callback, timeWindow: number): void {
      rateLimits.hit(key, timeWindow).then(
        (hit) => callback(null, { current: hit.current, ttl: hit.ttl }),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    }

    child(): DatabaseRateLimitStore {
      return new DatabaseRateLimitStore();
    }
  };
}
