import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * A conversation-list cursor pages only the list that returned it, as a
 * history cursor pages only its conversation. It carried a bare position, so
 * one user's cursor was taken in another user's list (an app that keeps its
 * scroll position across a sign-out and sign-in as someone else): the page
 * started at the first user's position, silently skipping the second user's
 * newest conversations.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: conversation-list cursors`, () => {
    const fixture = useStore(backend.name);

    it("another user's cursor is CK_VALIDATION naming `cursor`, not a page that skips conversations", async () => {
      const store = fixture.get();
      const alice = newUser('alice');
      const bob = newUser('bob');
      for (let i = 0; i < 3; i++) await store.conversations.create(bob, { title: `b${i}` });
      // Alice's conversations are all newer than Bob's cursor position.
      for (let i = 0; i < 3; i++) await store.conversations.create(alice, { title: `a${i}` });
      const bobs = await store.conversations.list(bob, { limit: 1 });
      expect(bobs.nextCursor).not.toBeNull();

      const error = await caught(() => store.conversations.list(alice, { cursor: bobs.nextCursor! }));
      expect([error.code, error.details?.['field']]).toEqual(['CK_VALIDATION', 'cursor']);
      expect(error.message).toBe("cursor: a cursor of another user's list; a cursor pages only the list whose page returned it");

      // Bob's own cursor still pages Bob's list, and Alice's hers.
      expect((await store.conversations.list(bob, { cursor: bobs.nextCursor! })).conversations.map((c) => c.title)).toEqual(['b1', 'b0']);
      const first = await store.conversations.list(alice, { limit: 2 });
      expect((await store.conversations.list(alice, { cursor: first.nextCursor! })).conversations.map((c) => c.title)).toEqual(['a0']);
    });

    it('a cursor issued before cursors were bound to their list ({ a } alone) is still taken', async () => {
      const store = fixture.get();
      const user = newUser();
      for (let i = 0; i < 3; i++) await store.conversations.create(user, { title: `c${i}` });
      const first = await store.conversations.list(user, { limit: 1 });
      const { a } = JSON.parse(Buffer.from(first.nextCursor!, 'base64url').toString('utf8')) as { a: number };
      const legacy = Buffer.from(JSON.stringify({ a })).toString('base64url');
      expect((await store.conversations.list(user, { cursor: legacy })).conversations.map((c) => c.title)).toEqual(['c1', 'c0']);
    });
  });
}
