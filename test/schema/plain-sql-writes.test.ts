import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * ARCHITECTURE "Every rule exists twice" and "Order": writers that bypass the
 * store (plain SQL, a host's import) meet the same rules in the database —
 * every CHECK, key and cascade of chatkeep's migrations — and a message they
 * insert without a seq gets the same allocation and upkeep of its
 * conversation (count, activity, derived summary) as a turn. The API's side
 * of each rule is in test/store/validation.test.ts; these are the rows only
 * plain SQL can write.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: chatkeep's tables written with plain SQL`, () => {
    const fixture = useStore(backend.name);
    const db = () => fixture.scratch().database.db;
    const sqlState = async (write: () => Promise<unknown>) =>
      ((await caught(write)) as Error & { code?: string }).code;
    const insertMessage = (user: string, conversationId: string, content: string) =>
      sql`insert into chatkeep.messages (user_id, conversation_id, role, content) values (${user}, ${conversationId}::uuid, 'user', ${content})`.execute(
        db(),
      );

    it('a message inserted without a seq keeps its conversation in step: count, activity, and the summary of its first message', async () => {
      const store = fixture.get();
      const user = newUser();
      const older = await store.conversations.create(user, { title: 'older' });
      const newer = await store.conversations.create(user, { title: 'newer' });
      const pinned = await store.conversations.create(user, {
        title: 'pinned',
        summary: 'chosen by the user',
      });

      await insertMessage(user, older.id, 'the first words');
      await insertMessage(user, older.id, 'and what came after');
      const conversation = await store.conversations.get(user, older.id);
      expect(conversation.messageCount).toBe(2);
      expect(conversation.summary, 'derived from the first message only').toBe('the first words');
      expect((await store.messages.list(user, older.id)).messages.map((m) => m.seq)).toEqual([
        1, 2,
      ]);
      // Newest activity first: the conversation written to moves to the top.
      expect((await store.conversations.list(user)).conversations.map((c) => c.id)).toEqual([
        older.id,
        pinned.id,
        newer.id,
      ]);

      await insertMessage(user, pinned.id, 'not a summary');
      expect((await store.conversations.get(user, pinned.id)).summary).toBe('chosen by the user');
    });

    it('append_turn, the statement of a turn, follows the same rules: a pinned summary stays, an unknown conversation is not found', async () => {
      const store = fixture.get();
      const user = newUser();
      const pinned = await store.conversations.create(user, { summary: 'chosen by the user' });
      await store.turns.append(user, pinned.id, { user: 'not a summary', assistant: 'ok' });
      expect((await store.conversations.get(user, pinned.id)).summary).toBe('chosen by the user');
      for (const idempotencyKey of [undefined, 'key-1']) {
        const missing = await caught(() =>
          store.turns.append(user, randomUUID(), {
            user: 'q',
            assistant: 'a',
            ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
          }),
        );
        expect(missing.code, `idempotency key ${String(idempotencyKey)}`).toBe('CK_NOT_FOUND');
      }
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from chatkeep.idempotency_keys where user_id = ${user}`.execute(
        db(),
      );
      expect(rows[0]?.n).toBe(0);
    });

    it('two users whose conversations share an id each keep their own counter', async () => {
      // The key is (user_id, id): a host's import may well bring the same id twice.
      const store = fixture.get();
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const id = randomUUID();
      await sql`insert into chatkeep.conversations (user_id, id) values (${alice}, ${id}::uuid), (${bob}, ${id}::uuid)`.execute(
        db(),
      );
      await insertMessage(alice, id, 'plain SQL, for alice');
      await store.turns.append(alice, id, { user: 'a turn, for alice', assistant: 'ok' });
      expect((await store.conversations.get(alice, id)).messageCount).toBe(3);
      expect(
        (await store.conversations.get(bob, id)).messageCount,
        'bob’s conversation untouched',
      ).toBe(0);
      await insertMessage(bob, id, 'bob starts');
      const turn = await store.turns.append(bob, id, { user: 'bob asks', assistant: 'ok' });
      expect([turn.userMessage.seq, turn.assistantMessage.seq]).toEqual([2, 3]);
      expect((await store.messages.list(bob, id)).messages.map((m) => m.content)).toEqual([
        'bob starts',
        'bob asks',
        'ok',
      ]);
    });

    const streamedTurn = (
      user: string,
      conversationId: string,
      row: { userContent?: string; state?: string; finishedAt?: string; abandonAfterMs?: number },
    ) =>
      sql`insert into chatkeep.streamed_turns (user_id, id, conversation_id, user_message_id, assistant_message_id, user_content, state, abandon_after_ms, expires_at, finished_at)
          values (${user}, gen_random_uuid(), ${conversationId}::uuid, gen_random_uuid(), gen_random_uuid(), ${row.userContent ?? 'q'}, ${row.state ?? 'streaming'},
                  ${row.abandonAfterMs ?? 60_000}, now() + interval '1 minute', ${sql.raw(row.finishedAt ?? 'null')})`.execute(
        db(),
      );
    const apiKey = (user: string, row: { prefix?: string; secretHash?: string }) =>
      sql`insert into chatkeep.api_keys (user_id, id, prefix, secret_hash) values (${user}, gen_random_uuid(), ${row.prefix ?? 'ck_0123abcd'}, ${row.secretHash ?? 'c'.repeat(64)})`.execute(
        db(),
      );
    const rateWindow = (keyHash: string, endsAt: string) =>
      sql`insert into chatkeep.rate_limit_windows (key_hash, hits, started_at, ends_at) values (${keyHash}, 1, now(), ${sql.raw(endsAt === 'started_at' ? 'now()' : "now() + interval '1 minute'")})`.execute(
        db(),
      );

    it('refuses the rows the API refuses, in every table, and writes nothing', async () => {
      const store = fixture.get();
      const user = newUser();
      const c = await store.conversations.create(user);
      const turn = await store.turns.append(user, c.id, { user: 'q', assistant: 'a' });
      const refused: [string, () => Promise<unknown>, string][] = [
        [
          'conversation summary over 100 characters',
          () =>
            sql`update chatkeep.conversations set summary = ${'s'.repeat(101)} where user_id = ${user}`.execute(
              db(),
            ),
          '23514',
        ],
        [
          'conversation metadata that is not an object',
          () =>
            sql`insert into chatkeep.conversations (user_id, metadata) values (${user}, '[]')`.execute(
              db(),
            ),
          '23514',
        ],
        [
          'a negative message count',
          () =>
            sql`update chatkeep.conversations set message_count = -1 where user_id = ${user}`.execute(
              db(),
            ),
          '23514',
        ],
        [
          'a message with seq 0',
          () =>
            sql`insert into chatkeep.messages (user_id, conversation_id, seq, role, content) values (${user}, ${c.id}::uuid, 0, 'user', 'zero')`.execute(
              db(),
            ),
          '23514',
        ],
        [
          'a second message with the same id for one user',
          () =>
            sql`insert into chatkeep.messages (user_id, conversation_id, id, role, content) values (${user}, ${c.id}::uuid, ${turn.userMessage.id}::uuid, 'user', 'again')`.execute(
              db(),
            ),
          '23505',
        ],
        [
          'an idempotency key over 200 characters',
          () =>
            sql`insert into chatkeep.idempotency_keys (user_id, key, conversation_id, turn_id, first_seq, request_hash)
                values (${user}, ${'k'.repeat(201)}, ${c.id}::uuid, ${randomUUID()}::uuid, 1, 'h')`.execute(
              db(),
            ),
          '23514',
        ],
        [
          'an onboarding session abandoned without a time',
          () =>
            sql`insert into chatkeep.onboarding_sessions (user_id, flow, phase, status) values (${user}, 'f', 'p', 'abandoned')`.execute(
              db(),
            ),
          '23514',
        ],
        [
          'an onboarding flow name of 65 characters',
          () =>
            sql`insert into chatkeep.onboarding_sessions (user_id, flow, phase) values (${user}, ${'f'.repeat(65)}, 'p')`.execute(
              db(),
            ),
          '23514',
        ],
        [
          'a streamed turn whose question is blank',
          () => streamedTurn(user, c.id, { userContent: ' \n\t' }),
          '23514',
        ],
        [
          'a streamed turn finished but still streaming',
          () => streamedTurn(user, c.id, { finishedAt: 'now()' }),
          '23514',
        ],
        [
          'a streamed turn committed without a finish time',
          () => streamedTurn(user, c.id, { state: 'committed' }),
          '23514',
        ],
        [
          'a streamed turn abandoned after less than a second',
          () => streamedTurn(user, c.id, { abandonAfterMs: 999 }),
          '23514',
        ],
        [
          'an API key prefix of 9 hex digits',
          () => apiKey(user, { prefix: 'ck_012345678' }),
          '23514',
        ],
        [
          'a second API key with the same secret hash',
          () => apiKey(user, { secretHash: 'a'.repeat(64) }),
          '23505',
        ],
        [
          'a flag name ending in a separator',
          () =>
            sql`insert into chatkeep.feature_flags (name, salt) values ('ends-with-dash-', 's')`.execute(
              db(),
            ),
          '23514',
        ],
        ['a rate-limit key that is not a SHA-256', () => rateWindow('abc', 'now()'), '23514'],
        [
          'a rate-limit window that ends when it starts',
          () => rateWindow('b'.repeat(64), 'started_at'),
          '23514',
        ],
      ];
      await apiKey(user, { secretHash: 'a'.repeat(64) });
      for (const [what, write, code] of refused) expect(await sqlState(write), what).toBe(code);
      const after = await store.conversations.get(user, c.id);
      expect([after.messageCount, after.summary]).toEqual([2, 'q']);
      expect((await store.messages.list(user, c.id)).messages.map((m) => m.seq)).toEqual([1, 2]);
      const left = await sql<{ n: number }>`
        select (select count(*) from chatkeep.streamed_turns where user_id = ${user})
             + (select count(*) from chatkeep.onboarding_sessions where user_id = ${user})
             + (select count(*) from chatkeep.feature_flags)
             + (select count(*) from chatkeep.rate_limit_windows) as n`.execute(db());
      expect(Number(left.rows[0]?.n)).toBe(0);
    });

    it('keeps rate-limit counts in an unlogged table: a count is worth no WAL record (migration 0008)', async () => {
      const { rows } = await sql<{
        persistence: string;
      }>`select relpersistence as persistence from pg_catalog.pg_class where oid = 'chatkeep.rate_limit_windows'::regclass`.execute(
        db(),
      );
      expect(rows).toEqual([{ persistence: 'u' }]);
    });
  });
}
