import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/** Retention (R-CHAT-6): inactive conversations purged in short batches, nothing else touched. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: retention`, () => {
    const fixture = useStore(backend.name);

    async function age(ids: readonly string[], days: number) {
      await sql`update chatkeep.conversations
                   set created_at = now() - make_interval(days => ${days}),
                       last_message_at = case when last_message_at is null then null else now() - make_interval(days => ${days}) end
                 where id = any(${ids}::uuid[])`.execute(fixture.scratch().database.db);
    }

    it('deletes only conversations inactive before the cut-off, with their messages, in batches', async () => {
      const store = fixture.get();
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const old: string[] = [];
      const fresh: string[] = [];
      for (const user of [alice, bob]) {
        for (let i = 0; i < 5; i++) {
          const { id } = await store.conversations.create(user);
          await store.turns.append(user, id, { user: `q${i}`, assistant: `a${i}` });
          (i < 3 ? old : fresh).push(id);
        }
      }
      await age(old, 120);
      const batches: number[] = [];
      const report = await store.retention.purge({ before: new Date(Date.now() - 90 * 86_400_000), batchSize: 2, onProgress: (p) => batches.push(p.conversations) });
      expect(report.conversations).toBeGreaterThanOrEqual(6);
      expect(batches.length).toBeGreaterThanOrEqual(3);
      for (const id of old) {
        const owner = old.indexOf(id) < 3 ? alice : bob;
        expect((await caught(() => store.conversations.get(owner, id))).code).toBe('CK_NOT_FOUND');
      }
      for (const [i, id] of fresh.entries()) {
        expect((await store.conversations.get(i < 2 ? alice : bob, id)).messageCount).toBe(2);
      }
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from chatkeep.messages where conversation_id = any(${old}::uuid[])`.execute(fixture.scratch().database.db);
      expect(rows[0]!.n).toBe(0);
    });

    it('activity counts, not age: an old conversation with a new message is kept', async () => {
      const store = fixture.get();
      const user = newUser('busy');
      const conversations = await Promise.all(Array.from({ length: 6 }, () => store.conversations.create(user)));
      const ids = conversations.map((c) => c.id);
      await age(ids, 400);
      const revived = ids[2]!;
      await store.turns.append(user, revived, { user: 'still here', assistant: 'welcome back' });
      const report = await store.retention.purge({ before: new Date(Date.now() - 365 * 86_400_000), batchSize: 2, pauseMs: 5 });
      expect(report.conversations).toBeGreaterThanOrEqual(5);
      expect((await store.conversations.get(user, revived)).messageCount).toBe(2);
      expect((await store.conversations.list(user)).conversations.map((c) => c.id)).toEqual([revived]);
    });

    it('bad options name the field and delete nothing', async () => {
      const error = await caught(() => fixture.get().retention.purge({ before: new Date('nope') }));
      expect([error.code, error.details?.['field']]).toEqual(['CK_VALIDATION', 'before']);
      const size = await caught(() => fixture.get().retention.purge({ before: new Date(), batchSize: 0 }));
      expect(size.details?.['field']).toBe('batchSize');
    });

    it('an old conversation with a turn still streaming is kept, and the turn commits', async () => {
      const store = fixture.get();
      const user = newUser('streaming');
      const [live, idle] = [await store.conversations.create(user), await store.conversations.create(user)];
      await store.turns.append(user, live.id, { user: 'long ago', assistant: 'indeed' });
      await age([live.id, idle.id], 400);
      const turn = await store.turns.begin(user, live.id, 'back after a year');
      const report = await store.retention.purge({ before: new Date(Date.now() - 365 * 86_400_000), batchSize: 1 });
      expect(report.conversations).toBeGreaterThanOrEqual(1);
      expect((await caught(() => store.conversations.get(user, idle.id))).code).toBe('CK_NOT_FOUND');
      const committed = await store.turns.commit(user, turn.id, { content: 'welcome back' });
      expect(committed.assistantMessage.content).toBe('welcome back');
      expect((await store.conversations.get(user, live.id)).messageCount).toBe(4);
    });

    it('an abort during the pause between batches ends the purge then, not after the pause', async () => {
      const store = fixture.get();
      const user = newUser('abort');
      const ids = (await Promise.all(Array.from({ length: 3 }, () => store.conversations.create(user)))).map((c) => c.id);
      await age(ids, 800);
      const controller = new AbortController();
      // A minute-long pause, aborted right after the first batch: without an abortable pause the test times out.
      const report = await store.retention.purge({
        before: new Date(Date.now() - 700 * 86_400_000),
        batchSize: 1,
        pauseMs: 60_000,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      });
      expect(report.batches).toBe(1);
    });
  });
}
