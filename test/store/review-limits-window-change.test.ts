import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { newUser, useStore } from '../support/store-fixture.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A key's window ends `windowMs` after it began, with the `windowMs` of the
 * hit being counted — as in @fastify/rate-limit's in-memory store, which the
 * class comment promises to count like (`iterationStartMs + timeWindow <=
 * now`). The end used to be fixed by the first hit's `windowMs`, so after an
 * operator shortened the window (a day-long window locking users out,
 * changed to a minute and restarted), the database scope kept counting the
 * day-long window: users stayed locked out for up to a day, and `prune`
 * could not end it.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a rate-limit window follows the windowMs it is counted with`, () => {
    const fixture = useStore(backend.name);

    it('a window opened with a long windowMs has ended for a hit with a shorter one that has passed', async () => {
      const store = fixture.get();
      const key = `user:${newUser()}`;
      expect((await store.rateLimits.hit(key, 86_400_000)).current).toBe(1);
      expect((await store.rateLimits.hit(key, 86_400_000)).current).toBe(2);
      await sleep(120);
      const next = await store.rateLimits.hit(key, 100);
      expect(next.current).toBe(1);
      expect(next.ttl).toBeLessThanOrEqual(100);
      // The window now opened is a 100 ms one: prune ends it after that, not after a day.
      await sleep(120);
      expect(await store.rateLimits.prune()).toBeGreaterThanOrEqual(1);
    });

    it('a longer windowMs extends the open window from when it began', async () => {
      const store = fixture.get();
      const key = `user:${newUser()}`;
      await store.rateLimits.hit(key, 200);
      const next = await store.rateLimits.hit(key, 60_000);
      expect(next.current).toBe(2);
      expect(next.ttl).toBeGreaterThan(59_000);
      expect(next.ttl).toBeLessThanOrEqual(60_000);
      await sleep(250);
      expect((await store.rateLimits.hit(key, 60_000)).current).toBe(3);
    });
  });
}
