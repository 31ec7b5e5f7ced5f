import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * store.rateLimits (migration 0008): fixed-window request counts in the
 * database, so every server on it shares one limit per user
 * (`chatkeep serve --rate-limit-scope database`).
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: rate-limit windows in the database`, () => {
    const fixture = useStore(backend.name);
    const rows = async () =>
      (await sql<{ key_hash: string; hits: number }>`select key_hash, hits from chatkeep.rate_limit_windows order by key_hash`.execute(fixture.scratch().database.db)).rows;

    it('counts hits per key within a window, and starts a new window once it ends', async () => {
      const store = fixture.get();
      const key = `user:${newUser('window')}`;
      // The three hits must land in one window: 1.5 s leaves room for a busy machine's slow statements.
      const first = await store.rateLimits.hit(key, 1500);
      expect(first.current).toBe(1);
      expect(first.ttl).toBeGreaterThan(0);
      expect(first.ttl).toBeLessThanOrEqual(1500);
      expect((await store.rateLimits.hit(key, 1500)).current).toBe(2);
      const third = await store.rateLimits.hit(key, 1500);
      expect(third.current).toBe(3);
      expect(third.ttl).toBeLessThanOrEqual(first.ttl);
      // Another key has its own count.
      expect((await store.rateLimits.hit(`${key}-other`, 1500)).current).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1550));
      const next = await store.rateLimits.hit(key, 1500);
      expect(next.current).toBe(1);
      expect(next.ttl).toBeGreaterThan(1000);
    });

    it('is exact under 50 concurrent hits of one key: each gets its own count, 1 to 50', async () => {
      const store = fixture.get();
      const key = `user:${newUser('burst')}`;
      const hits = await Promise.all(Array.from({ length: 50 }, () => store.rateLimits.hit(key, 60_000)));
      expect(hits.map((h) => h.current).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    });

    it('stores no key, only its SHA-256 hash', async () => {
      const store = fixture.get();
      const key = `user:${newUser('private')}`;
      await store.rateLimits.hit(key, 60_000);
      const hash = createHash('sha256').update(key).digest('hex');
      expect((await rows()).find((r) => r.key_hash === hash)?.hits).toBe(1);
      const { rows: leaked } = await sql<{ n: number }>`select count(*)::int as n from chatkeep.rate_limit_windows where key_hash like ${`%${key}%`}`.execute(fixture.scratch().database.db);
      expect(leaked[0]!.n).toBe(0);
    });

    it('prune deletes the windows that have ended and keeps the open ones', async () => {
      const store = fixture.get();
      const ended = `ip:${newUser('ended')}`;
      const open = `ip:${newUser('open')}`;
      await store.rateLimits.hit(ended, 50);
      await store.rateLimits.hit(open, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(await store.rateLimits.prune()).toBeGreaterThanOrEqual(1);
      const hashes = (await rows()).map((r) => r.key_hash);
      expect(hashes).not.toContain(createHash('sha256').update(ended).digest('hex'));
      expect(hashes).toContain(createHash('sha256').update(open).digest('hex'));
      expect((await store.rateLimits.hit(open, 60_000)).current).toBe(2);
    });

    it('rejects a bad key or window naming the field, and writes nothing', async () => {
      const store = fixture.get();
      const before = await rows();
      for (const [key, windowMs, field] of [
        ['', 1000, 'key'],
        ['x'.repeat(1001), 1000, 'key'],
        [42, 1000, 'key'],
        ['user:a', 0, 'windowMs'],
        ['user:a', 1.5, 'windowMs'],
        ['user:a', 86_400_001, 'windowMs'],
        ['user:a', Number.NaN, 'windowMs'],
      ] as const) {
        const error = await caught(() => store.rateLimits.hit(key as string, windowMs));
        expect(error.code, `${String(key).slice(0, 10)} / ${windowMs}`).toBe('CK_VALIDATION');
        expect(error.details?.['field']).toBe(field);
      }
      expect(await rows()).toEqual(before);
    });

    it('the database refuses a row the store would not write', async () => {
      const db = fixture.scratch().database.db;
      for (const values of [
        sql`('not-a-hash', 1, now(), now() + interval '1 minute')`,
        sql`(${'a'.repeat(64)}, 0, now(), now() + interval '1 minute')`,
        sql`(${'b'.repeat(64)}, 1, now(), now() - interval '1 minute')`,
      ]) {
        const error = await caught(() => sql`insert into chatkeep.rate_limit_windows (key_hash, hits, started_at, ends_at) values ${values}`.execute(db));
        expect(error.message).toMatch(/rate_limit_windows_(key_hash|hits|window)_check/);
      }
    });
  });
}
