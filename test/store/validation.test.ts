import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { caught, useStore } from '../support/store-fixture.js';

/**
 * SPEC R-SEC-3: bad input gets an error naming the field and nothing is
 * written — by the API, and by the database for writes that bypass the API.
 * The Todo profile (seed 002): content of at most 1000 characters.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: validation at the API and in the database`, () => {
    const fixture = useStore(backend.name, { maxContentLength: 1000 });

    const conversation = () => fixture.conversation();

    it('the API rejects bad turns naming the field, and writes nothing', async () => {
      const { store, user, id } = await conversation();
      const cases: [unknown, string][] = [
        [{ user: '', assistant: 'ok' }, 'user'],
        [{ user: '   \n\t', assistant: 'ok' }, 'user'],
        [{ user: 'ok', assistant: '' }, 'assistant'],
        [{ user: 'x'.repeat(1001), assistant: 'ok' }, 'user'],
        [{ user: 'ok', assistant: { content: 'y'.repeat(1001) } }, 'assistant.content'],
        [{ user: 'nul\u0000byte', assistant: 'ok' }, 'user'],
        [{ user: { content: 'ok', metadata: 'not an object' }, assistant: 'ok' }, 'user.metadata'],
        [{ user: 42, assistant: 'ok' }, 'user'],
        [{ user: 'ok', assistant: 'ok', idempotencyKey: '' }, 'idempotencyKey'],
        // A key in the wrong place would otherwise be dropped without a word.
        [{ user: 'ok', assistant: 'ok', metadata: { model: 'x' } }, 'metadata'],
      ];
      for (const [input, field] of cases) {
        const error = await caught(() => store.turns.append(user, id, input as never));
        expect(error.code, JSON.stringify(input).slice(0, 60)).toBe('CK_VALIDATION');
        expect(error.details?.['field']).toBe(field);
        expect(error.message.startsWith(`${field}:`)).toBe(true);
        expect(error.message).not.toMatch(/Invalid input|Invalid option|Too small|Too big|Unrecognized key/);
      }
      // 1000 characters is allowed, counted as characters (emoji are one each).
      await store.turns.append(user, id, { user: '😀'.repeat(1000), assistant: 'ok' });
      expect((await store.conversations.get(user, id)).messageCount).toBe(2);
    });

    it('the API rejects bad ids and options naming the field', async () => {
      const { store, user, id } = await conversation();
      const checks: [() => Promise<unknown>, string][] = [
        [() => store.conversations.get(user, 'not-a-uuid'), 'conversationId'],
        [() => store.conversations.get('bad user id with spaces', id), 'userId'],
        [() => store.conversations.get('', id), 'userId'],
        [() => store.messages.list(user, id, { limit: 0 }), 'limit'],
        [() => store.messages.list(user, id, { before: 'garbage!' }), 'before'],
        [() => store.conversations.list(user, { cursor: 'eyJ4IjoxfQ' }), 'cursor'],
        [() => store.conversations.create(user, { title: 't'.repeat(201) }), 'title'],
        [() => store.conversations.create(user, { metadata: [] as never }), 'metadata'],
        [() => store.conversations.create(user, { colour: 'red' } as never), 'colour'],
        [() => store.onboarding.start(user, { flow: 'Bad Flow', phase: 'a' }), 'flow'],
        [() => store.onboarding.start(user, { flow: 'ok', phase: 'a', progress: 101 }), 'progress'],
        [() => store.onboarding.start(user, { flw: 'ok', phase: 'a' } as never), 'flow'],
        [() => store.conversations.create(user, { title: 'ok', '': 1 } as never), 'input'],
        [() => store.conversations.create(user, { metadata: new Map() as never }), 'metadata'],
        [() => store.messages.list(user, id, { limit: 2.5 }), 'limit'],
      ];
      for (const [call, field] of checks) {
        const error = await caught(call);
        expect(error.code).toBe('CK_VALIDATION');
        expect(error.details?.['field']).toBe(field);
        expect(error.message).not.toMatch(/Invalid input|Invalid option|Too small|Too big|Unrecognized key/);
      }
      expect((await caught(checks.at(-4)![0])).message).toBe('flow: required (the unknown field "flw" was given: misspelt?)');
      expect((await caught(checks.at(-3)![0])).message).toBe('input: has a field with an empty name ("")');
      expect((await caught(checks.at(-2)![0])).message).toBe('metadata: expected a JSON object, received a Map');
      // The same words as the HTTP API's (test/server/validation.test.ts).
      expect((await caught(() => store.turns.append(user, id, { user: 7, assistant: 'a' } as never))).message).toBe(
        'user: expected a string or { content, metadata }, received a number',
      );
      expect((await caught(() => store.turns.append(user, id, { user: 'q' } as never))).message).toBe('assistant: required');
      expect((await store.conversations.list(user)).conversations).toHaveLength(1);
      expect(await store.onboarding.list(user)).toEqual([]);
    });

    it('the database itself rejects the same bad rows written with plain SQL', async () => {
      const { store, user, id } = await conversation();
      const db = fixture.scratch().database.db;
      const insertMessage = (role: string, content: string, metadata = '{}') =>
        sql`insert into chatkeep.messages (user_id, conversation_id, role, content, metadata)
            values (${user}, ${id}::uuid, ${role}, ${content}, ${metadata}::jsonb)`.execute(db);
      const rejected: [() => Promise<unknown>, string][] = [
        [() => insertMessage('user', ''), '23514'],
        [() => insertMessage('user', '   '), '23514'],
        [() => insertMessage('wizard', 'hi'), '23514'],
        [() => insertMessage('system', 'hi'), '23514'],
        [() => insertMessage('user', 'x'.repeat(1001)), '23514'],
        [() => insertMessage('user', 'hi', '[1,2]'), '23514'],
        [() => sql`insert into chatkeep.messages (user_id, conversation_id, role, content) values (${user}, ${randomUUID()}::uuid, 'user', 'orphan')`.execute(db), '23503'],
        [() => sql`insert into chatkeep.conversations (user_id) values ('has spaces in it')`.execute(db), '23514'],
        [() => sql`insert into chatkeep.conversations (user_id, title) values (${user}, '')`.execute(db), '23514'],
        [() => sql`insert into chatkeep.onboarding_sessions (user_id, flow, phase, progress) values (${user}, 'f', 'p', 101)`.execute(db), '23514'],
        [() => sql`insert into chatkeep.onboarding_sessions (user_id, flow, phase, status) values (${user}, 'f', 'p', 'completed')`.execute(db), '23514'],
        [() => sql`insert into chatkeep.messages (user_id, conversation_id, role, content) values (${user}, ${id}::uuid, 'user', null)`.execute(db), '23502'],
      ];
      for (const [write, code] of rejected) {
        const error = (await caught(write)) as Error & { code?: string };
        expect(error.code).toBe(code);
      }
      await sql`insert into chatkeep.onboarding_sessions (user_id, flow, phase) values (${user}, 'f', 'p')`.execute(db);
      const second = (await caught(() => sql`insert into chatkeep.onboarding_sessions (user_id, flow, phase) values (${user}, 'f', 'p')`.execute(db))) as Error & { code?: string };
      expect(second.code).toBe('23505');
      expect((await store.conversations.get(user, id)).messageCount).toBe(0);
      // A valid plain-SQL insert gets the next seq and keeps the conversation in step.
      await insertMessage('user', 'direct write');
      const after = await store.conversations.get(user, id);
      expect(after.messageCount).toBe(1);
      expect(after.summary).toBe('direct write');
      expect((await store.messages.list(user, id)).messages[0]?.seq).toBe(1);
    });

    it('the derived message summary cannot be written out of sync', async () => {
      const { store, user, id } = await conversation();
      await store.turns.append(user, id, { user: 'the real content', assistant: 'ok' });
      const db = fixture.scratch().database.db;
      const error = (await caught(() => sql`update chatkeep.messages set summary = 'forged' where user_id = ${user}`.execute(db))) as Error & { code?: string };
      expect(error.code).toBe('428C9');
      expect((await store.messages.list(user, id)).messages[0]?.summary).toBe('the real content');
    });
  });
}
