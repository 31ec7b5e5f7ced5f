import type { Store } from '../store/index.js';
import { rulesFor } from '../store/validation.js';

/** The key a user's requests are counted under (@fastify/rate-limit's `keyGenerator`), for the store's spelling of the id. */
export function userRateLimitKey(userId: string): string {
  return `user:${userId}`;
}

/**
 * Deletes the rate-limit window counted under an erased user. With
 * `rateLimit.scope: 'database'` it is a row of `rate_limit_windows` keyed by
 * a plain SHA-256 of `user:<id>`: one hash confirms a guessed id (an e-mail
 * address) and shows how much the user sent, so it goes with the erase
 * rather than when its window ends (up to a day). Deleted whatever the
 * scope: a row left by an earlier run that counted in the database goes too.
 * Test: test/server/review-privacy-erase-rate-limit.test.ts.
 */
export async function forgetUserRateLimit(store: Store, userId: string): Promise<void> {
  // The id as the auth hook spells it (`7` for `007`, lower-case for a uuid), which is what was counted.
  const canonical = rulesFor(store.settings).userId.safeParse(userId);
  if (canonical.success) await store.rateLimits.forget(userRateLimitKey(canonical.data));
}
