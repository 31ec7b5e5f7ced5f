import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MAX_ACTIVE_API_KEYS } from '../../src/store/api-keys.js';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/** API keys: issued once, stored hashed, revocable, scoped to their user. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: API keys`, () => {
    const fixture = useStore(backend.name);

    it('a new key authenticates as its user until revoked; the secret is never stored', async () => {
      const store = fixture.get();
      const user = newUser();
      const { apiKey, secret } = await store.apiKeys.create(user, { name: 'laptop' });
      expect(secret.startsWith(`${apiKey.prefix}_`)).toBe(true);
      expect(await store.apiKeys.authenticate(secret)).toBe(user);
      const { rows } = await sql<{ row: string }>`select row_to_json(k)::text as row from chatkeep.api_keys k`.execute(
        fixture.scratch().database.db,
      );
      const secretPart = secret.slice(apiKey.prefix.length + 1);
      expect(rows.length).toBeGreaterThan(0);
      for (const { row } of rows) expect(row).not.toContain(secretPart);
      const revoked = await store.apiKeys.revoke(user, apiKey.id);
      expect(revoked.revokedAt).toBeInstanceOf(Date);
      expect(await store.apiKeys.authenticate(secret)).toBeUndefined();
    });

    it('authenticating records when the key was last used, at most one write a minute', async () => {
      const store = fixture.get();
      const user = newUser();
      const { apiKey, secret } = await store.apiKeys.create(user);
      expect(apiKey.lastUsedAt).toBeNull();
      const lastUsed = async () => (await store.apiKeys.list(user))[0]?.lastUsedAt;

      expect(await store.apiKeys.authenticate(secret)).toBe(user);
      const first = await lastUsed();
      expect(first).toBeInstanceOf(Date);
      expect(first!.getTime()).toBeGreaterThanOrEqual(apiKey.createdAt.getTime());
      expect(Math.abs(first!.getTime() - Date.now())).toBeLessThan(60_000);

      // Used again within the minute: the recorded time stands (no write per request).
      expect(await store.apiKeys.authenticate(secret)).toBe(user);
      expect(await lastUsed()).toEqual(first);

      // Once it is more than a minute old, the next use writes it again.
      const db = fixture.scratch().database.db;
      await sql`update chatkeep.api_keys set last_used_at = last_used_at - interval '2 minutes' where id = ${apiKey.id}`.execute(db);
      const backdated = await lastUsed();
      expect(await store.apiKeys.authenticate(secret)).toBe(user);
      const refreshed = await lastUsed();
      expect(refreshed!.getTime()).toBeGreaterThan(backdated!.getTime() + 60_000);
      expect(refreshed!.getTime()).toBeGreaterThanOrEqual(first!.getTime());
    });

    it('a forged or malformed key authenticates nobody', async () => {
      const store = fixture.get();
      const { secret } = await store.apiKeys.create(newUser());
      const forged = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
      for (const attempt of [forged, '', 'ck_', 'Bearer x', secret + 'x', `' or 1=1 --`]) {
        expect(await store.apiKeys.authenticate(attempt)).toBeUndefined();
      }
    });

    it("listing shows only the user's keys; another user's key id is not found", async () => {
      const store = fixture.get();
      const alice = newUser('alice');
      const bob = newUser('bob');
      const { apiKey } = await store.apiKeys.create(alice);
      await store.apiKeys.create(bob);
      expect((await store.apiKeys.list(alice)).map((k) => k.id)).toEqual([apiKey.id]);
      const error = await caught(() => store.apiKeys.revoke(bob, apiKey.id));
      expect([error.code, error.message]).toEqual(['CK_NOT_FOUND', 'API key not found']);
      expect((await store.apiKeys.list(alice))[0]?.revokedAt).toBeNull();
    });

    it(`a user holds at most ${MAX_ACTIVE_API_KEYS} unrevoked keys, also when creating many at once; revoking one makes room`, async () => {
      const store = fixture.get();
      const user = newUser('many-keys');
      // Concurrent creates, more than the cap: exactly the cap succeed, the rest are CK_CONFLICT.
      const outcomes = await Promise.all(
        Array.from({ length: MAX_ACTIVE_API_KEYS + 10 }, () =>
          store.apiKeys.create(user).then(
            () => 'created',
            (error: { code?: string }) => error.code,
          ),
        ),
      );
      expect(outcomes.filter((o) => o === 'created')).toHaveLength(MAX_ACTIVE_API_KEYS);
      expect(outcomes.filter((o) => o === 'CK_CONFLICT')).toHaveLength(10);
      const keys = await store.apiKeys.list(user);
      expect(keys).toHaveLength(MAX_ACTIVE_API_KEYS);
      const refused = await caught(() => store.apiKeys.create(user, { name: 'one more' }));
      expect(refused.code).toBe('CK_CONFLICT');
      expect(refused.message).toContain(`at most ${MAX_ACTIVE_API_KEYS} unrevoked API keys`);
      await store.apiKeys.revoke(user, keys[0]!.id);
      expect((await store.apiKeys.create(user, { name: 'after a revoke' })).apiKey.name).toBe('after a revoke');
      // Another user is not affected.
      expect((await store.apiKeys.create(newUser('few-keys'))).apiKey.revokedAt).toBeNull();
    });

    it('names over 100 characters are refused naming the field', async () => {
      const error = await caught(() => fixture.get().apiKeys.create(newUser(), { name: 'n'.repeat(101) }));
      expect([error.code, error.details?.['field']]).toEqual(['CK_VALIDATION', 'name']);
    });
  });
}
