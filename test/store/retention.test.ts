import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/index.js';
import { BACKENDS } from '../support/backends.js';
import { waitingLocks } from '../support/pg-locks.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * Sets a conversation's activity to exact instants. The cases below that need
 * exact purge reports put their conversations decades back, behind cut-offs
 * older than anything the other cases (aged in days from now) create.
 */
async function stamp(database: Database, id: string, createdAt: string, lastMessageAt: string | null = null) {
  await sql`update chatkeep.conversations set created_at = ${createdAt}::timestamptz, last_message_at = ${lastMessageAt}::timestamptz
             where id = ${id}::uuid`.execute(database.db);
}

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

    it('activity exactly at the cut-off is not before it: that conversation is kept, whether its last message or its creation is at the cut-off', async () => {
      const store = fixture.get();
      const user = newUser('edge');
      const [created, messaged, older] = [await store.conversations.create(user), await store.conversations.create(user), await store.conversations.create(user)];
      await stamp(fixture.scratch().database, created.id, '2001-01-01T00:00:00Z');
      await stamp(fixture.scratch().database, messaged.id, '1999-01-01T00:00:00Z', '2001-01-01T00:00:00Z');
      await stamp(fixture.scratch().database, older.id, '2000-12-31T23:59:59.999Z');
      const report = await store.retention.purge({ before: new Date('2001-01-01T00:00:00Z') });
      expect(report).toEqual({ conversations: 1, messages: 0, batches: 1 });
      expect((await store.conversations.list(user)).conversations.map((c) => c.id).sort()).toEqual([created.id, messaged.id].sort());
    });

    it('a batch shorter than batchSize is the last: the purge returns at once, without pausing first', async () => {
      const store = fixture.get();
      const user = newUser('short');
      for (let i = 0; i < 2; i++) await stamp(fixture.scratch().database, (await store.conversations.create(user)).id, '1990-06-01T00:00:00Z');
      const started = performance.now();
      // A minute-long pause, cut to 4 s by the signal so that a purge which does pause fails the check below instead of timing out.
      const report = await store.retention.purge({ before: new Date('1991-01-01T00:00:00Z'), batchSize: 3, pauseMs: 60_000, signal: AbortSignal.timeout(4000) });
      expect(performance.now() - started).toBeLessThan(3000); // a pause would last until the signal ends it at 4 s
      expect(report).toEqual({ conversations: 2, messages: 0, batches: 1 });
    });

    it('a conversation with a live stream takes no place in a batch: each batch is filled with conversations it can delete', async () => {
      const store = fixture.get();
      const user = newUser('slot');
      const live = await store.conversations.create(user);
      const idle = await store.conversations.create(user);
      await store.turns.append(user, idle.id, { user: 'q', assistant: 'a' });
      const turn = await store.turns.begin(user, live.id, 'still typing');
      await stamp(fixture.scratch().database, live.id, '1980-06-01T00:00:00Z');
      await stamp(fixture.scratch().database, idle.id, '1980-06-01T00:00:00Z', '1980-06-02T00:00:00Z');
      const progress: number[] = [];
      const report = await store.retention.purge({ before: new Date('1981-01-01T00:00:00Z'), batchSize: 1, onProgress: (p) => progress.push(p.conversations) });
      expect(report).toEqual({ conversations: 1, messages: 2, batches: 1 });
      expect(progress).toEqual([1]);
      expect((await store.turns.commit(user, turn.id, { content: 'done' })).assistantMessage.content).toBe('done');
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

/**
 * The purge re-checks the cut-off in its deleting statement, so a conversation
 * written to while the purge waits for its row is judged by what was written.
 * PostgreSQL only: on PGlite every transaction runs alone, so nothing can
 * write between the purge's choice of candidates and its delete.
 */
const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: retention while the application writes', () => {
  const fixture = useStore('postgres');

  /**
   * A conversation idle since 1970 for `user`, a purge of everything idle
   * before 1971 started while a side connection holds a transaction that did
   * `write` to it, and that transaction committed once the purge waits for
   * it. Returns the purge's report and what `check` reads afterwards.
   */
  async function purgeWhileWritten<T>(
    user: string,
    write: (side: pg.Client, id: string) => Promise<unknown>,
    check: (side: pg.Client, id: string) => Promise<T>,
  ) {
    const store = fixture.get();
    const { id } = await store.conversations.create(user);
    await stamp(fixture.scratch().database, id, '1970-06-01T00:00:00Z');
    const side = new pg.Client({ connectionString: fixture.scratch().url });
    await side.connect();
    try {
      await side.query('begin');
      await write(side, id);
      const purging = store.retention.purge({ before: new Date('1971-01-01T00:00:00Z') });
      purging.catch(() => undefined);
      await waitingLocks(side);
      await side.query('commit');
      return { id, report: await purging, after: await check(side, id) };
    } finally {
      await side.end();
    }
  }

  it('a conversation whose activity moves to exactly the cut-off while the purge waits for its row is kept', async () => {
    const user = newUser('racing');
    // The purge picks the conversation by its old activity, waits for its row, and re-checks it as committed.
    const { id, report } = await purgeWhileWritten(
      user,
      (side, id) => side.query(`update chatkeep.conversations set last_message_at = '1971-01-01T00:00:00Z' where id = $1`, [id]),
      async () => undefined,
    );
    // Re-checked once its row is free, it is no candidate any more: no batch to report.
    expect(report).toEqual({ conversations: 0, messages: 0, batches: 0 });
    expect((await fixture.get().conversations.get(user, id)).id).toBe(id);
  });

  /**
   * A streamed turn begun while the purge waits for its conversation is a
   * live stream the purge must see. With one statement it did not (its
   * "no live stream" check read the snapshot taken before the turn's
   * transaction committed), so begin succeeded and the cascade then deleted
   * the conversation with the turn just begun.
   */
  it('a turn begun while the purge waits for its conversation keeps the conversation and the turn', async () => {
    const user = newUser('begun');
    const { id, report, after } = await purgeWhileWritten(
      user,
      // As turns.begin does, held uncommitted.
      (side, id) =>
        side.query(
          `insert into chatkeep.streamed_turns (user_id, id, conversation_id, user_message_id, assistant_message_id, user_content, abandon_after_ms, expires_at)
           values ($1, gen_random_uuid(), $2, gen_random_uuid(), gen_random_uuid(), 'still typing', 120000, now() + interval '2 minutes')`,
          [user, id],
        ),
      async (side, id) => (await side.query(`select state from chatkeep.streamed_turns where user_id = $1 and conversation_id = $2`, [user, id])).rows,
    );
    expect(report.conversations).toBe(0);
    expect((await fixture.get().conversations.get(user, id)).id).toBe(id);
    expect(after).toEqual([{ state: 'streaming' }]);
  });
});
