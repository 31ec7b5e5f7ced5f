import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * `"__proto__"` is an ordinary key to JSON and to jsonb, and JSON.parse makes
 * it an own property (what a request body parsed by JSON.parse holds). The
 * JSON-object fields (conversation and message metadata, onboarding steps and
 * context) must store such an object as given — or refuse it naming the
 * field — never drop the key silently and report success.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a "__proto__" key in a JSON object field`, () => {
    const fixture = useStore(backend.name);
    /** The object's own entries, by key (jsonb stores keys in its own order). */
    const entries = (value: unknown) => JSON.stringify(Object.entries(value as object).sort(([a], [b]) => (a < b ? -1 : 1)));
    const expected = '[["__proto__",{"admin":true}],["plan","pro"]]';
    const given = () => JSON.parse('{"__proto__": {"admin": true}, "plan": "pro"}') as Record<string, unknown>;

    it('conversation metadata keeps it, on create and on update, as read back and as stored', async () => {
      const store = fixture.get();
      const user = newUser('proto');
      const created = await store.conversations.create(user, { metadata: given() });
      expect(entries(created.metadata)).toBe(expected);
      const other = await store.conversations.create(user, {});
      const updated = await store.conversations.update(user, other.id, { metadata: given() });
      expect(entries(updated.metadata)).toBe(expected);
      const { rows } = await sql<{ metadata: string }>`select metadata::text as metadata from chatkeep.conversations where user_id = ${user} order by activity`.execute(
        fixture.scratch().database.db,
      );
      expect(rows.map((r) => r.metadata)).toEqual(['{"plan": "pro", "__proto__": {"admin": true}}', '{"plan": "pro", "__proto__": {"admin": true}}']);
    });

    it('message metadata keeps it', async () => {
      const store = fixture.get();
      const user = newUser('proto');
      const conversation = await store.conversations.create(user, {});
      const turn = await store.turns.append(user, conversation.id, { user: { content: 'hi', metadata: given() }, assistant: 'hello' });
      expect(entries(turn.userMessage.metadata)).toBe(expected);
      const page = await store.messages.list(user, conversation.id);
      expect(entries(page.messages[0]!.metadata)).toBe(expected);
    });

    it('onboarding steps and context keep it, on start and when merged by advance', async () => {
      const store = fixture.get();
      const user = newUser('proto');
      const { session } = await store.onboarding.start(user, { flow: 'coach', phase: 'welcome', steps: given(), context: given() });
      expect(entries(session.steps)).toBe(expected);
      expect(entries(session.context)).toBe(expected);
      const fresh = await store.onboarding.start(user, { flow: 'other', phase: 'welcome' });
      const advanced = await store.onboarding.advance(user, fresh.session.id, { context: given() });
      expect(entries(advanced.context)).toBe(expected);
    });

    it('the rules still apply to such an object: a bad value under it is CK_VALIDATION naming the field', async () => {
      const store = fixture.get();
      const user = newUser('proto');
      const error = await caught(() => store.conversations.create(user, { metadata: JSON.parse('{"__proto__": {"x": "\\u0000"}}') }));
      expect(error.code).toBe('CK_VALIDATION');
      expect(error.message).toMatch(/^metadata: /);
      expect(await store.conversations.list(user)).toMatchObject({ conversations: [] });
      for (const bad of [[], null, new Date(0), new Map(), 'x']) {
        const e = await caught(() => store.conversations.create(user, { metadata: bad as never }));
        expect(e.code).toBe('CK_VALIDATION');
        expect(e.message).toMatch(/^metadata: expected a JSON object, received /);
      }
    });
  });
}
