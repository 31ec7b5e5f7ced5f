import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { withLockRetry } from '../../src/migrate/lock-retry.js';
import { sqlState } from '../../src/errors/index.js';
import { BACKENDS, useScratchDatabase } from '../support/backends.js';

/**
 * withLockRetry (src/migrate/lock-retry.ts): DDL that gave up on its lock
 * (`lock_timeout`, SQLSTATE 55P03) is tried again `retries` times, after a
 * backoff that starts at `baseDelayMs` and doubles, with ±50 % jitter; any
 * other error is thrown at once. The errors here are the database's own,
 * raised with those SQLSTATEs; test/migrate/phased.test.ts shows a real
 * lock_timeout being retried.
 */
const failWith = (db: Kysely<any>, errcode: string) =>
  sql.raw(`do $$ begin raise exception 'refused' using errcode = '${errcode}'; end $$`).execute(db);

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: retrying DDL that could not get its lock`, () => {
    let db: Kysely<any>;
    useScratchDatabase(backend.name, (s) => (db = s.database.db));

    it('tries `retries` more times after the first, numbering the retries from 1, then throws the last lock_timeout', async () => {
      let attempts = 0;
      const retries: { attempt: number; delayMs: number }[] = [];
      const error = await withLockRetry(
        async () => {
          attempts++;
          await failWith(db, 'lock_not_available');
        },
        {
          retries: 5,
          baseDelayMs: 10,
          onRetry: (attempt, delayMs) => retries.push({ attempt, delayMs }),
        },
      ).catch((e: unknown) => e);
      expect(sqlState(error)).toBe('55P03');
      expect(attempts).toBe(6);
      expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3, 4, 5]);
      // Retry n waits 10 ms · 2^(n−1), give or take half of it.
      for (const { attempt, delayMs } of retries) {
        const nominal = 10 * 2 ** (attempt - 1);
        expect(delayMs, `retry ${attempt}`).toBeGreaterThanOrEqual(Math.floor(nominal / 2));
        expect(delayMs, `retry ${attempt}`).toBeLessThanOrEqual(Math.ceil(nominal * 1.5));
      }
    });

    it('returns what the work returns once the lock is had, and retries nothing else', async () => {
      let attempts = 0;
      const result = await withLockRetry(
        async () => {
          attempts++;
          if (attempts < 3) await failWith(db, 'lock_not_available');
          return 'done';
        },
        { baseDelayMs: 1 },
      );
      expect([result, attempts]).toEqual(['done', 3]);

      for (const errcode of ['deadlock_detected', 'query_canceled', 'undefined_table']) {
        let tries = 0;
        const retried: number[] = [];
        const error = await withLockRetry(
          async () => {
            tries++;
            await failWith(db, errcode);
          },
          { baseDelayMs: 1, onRetry: (attempt) => retried.push(attempt) },
        ).catch((e: unknown) => e);
        expect(sqlState(error), errcode).not.toBe('55P03');
        expect([tries, retried], errcode).toEqual([1, []]);
      }
    });
  });
}
