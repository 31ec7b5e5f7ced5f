import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { caught, useStore } from '../support/store-fixture.js';

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

/**
 * JSON.stringify turns a Map, Set or RegExp into `{}`, NaN and Infinity into
 * `null`, and drops functions and symbols, without an error: a library
 * caller's `metadata: { tags: new Set(['a']) }` was stored as `{"tags":{}}`.
 * A nested value that would not come back as itself is now CK_VALIDATION
 * naming where it sits, and nothing is written. Values with `toJSON` (a
 * Date) are stored as what they turn into, and an `undefined` field is
 * dropped, as JSON does.
 */
const NOT_DATA: readonly (readonly [string, unknown, string])[] = [
  ['a Map', new Map([['k', 1]]), 'a Map'],
  ['a Set', new Set([1]), 'a Set'],
  ['a RegExp', /re/, 'a RegExp'],
  ['a typed array', new Uint8Array([1]), 'a Uint8Array'],
  ['an instance of a class', new Point(1, 2), 'a Point'],
  ['NaN', Number.NaN, 'NaN'],
  ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
  ['a function', () => 1, 'a function'],
  ['a symbol', Symbol('s'), 'a symbol'],
];

describe('pglite: metadata is JSON data, all the way down', () => {
  const fixture = useStore('pglite');
  const rows = async (user: string) =>
    Number((await sql<{ n: number }>`select count(*)::int as n from chatkeep.conversations where user_id = ${user}`.execute(fixture.scratch().database.db)).rows[0]!.n);

  it.each(NOT_DATA)('%s nested in a conversation\'s metadata is CK_VALIDATION naming its path; nothing is written', async (_what, value, received) => {
    const { store, user } = await fixture.conversation('nested');
    const error = await caught(() => store.conversations.create(user, { metadata: { tags: [{ deep: value }] } }));
    expect(error.code).toBe('CK_VALIDATION');
    expect(error.message).toBe(`metadata.tags.0.deep: expected JSON data (an object, array, string, finite number, boolean or null), received ${received}`);
    expect(await rows(user)).toBe(1);
  });

  it('in a message\'s metadata and an onboarding context too', async () => {
    const { store, user, id } = await fixture.conversation('turn');
    const turn = await caught(() => store.turns.append(user, id, { user: { content: 'hi', metadata: { seen: new Set() } }, assistant: 'hello' }));
    expect(turn.message).toMatch(/^user\.metadata\.seen: expected JSON data .* received a Set$/);
    expect((await store.messages.list(user, id)).messages).toEqual([]);
    const started = await caught(() => store.onboarding.start(user, { flow: 'coach', phase: 'welcome', context: { pace: Number.NaN } }));
    expect(started.message).toMatch(/^context\.pace: expected JSON data .* received NaN$/);
  });

  it('a Date is stored as its ISO text, an undefined field is dropped, an object without prototype is plain data', async () => {
    const { store, user } = await fixture.conversation('fine');
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: 'v' });
    const created = await store.conversations.create(user, { metadata: { at: new Date(0), gone: undefined, bare, list: [null, 1, 'x', true] } });
    expect(created.metadata).toEqual({ at: '1970-01-01T00:00:00.000Z', bare: { k: 'v' }, list: [null, 1, 'x', true] });
  });
});
