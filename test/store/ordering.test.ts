import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { newUser, useStore } from '../support/store-fixture.js';

/** SPEC R-CHAT-2 order and R-CHAT-4 retrieval, under concurrency. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: message order`, () => {
    const fixture = useStore(backend.name);

    it('50 concurrent turns on one conversation get gap-free, unique, consecutive seqs and come back in order', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const turns = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.turns.append(user, id, { user: `question ${i}`, assistant: `answer ${i}` })),
      );
      for (const turn of turns) {
        expect(turn.assistantMessage.seq).toBe(turn.userMessage.seq + 1);
        expect(turn.userMessage.seq % 2).toBe(1);
      }
      const seqs = turns.flatMap((t) => [t.userMessage.seq, t.assistantMessage.seq]).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));

      const page = await store.messages.list(user, id, { limit: 1000 });
      expect(page.messages.map((m) => m.seq)).toEqual(seqs);
      // Each user message is followed by its own answer.
      for (let i = 0; i < 100; i += 2) {
        const q = page.messages[i];
        const a = page.messages[i + 1];
        expect(a?.turnId).toBe(q?.turnId);
        expect(a?.content.replace('answer', '')).toBe(q?.content.replace('question', ''));
      }
      expect((await store.conversations.get(user, id)).messageCount).toBe(100);
    });

    // The order is the order turns take the conversation's lock; now() is when each transaction began. On
    // PostgreSQL a later message carried an earlier createdAt (22 of 120), and lastMessageAt trailed the newest.
    it('under concurrent turns, message times never go back in seq order, and lastMessageAt is the newest message time', async () => {
      const { store, user, id } = await fixture.conversation('times');
      const turns = await Promise.all(
        Array.from({ length: 60 }, (_, i) => store.turns.append(user, id, { user: `question ${i}`, assistant: `answer ${i}` })),
      );
      const page = await store.messages.list(user, id, { limit: 1000 });
      const times = page.messages.map((m) => m.createdAt.getTime());
      const backwards = times.filter((t, i) => i > 0 && t < times[i - 1]!);
      expect(backwards, 'messages older than the one before them').toEqual([]);
      // What the append answered is what is stored.
      const stored = new Map(page.messages.map((m) => [m.id, m.createdAt.getTime()]));
      for (const turn of turns) expect(turn.userMessage.createdAt.getTime()).toBe(stored.get(turn.userMessage.id));
      const conversation = await store.conversations.get(user, id);
      expect(conversation.lastMessageAt?.getTime()).toBe(times.at(-1));
      expect(conversation.updatedAt.getTime()).toBeGreaterThanOrEqual(times.at(-1)!);
    });

    it('pages backwards and forwards cover every message exactly once, chronologically', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      for (let i = 0; i < 23; i++) await store.turns.append(user, id, { user: `u${i}`, assistant: `a${i}` });

      const latest = await store.messages.list(user, id, { limit: 10 });
      expect(latest.messages.map((m) => m.seq)).toEqual([37, 38, 39, 40, 41, 42, 43, 44, 45, 46]);
      expect(latest.hasOlder).toBe(true);
      expect(latest.hasNewer).toBe(false);

      const backwards: number[] = [...latest.messages.map((m) => m.seq)];
      let cursor = latest.olderCursor;
      let hasOlder = latest.hasOlder;
      while (hasOlder && cursor) {
        const page = await store.messages.list(user, id, { limit: 10, before: cursor });
        backwards.unshift(...page.messages.map((m) => m.seq));
        cursor = page.olderCursor;
        hasOlder = page.hasOlder;
      }
      expect(backwards).toEqual(Array.from({ length: 46 }, (_, i) => i + 1));

      const first = await store.messages.list(user, id, { limit: 7, before: latest.olderCursor ?? '' });
      const forwards: number[] = [];
      let page = await store.messages.list(user, id, { limit: 7, after: first.olderCursor ?? '' });
      forwards.push(...first.messages.map((m) => m.seq).filter((s) => s < (page.messages[0]?.seq ?? 0)));
      for (;;) {
        forwards.push(...page.messages.map((m) => m.seq));
        if (!page.hasNewer || !page.newerCursor) break;
        page = await store.messages.list(user, id, { limit: 7, after: page.newerCursor });
      }
      expect(forwards.filter((s) => s >= 30)).toEqual(Array.from({ length: 17 }, (_, i) => i + 30));
      expect(page.messages.at(-1)?.seq).toBe(46);
    });

    it('a cursor page reports the message at its cursor as on the other side: two messages, one per page', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      await store.turns.append(user, id, { user: 'question', assistant: 'answer' });
      const both = await store.messages.list(user, id);
      expect(both).toMatchObject({ hasOlder: false, hasNewer: false });

      // After the oldest message: the answer, and the question (the cursor's own message) is older.
      const newer = await store.messages.list(user, id, { after: both.olderCursor! });
      expect(newer.messages.map((m) => m.content)).toEqual(['answer']);
      expect([newer.hasOlder, newer.hasNewer]).toEqual([true, false]);
      // Before the newest message: the question, and the answer (the cursor's own message) is newer.
      const older = await store.messages.list(user, id, { before: both.newerCursor! });
      expect(older.messages.map((m) => m.content)).toEqual(['question']);
      expect([older.hasOlder, older.hasNewer]).toEqual([false, true]);
    });

    it('polling with the newest cursor returns only messages written since', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      await store.turns.append(user, id, { user: 'one', assistant: 'two' });
      const seen = await store.messages.list(user, id);
      expect(await store.messages.list(user, id, { after: seen.newerCursor ?? '' })).toMatchObject({ messages: [], hasNewer: false });
      await store.turns.append(user, id, { user: 'three', assistant: 'four' });
      const fresh = await store.messages.list(user, id, { after: seen.newerCursor ?? '' });
      expect(fresh.messages.map((m) => m.content)).toEqual(['three', 'four']);
    });

    it('lists conversations newest activity first, with stable keyset pages', async () => {
      const store = fixture.get();
      const user = newUser();
      const created = [];
      for (let i = 0; i < 7; i++) created.push(await store.conversations.create(user, { title: `c${i}` }));
      // Activity on the oldest moves it to the top.
      await store.turns.append(user, created[0]!.id, { user: 'bump', assistant: 'ok' });
      const titles: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.conversations.list(user, { limit: 3, ...(cursor ? { cursor } : {}) });
        titles.push(...page.conversations.map((c) => c.title ?? ''));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(titles).toEqual(['c0', 'c6', 'c5', 'c4', 'c3', 'c2', 'c1']);
    });

    it('an update with nothing to change ({}, a PATCH without fields) writes nothing: updatedAt and the list order stay', async () => {
      const store = fixture.get();
      const user = newUser();
      const older = await store.conversations.create(user, { title: 'older' });
      await store.conversations.create(user, { title: 'newer' });
      const same = await store.conversations.update(user, older.id, {});
      expect(same).toEqual(await store.conversations.get(user, older.id));
      expect(same.updatedAt).toEqual(older.updatedAt);
      expect((await store.conversations.list(user)).conversations.map((c) => c.title)).toEqual(['newer', 'older']);
      // A real change still moves it up; another user's id is still missing.
      await store.conversations.update(user, older.id, { title: 'renamed' });
      expect((await store.conversations.list(user)).conversations.map((c) => c.title)).toEqual(['renamed', 'newer']);
      await expect(store.conversations.update(newUser(), older.id, {})).rejects.toMatchObject({ code: 'CK_NOT_FOUND' });
    });

    it('a last page that is exactly full has no next cursor; one more conversation gives it one', async () => {
      const store = fixture.get();
      const user = newUser();
      for (let i = 0; i < 3; i++) await store.conversations.create(user, { title: `c${i}` });
      const full = await store.conversations.list(user, { limit: 3 });
      expect(full.conversations.map((c) => c.title)).toEqual(['c2', 'c1', 'c0']);
      expect(full.nextCursor).toBeNull();

      await store.conversations.create(user, { title: 'c3' });
      const first = await store.conversations.list(user, { limit: 3 });
      expect(first.conversations.map((c) => c.title)).toEqual(['c3', 'c2', 'c1']);
      expect(first.nextCursor).not.toBeNull();
      const last = await store.conversations.list(user, { limit: 3, cursor: first.nextCursor! });
      expect(last.conversations.map((c) => c.title)).toEqual(['c0']);
      expect(last.nextCursor).toBeNull();
      // A later page that is exactly full is the last one too.
      const tail = await store.conversations.list(user, { limit: 1, cursor: (await store.conversations.list(user, { limit: 3 })).nextCursor! });
      expect([tail.conversations.map((c) => c.title), tail.nextCursor]).toEqual([['c0'], null]);
    });

    it('the conversation summary is the first 100 characters of the first message unless pinned', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const long = 'x'.repeat(150);
      await store.turns.append(user, id, { user: long, assistant: 'reply' });
      await store.turns.append(user, id, { user: 'later', assistant: 'reply' });
      expect((await store.conversations.get(user, id)).summary).toBe('x'.repeat(100));
      const messages = (await store.messages.list(user, id)).messages;
      expect(messages[0]?.summary).toBe('x'.repeat(100));
      expect(messages[1]?.summary).toBe('reply');
      expect((await store.conversations.update(user, id, { summary: 'Pinned' })).summary).toBe('Pinned');
      await store.turns.append(user, id, { user: 'more', assistant: 'reply' });
      expect((await store.conversations.get(user, id)).summary).toBe('Pinned');
      expect((await store.conversations.update(user, id, { summary: null })).summary).toBe('x'.repeat(100));
    });

    it('message summaries count characters like the database, also for emoji beyond the BMP', async () => {
      const store = fixture.get();
      const user = newUser();
      const { id } = await store.conversations.create(user);
      const contents = ['😀'.repeat(60) + 'x'.repeat(60), 'y'.repeat(99) + '😀😀', 'z'.repeat(150)];
      for (const content of contents) await store.turns.append(user, id, { user: content, assistant: 'ok' });
      const { rows } = await sql<{ summary: string }>`select summary from chatkeep.messages where user_id = ${user} and role = 'user' order by seq`.execute(fixture.scratch().database.db);
      const listed = (await store.messages.list(user, id)).messages.filter((m) => m.role === 'user').map((m) => m.summary);
      expect(listed).toEqual(rows.map((r) => r.summary));
      expect([...(listed[0] ?? '')]).toHaveLength(100);
    });
  });
}
