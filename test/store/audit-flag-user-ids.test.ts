import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/index.js';
import { BACKENDS, scratchDatabase } from '../support/backends.js';

/**
 * A user id is one user however it is spelled: with a host users table of
 * integer or uuid ids, `007` and `7` (or an upper-case UUID and its
 * lower-case form) are the same row to the database, so they must be the
 * same user to the flags too — the same rollout bucket and the same
 * override, cached or not.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: flag evaluation with integer and uuid user ids`, () => {
    for (const type of ['integer', 'uuid'] as const) {
      it(`${type} ids: every spelling of a user gets the same answer, and the override they were given`, async () => {
        const scratch = await scratchDatabase(backend.name);
        try {
          const db = scratch.database.db;
          const ids =
            type === 'integer'
              ? Array.from({ length: 40 }, (_, i) => ({ canonical: String(i + 1), other: `00${i + 1}` }))
              : Array.from({ length: 40 }, (_, i) => {
                  const canonical = `0000000${i.toString(16)}-aaaa-4bbb-8ccc-${'d'.repeat(12)}`.slice(-36).padStart(36, '0');
                  return { canonical, other: canonical.toUpperCase() };
                });
          await sql`create table public.users (id ${sql.raw(type)} primary key)`.execute(db);
          for (const { canonical } of ids) await sql`insert into public.users values (${canonical}::${sql.raw(type)})`.execute(db);
          for (const ttlMs of [1000, 0]) {
            const store = await openStore({ database: scratch.database, users: { table: 'public.users', column: 'id', type }, flagCache: { ttlMs } });
            try {
              await store.flags.define('half', { enabled: true, rolloutPercent: 50 });
              await store.flags.define('testers', { enabled: true, rolloutPercent: 0 });
              await store.flags.setOverride(ids[0]!.other, 'testers', true);
              for (const { canonical, other } of ids) {
                expect([ttlMs, other, await store.flags.isEnabled(other, 'half')]).toEqual([ttlMs, other, await store.flags.isEnabled(canonical, 'half')]);
              }
              expect(await store.flags.isEnabled(ids[0]!.canonical, 'testers')).toBe(true);
              expect(await store.flags.isEnabled(ids[0]!.other, 'testers')).toBe(true);
              expect(await store.flags.evaluate(ids[0]!.other)).toMatchObject({ testers: true });
              expect(await store.flags.clearOverride(ids[0]!.canonical, 'testers')).toBe(true);
            } finally {
              await store.close();
            }
          }
        } finally {
          await scratch.drop();
        }
      });
    }
  });
}
