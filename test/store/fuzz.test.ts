import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isChatkeepError, type Store } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { failureReport, FUZZ_OPTIONS, FUZZ_RUNS, FUZZ_TIMEOUT_MS } from '../support/fuzz.js';
import { HOSTILE_STRINGS, TRICKY_STRINGS } from '../support/schema-arbitraries.js';
import { seedUser, userSnapshot, type SeededUser } from '../support/seeded-user.js';
import { useStore } from '../support/store-fixture.js';

/**
 * The library's front door under generated arguments (SPEC R-SEC-1, R-SEC-3).
 * A JavaScript caller can pass what JSON cannot carry — BigInt, Map, Date,
 * NaN, -0, null-prototype and boxed objects, sparse and typed arrays — as
 * well as everything the HTTP fuzz sends. For every public store method,
 * fast-check calls it with arguments near the method's shape (ids of the
 * caller's own rows, of another user's, or made up; one field at a time
 * replaced by something odd), and whatever it passes:
 *
 * - the call resolves, or rejects with a ChatkeepError of an expected code —
 *   never CK_INTERNAL, never a TypeError or a driver's error;
 * - a CK_VALIDATION names its field, first in its message;
 * - a rejected call writes nothing: the caller's rows are as before;
 * - no call by one user changes another user's rows or returns their text.
 *
 * FUZZ_RUNS (default 25) sets the calls per method and backend; FUZZ_SEED
 * replays a failure fast-check reported.
 */

/** What a method may answer with besides a result: the caller's own mistakes, never the store's. */
const EXPECTED_CODES = new Set([
  'CK_VALIDATION',
  'CK_NOT_FOUND',
  'CK_CONFLICT',
  'CK_IDEMPOTENCY_MISMATCH',
  'CK_TURN_FINISHED',
  'CK_SESSION_NOT_ACTIVE',
  'CK_AGENT_FAILED',
  'CK_AGENT_TIMEOUT',
]);

/** Any JavaScript value, including the ones JSON has no form for. */
const jsValue = fc.anything({
  maxDepth: 2,
  maxKeys: 3,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
  withBoxedValues: true,
});

const odd = fc.oneof(
  { weight: 3, arbitrary: jsValue },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(...TRICKY_STRINGS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(NaN, -0, Infinity, 1.5, -1, 2 ** 53, 10n, undefined, null),
  },
);

/** A field that is usually `valid` and sometimes odd. */
const field = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: odd });

/** An options or input object: usually the fields given (any of them may be left out), sometimes not an object at all. */
const input = (fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record(fields, { requiredKeys: [] }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, {}) },
    { weight: 1, arbitrary: jsValue },
  );

const text = fc.string({ minLength: 1, maxLength: 30 });
const metadata = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
  maxKeys: 3,
});
const message = fc.oneof(
  text,
  fc.record({ content: field(text), metadata: field(metadata) }, { requiredKeys: ['content'] }),
);
const count = (max: number) => fc.integer({ min: 1, max });

/** A reference to a row: the caller's own, another user's, or made up. */
type Ref = 'own' | 'other' | { readonly made: unknown };
const ref: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Ref>('own') },
  { weight: 2, arbitrary: fc.constant<Ref>('other') },
  { weight: 1, arbitrary: fc.uuid().map((made): Ref => ({ made })) },
  { weight: 1, arbitrary: odd.map((made): Ref => ({ made })) },
);

interface Method {
  readonly name: string;
  /** The arguments after the acting user, with row references still to resolve. */
  readonly args: fc.Arbitrary<readonly unknown[]>;
  readonly call: (store: Store, user: unknown, args: readonly unknown[]) => Promise<unknown>;
}

/** The row kind each reference slot of a method points at. */
type Slot = keyof Pick<SeededUser, 'conversationId' | 'turnId' | 'sessionId' | 'keyId'>;

function method(
  name: string,
  slots: readonly Slot[],
  rest: readonly fc.Arbitrary<unknown>[],
  call: (store: Store, user: unknown, args: readonly any[]) => Promise<unknown>,
): Method & { readonly slots: readonly Slot[] } {
  return { name, slots, args: fc.tuple(...slots.map(() => ref), ...rest), call };
}

const conversationInput = input({
  title: field(fc.option(text)),
  summary: field(text),
  metadata: field(metadata),
});
const OWN_CONVERSATION = '@own-conversation';
const OTHER_CONVERSATION = '@other-conversation';

/** `value` with a conversation placeholder among its fields replaced by the real id. */
function withConversations(value: unknown, own: SeededUser, other: SeededUser): unknown {
  if (
    value === null ||
    typeof value !== 'object' ||
    Object.getPrototypeOf(value) !== Object.prototype
  )
    return value;
  const ids: Record<string, string> = {
    [OWN_CONVERSATION]: own.conversationId,
    [OTHER_CONVERSATION]: other.conversationId,
  };
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, typeof v === 'string' ? (ids[v] ?? v) : v]),
  );
}

const onboardingFields = {
  phase: field(text),
  progress: field(fc.integer({ min: 0, max: 100 })),
  steps: field(metadata),
  goals: field(fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 })),
  context: field(metadata),
  // Stands for the caller's own conversation or another user's, filled in at call time.
  conversationId: field(fc.constantFrom(OWN_CONVERSATION, OTHER_CONVERSATION, null)),
};
const agentReply = fc.oneof({ weight: 4, arbitrary: text }, { weight: 1, arbitrary: odd });

const METHODS = [
  method('conversations.create', [], [conversationInput], (s, u, [i]) =>
    s.conversations.create(u as string, i),
  ),
  method('conversations.get', ['conversationId'], [], (s, u, [c]) =>
    s.conversations.get(u as string, c),
  ),
  method(
    'conversations.list',
    [],
    [input({ limit: field(count(100)), cursor: field(text) })],
    (s, u, [o]) => s.conversations.list(u as string, o),
  ),
  method('conversations.update', ['conversationId'], [conversationInput], (s, u, [c, i]) =>
    s.conversations.update(u as string, c, i),
  ),
  method('conversations.delete', ['conversationId'], [], (s, u, [c]) =>
    s.conversations.delete(u as string, c),
  ),
  method(
    'messages.list',
    ['conversationId'],
    [input({ limit: field(count(1000)), before: field(text), after: field(text) })],
    (s, u, [c, o]) => s.messages.list(u as string, c, o),
  ),
  method(
    'turns.append',
    ['conversationId'],
    [input({ user: field(message), assistant: field(message), idempotencyKey: field(text) })],
    (s, u, [c, i]) => s.turns.append(u as string, c, i),
  ),
  method(
    'turns.run',
    ['conversationId'],
    [
      field(message),
      agentReply,
      input({
        timeoutMs: field(count(5_000)),
        historyLimit: field(count(100)),
        historyTokenBudget: field(count(10_000)),
        idempotencyKey: field(text),
      }),
    ],
    (s, u, [c, m, reply, o]) => s.turns.run(u as string, c, m, async () => reply as string, o),
  ),
  method(
    'turns.begin',
    ['conversationId'],
    [field(message), input({ idempotencyKey: field(text), abandonAfterMs: field(count(600_000)) })],
    (s, u, [c, m, o]) => s.turns.begin(u as string, c, m, o),
  ),
  method('turns.appendText', ['turnId'], [field(text)], (s, u, [t, x]) =>
    s.turns.appendText(u as string, t, x),
  ),
  method(
    'turns.commit',
    ['turnId'],
    [input({ content: field(text), metadata: field(metadata) })],
    (s, u, [t, i]) => s.turns.commit(u as string, t, i),
  ),
  method(
    'turns.abort',
    ['turnId'],
    [input({ keepPartial: field(fc.boolean()), content: field(text) })],
    (s, u, [t, i]) => s.turns.abort(u as string, t, i),
  ),
  method('turns.getStreamed', ['turnId'], [], (s, u, [t]) => s.turns.getStreamed(u as string, t)),
  method('onboarding.start', [], [input({ flow: field(text), ...onboardingFields })], (s, u, [i]) =>
    s.onboarding.start(u as string, i),
  ),
  method('onboarding.get', ['sessionId'], [], (s, u, [id]) => s.onboarding.get(u as string, id)),
  method('onboarding.advance', ['sessionId'], [input(onboardingFields)], (s, u, [id, i]) =>
    s.onboarding.advance(u as string, id, i),
  ),
  method(
    'onboarding.complete',
    ['sessionId'],
    [input({ context: field(metadata) })],
    (s, u, [id, i]) => s.onboarding.complete(u as string, id, i),
  ),
  method('onboarding.abandon', ['sessionId'], [], (s, u, [id]) =>
    s.onboarding.abandon(u as string, id),
  ),
  method('apiKeys.create', [], [input({ name: field(text) })], (s, u, [o]) =>
    s.apiKeys.create(u as string, o),
  ),
  method('apiKeys.revoke', ['keyId'], [], (s, u, [k]) => s.apiKeys.revoke(u as string, k)),
];

/** JSON text of a result, whatever it holds (BigInt included), to search for another user's text. */
function shown(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? '';
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: generated calls to every store method`, () => {
    const fixture = useStore(backend.name);

    it(`${FUZZ_RUNS} generated calls per method: a result or an expected ChatkeepError; nothing written on error; no other user touched`, async () => {
      const store = fixture.get();
      const failures: string[] = [];
      for (const m of METHODS) {
        // The acting user: usually the caller, sometimes not a user id at all.
        const actor = fc.oneof(
          { weight: 9, arbitrary: fc.constant<unknown>(undefined) },
          { weight: 1, arbitrary: odd },
        );
        try {
          await fc.assert(
            fc.asyncProperty(actor, m.args, async (oddActor, generated) => {
              const own = await seedUser(store, 'lib-a');
              const other = await seedUser(store, 'lib-b');
              const args = generated.map((arg, i) =>
                i < m.slots.length
                  ? arg === 'own'
                    ? own[m.slots[i]!]
                    : arg === 'other'
                      ? other[m.slots[i]!]
                      : (arg as { made: unknown }).made
                  : withConversations(arg, own, other),
              );
              const user = oddActor === undefined ? own.userId : oddActor;
              const ownBefore = await userSnapshot(store, own);
              const otherBefore = await userSnapshot(store, other);

              let outcome: { result: unknown } | { error: unknown };
              try {
                outcome = { result: await m.call(store, user, args) };
              } catch (error) {
                outcome = { error };
              }
              const described = `${m.name}(${shown([user, ...args]).slice(1, 300)}) → ${'error' in outcome ? String(outcome.error) : shown(outcome.result).slice(0, 200)}`;

              if ('error' in outcome) {
                const error = outcome.error;
                expect(
                  isChatkeepError(error) ? error.code : `not a ChatkeepError: ${String(error)}`,
                  described,
                ).toSatisfy((code: string) => EXPECTED_CODES.has(code));
                if (isChatkeepError(error) && error.code === 'CK_VALIDATION') {
                  expect(error.field, described).toEqual(expect.any(String));
                  expect(error.message.startsWith(`${error.field}: `), described).toBe(true);
                }
                expect(
                  await userSnapshot(store, own),
                  `${described}: the caller's rows changed`,
                ).toEqual(ownBefore);
              } else {
                expect(shown(outcome.result), described).not.toContain(other.marker);
              }
              expect(
                await userSnapshot(store, other),
                `${described}: another user's rows changed`,
              ).toEqual(otherBefore);
            }),
            FUZZ_OPTIONS,
          );
        } catch (error) {
          failures.push(failureReport(m.name, error));
        }
      }
      expect(failures).toEqual([]);
    }, FUZZ_TIMEOUT_MS);
  });
}
