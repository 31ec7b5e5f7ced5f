import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { ADMIN_TOKEN, jwtFor, useServer } from '../support/server-fixture.js';

/**
 * An erase leaves nothing of the user in the database (SPEC R-CHAT-5) — also
 * not the rate-limit window counted under the user's id. With
 * `rateLimit: { scope: 'database' }` every request of a user is counted in
 * `rate_limit_windows` under SHA-256(`user:<id>`): a plain hash of the id,
 * so whoever can read the table confirms a guessed id (an e-mail address)
 * in one hash, and learns how many requests that user sent, after the
 * user was erased (the row lived on until its window ended and a sweep
 * pruned it: up to a day with a day-long window).
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: an erase removes the user's rate-limit window`, () => {
    const fixture = useServer(backend.name, { rateLimit: { max: 1000, windowMs: 3_600_000, scope: 'database' } });
    const windowsOf = async (userId: string) => {
      const hash = createHash('sha256').update(`user:${userId}`).digest('hex');
      const result = await sql<{ hits: number }>`select hits from chatkeep.rate_limit_windows where key_hash = ${hash}`.execute(fixture.scratch().database.db);
      return result.rows;
    };

    it('DELETE /v1/me leaves no window counted under the erased user', async () => {
      const userId = `erase-me-${Math.random().toString(36).slice(2)}@example.com`;
      const token = await jwtFor(userId);
      await fixture.call('POST', '/v1/conversations', { token, body: { title: 'private' } });
      await fixture.call('GET', '/v1/conversations', { token });
      expect((await windowsOf(userId)).length).toBe(1);

      const erased = await fixture.call('DELETE', '/v1/me', { token });
      expect(erased.status).toBe(200);
      expect(await windowsOf(userId)).toEqual([]);
    });

    it("the admin erase (DELETE /v1/admin/users/:userId) does too, and leaves other users' windows", async () => {
      const userId = `erase-admin-${Math.random().toString(36).slice(2)}@example.com`;
      const other = `keep-${Math.random().toString(36).slice(2)}@example.com`;
      await fixture.call('GET', '/v1/conversations', { token: await jwtFor(userId) });
      await fixture.call('GET', '/v1/conversations', { token: await jwtFor(other) });

      const erased = await fixture.call('DELETE', `/v1/admin/users/${encodeURIComponent(userId)}`, { token: ADMIN_TOKEN });
      expect(erased.status).toBe(200);
      expect(await windowsOf(userId)).toEqual([]);
      expect(await windowsOf(other)).toEqual([{ hits: 1 }]);
    });
  });
}
