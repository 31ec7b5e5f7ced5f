import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * `ttl` is the ms left in the hit's window, so never more than `windowMs`.
 * A hit that queued on the key's row while another hit opened the next
 * window was measured from its own statement's start (`now()`), which lies
 * before that window began: on PostgreSQL 300 concurrent hits of a 15 ms
 * window reported ttls up to 33 ms, i.e. a Retry-After longer than a window.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: rate-limit ttl`, () => {
    const fixture = useStore(backend.name);

    it('no hit reports more ms left than its window has, also under 300 concurrent hits across window changes', async () => {
      const store = fixture.get();
      const key = `user:${newUser()}`;
      const hits = await Promise.all(Array.from({ length: 300 }, () => store.rateLimits.hit(key, 15)));
      expect(Math.max(...hits.map((h) => h.ttl))).toBeLessThanOrEqual(15);
      expect(Math.min(...hits.map((h) => h.ttl))).toBeGreaterThanOrEqual(0);
    });
  });
}
