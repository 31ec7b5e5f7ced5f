import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/index.js';
import { BACKENDS, scratchDatabase } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * `messages.pageJson()` is the history page written as JSON by the database
 * (what the HTTP server sends). It must say exactly what `list()` says, for
 * every kind of page and every kind of content.
 */
const awkward = [
  'plain question',
  'quotes " and \\ backslashes \\" and a tab\there',
  'line\nbreaks\r\nand control \u0001\u001f characters',
  'unicode: 日本語, emoji 👩‍💻🚀, combining é, RTL مرحبا, \u2028 separators \u2029',
  `${'long '.repeat(30)}🚀${'x'.repeat(120)}`,
  '</script><script>alert(1)</script>',
];

async function seed(store: Store, user: string) {
  const { id } = await store.conversations.create(user);
  for (const [i, text] of awkward.entries()) {
    const metadata = i % 2 === 0 ? { model: 'demo', tokens: { in: i, out: 2.5 * i }, tags: ['a', null, true], note: 'é"\\' } : {};
    await store.turns.append(user, id, { user: text, assistant: { content: `answer ${i}: ${text}`, metadata } });
  }
  return id;
}

/** What the server used to send for a page: list() through JSON.stringify. */
const viaList = async (store: Store, user: string, id: string, options: object) => JSON.parse(JSON.stringify(await store.messages.list(user, id, options))) as unknown;
const viaJson = async (store: Store, user: string, id: string, options: object) => JSON.parse(await store.messages.pageJson(user, id, options)) as unknown;

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: messages.pageJson`, () => {
    const fixture = useStore(backend.name);

    it('equals list() for the latest page, pages before and after cursors, and every limit', async () => {
      const store = fixture.get();
      const user = newUser();
      const id = await seed(store, user);
      for (const limit of [1, 2, 5, 12, 50]) {
        expect(await viaJson(store, user, id, { limit })).toEqual(await viaList(store, user, id, { limit }));
      }
      const all = await store.messages.list(user, id, { limit: 3 });
      const cursors = { before: all.olderCursor!, after: all.newerCursor! };
      const first = await store.messages.list(user, id, { limit: 1, after: (await store.messages.list(user, id, { limit: 12 })).olderCursor! });
      for (const options of [
        { limit: 4, before: cursors.before },
        { limit: 100, before: cursors.before },
        { limit: 4, after: first.olderCursor! },
        { limit: 100, after: first.olderCursor! },
        { limit: 4, after: cursors.after },
      ]) {
        expect(await viaJson(store, user, id, options)).toEqual(await viaList(store, user, id, options));
      }
    });

    // With the host's users keyed by a bigint, to_json(user_id) wrote a JSON
    // number where list() gives a string, and a client's JSON.parse reads
    // 1234567890123456789 as 1234567890123456800: another user's id.
    it('with a host users table keyed by bigint, userId is the same string as list() gives, also past 2^53', async () => {
      const scratch = await scratchDatabase(backend.name);
      try {
        await sql`create table public.users (id bigint primary key)`.execute(scratch.database.db);
        await sql`insert into public.users values (1234567890123456789)`.execute(scratch.database.db);
        const store = await openStore({ database: scratch.database, users: { table: 'public.users', column: 'id', type: 'bigint' } });
        const user = '1234567890123456789';
        const { id } = await store.conversations.create(user);
        await store.turns.append(user, id, { user: 'hi', assistant: 'hello' });
        const page = (await viaJson(store, user, id, {})) as { messages: { userId: unknown }[] };
        expect(page.messages.map((m) => m.userId)).toEqual([user, user]);
        expect(page).toEqual(await viaList(store, user, id, {}));
        await store.close();
      } finally {
        await scratch.drop();
      }
    });

    it('cursor pages of a two-message conversation report the cursor message on the other side, as list() does', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      await store.turns.append(user, id, { user: 'question', assistant: 'answer' });
      const both = await store.messages.list(user, id);
      const newer = (await viaJson(store, user, id, { after: both.olderCursor! })) as { messages: { content: string }[]; hasOlder: boolean; hasNewer: boolean };
      expect([newer.messages.map((m) => m.content), newer.hasOlder, newer.hasNewer]).toEqual([['answer'], true, false]);
      const older = (await viaJson(store, user, id, { before: both.newerCursor! })) as { messages: { content: string }[]; hasOlder: boolean; hasNewer: boolean };
      expect([older.messages.map((m) => m.content), older.hasOlder, older.hasNewer]).toEqual([['question'], false, true]);
      for (const options of [{ after: both.olderCursor! }, { before: both.newerCursor! }]) {
        expect(await viaJson(store, user, id, options)).toEqual(await viaList(store, user, id, options));
      }
    });

    it('an empty conversation is an empty page; a missing or foreign one is CK_NOT_FOUND', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      expect(await viaJson(store, user, id, {})).toEqual({ messages: [], olderCursor: null, newerCursor: null, hasOlder: false, hasNewer: false });
      const owned = await seed(store, user);
      expect((await caught(() => store.messages.pageJson(newUser('intruder'), owned))).code).toBe('CK_NOT_FOUND');
      expect((await caught(() => store.messages.pageJson(user, '00000000-0000-4000-8000-000000000000'))).code).toBe('CK_NOT_FOUND');
      expect((await caught(() => store.messages.pageJson(user, owned, { limit: 0 }))).details?.['field']).toBe('limit');
    });

    it('aborted partial replies are marked as list() marks them', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const turn = await store.turns.begin(user, id, 'tell me a story');
      await store.turns.appendText(user, turn.id, 'Once upon');
      await store.turns.abort(user, turn.id, { keepPartial: true });
      const page = (await viaJson(store, user, id, {})) as { messages: { aborted: boolean }[] };
      expect(page.messages.map((m) => m.aborted)).toEqual([false, true]);
      expect(page).toEqual(await viaList(store, user, id, {}));
    });
  });
}
