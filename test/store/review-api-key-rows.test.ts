import { describe, expect, it } from 'vitest';
import { MAX_REVOKED_API_KEYS } from '../../src/store/api-keys.js';
import { BACKENDS } from '../support/backends.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * The cap on unrevoked keys exists so a token holder cannot issue keys
 * without end, each a row. Revoking made room for the next one and kept the
 * row, so create-then-revoke in a loop grew the user's rows, and the list
 * every `apiKeys.list` (GET /v1/me/api-keys) returns whole, without bound.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: revoked API keys`, () => {
    const fixture = useStore(backend.name);

    it(`a user keeps at most ${MAX_REVOKED_API_KEYS} revoked keys, the latest revoked; live keys are untouched`, async () => {
      const store = fixture.get();
      const user = newUser('rotating');
      const other = newUser('bystander');
      const bystander = await store.apiKeys.create(other);
      await store.apiKeys.revoke(other, bystander.apiKey.id);
      const live = await store.apiKeys.create(user, { name: 'live' });
      const revoked: string[] = [];
      for (let i = 0; i < MAX_REVOKED_API_KEYS + 5; i++) {
        const { apiKey } = await store.apiKeys.create(user, { name: `rotated ${i}` });
        await store.apiKeys.revoke(user, apiKey.id);
        revoked.push(apiKey.id);
      }
      // The revokes since the last create are kept until the next create prunes.
      const next = await store.apiKeys.create(user, { name: 'next' });
      const keys = await store.apiKeys.list(user);
      const listedRevoked = keys.filter((k) => k.revokedAt !== null).map((k) => k.id);
      expect(listedRevoked).toHaveLength(MAX_REVOKED_API_KEYS);
      expect(new Set(listedRevoked)).toEqual(new Set(revoked.slice(-MAX_REVOKED_API_KEYS)));
      expect(keys.filter((k) => k.revokedAt === null).map((k) => k.id).sort()).toEqual([live.apiKey.id, next.apiKey.id].sort());
      expect(await store.apiKeys.authenticate(live.secret)).toBe(user);
      expect(await store.apiKeys.authenticate(next.secret)).toBe(user);
      // Another user's revoked key is not this user's to prune.
      expect((await store.apiKeys.list(other)).map((k) => k.id)).toEqual([bystander.apiKey.id]);
    });
  });
}
