import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { isChatkeepError, type Message, type Store, type Turn } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { FUZZ_OPTIONS, FUZZ_RUNS, FUZZ_TIMEOUT_MS } from '../support/fuzz.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * Concurrent callers lose nothing and corrupt nothing (SPEC R-CHAT-2/3;
 * issue 2's order test, generalised). fast-check generates a batch of
 * scripts — append a turn; send one turn twice at once with an idempotency
 * key; begin a streamed turn, add text, then commit it
 * or abort it (keeping the partial reply or not); rename or delete a
 * conversation — aimed at a few conversations, and runs the whole batch at
 * once. Then, whatever the interleaving:
 *
 * - every script either finished or failed with an answer a caller can act
 *   on (CK_NOT_FOUND once its conversation was deleted, CK_CONFLICT to send
 *   again), never anything else;
 * - every history is seq 1..n without gaps, in pairs: a user message and its
 *   reply, one turn each, and `messageCount` is n;
 * - every turn a script was told is stored is there, once, with its ids,
 *   seqs and text (nothing lost; a turn sent twice at once under one
 *   idempotency key is stored once, and both callers get it); the text of a script that failed, of a streamed
 *   turn aborted without keeping, is nowhere (nothing half-written); a kept
 *   partial reply is marked aborted;
 * - a deleted conversation left no message behind.
 *
 * FUZZ_RUNS (default 25) sets the batches per backend; FUZZ_SEED replays one.
 */

/** What may stop a script part-way when others run at the same time. */
const ACCEPTABLE = new Set(['CK_NOT_FOUND', 'CK_CONFLICT']);

type Script =
  | { readonly kind: 'append'; readonly target: number }
  | { readonly kind: 'retry'; readonly target: number }
  | {
      readonly kind: 'stream';
      readonly target: number;
      readonly chunks: number;
      readonly end: 'commit' | 'abort' | 'keep';
    }
  | { readonly kind: 'rename'; readonly target: number }
  | { readonly kind: 'delete'; readonly target: number };

const CONVERSATIONS = 3;
const target = fc.nat(CONVERSATIONS - 1);
const script: fc.Arbitrary<Script> = fc.oneof(
  { weight: 4, arbitrary: target.map((t): Script => ({ kind: 'append', target: t })) },
  { weight: 2, arbitrary: target.map((t): Script => ({ kind: 'retry', target: t })) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(target, fc.nat(3), fc.constantFrom('commit', 'abort', 'keep'))
      .map(([t, chunks, end]): Script => ({ kind: 'stream', target: t, chunks, end })),
  },
  { weight: 1, arbitrary: target.map((t): Script => ({ kind: 'rename', target: t })) },
  { weight: 1, arbitrary: target.map((t): Script => ({ kind: 'delete', target: t })) },
);

/** What a script was told was stored, or why it stopped. */
interface Outcome {
  readonly tag: string;
  readonly target: number;
  readonly stored?: Turn;
  readonly failed?: string;
  /** Text only this script wrote, to look for everywhere. */
  readonly text: readonly string[];
  readonly visible: boolean;
  readonly aborted: boolean;
}

async function play(
  store: Store,
  user: string,
  ids: readonly string[],
  s: Script,
  tag: string,
): Promise<Outcome> {
  const id = ids[s.target]!;
  // Bracketed, so that no tag is found inside another ("1.1" in "1.12").
  const question = `q[${tag}]`;
  const answer = `a[${tag}]`;
  const base = { tag, target: s.target, text: [question, answer], visible: false, aborted: false };
  try {
    switch (s.kind) {
      case 'append':
        return {
          ...base,
          visible: true,
          stored: await store.turns.append(user, id, { user: question, assistant: answer }),
        };
      case 'retry': {
        // A client that sends the same turn twice at once, with one idempotency key: one turn is stored.
        const send = () =>
          store.turns.append(user, id, {
            user: question,
            assistant: answer,
            idempotencyKey: `key${tag}`,
          });
        const [first, second] = await Promise.all([send(), send()]);
        expect([second.userMessage.id, second.assistantMessage.id]).toEqual([
          first.userMessage.id,
          first.assistantMessage.id,
        ]);
        expect([first.replayed, second.replayed].sort()).toEqual([false, true]);
        return { ...base, visible: true, stored: first };
      }
      case 'stream': {
        const turn = await store.turns.begin(user, id, question);
        const chunks = Array.from({ length: s.chunks }, (_, i) => `${answer}-${i} `);
        for (const chunk of chunks) await store.turns.appendText(user, turn.id, chunk);
        const text = [question, ...chunks.map((c) => c.trim())];
        if (s.end === 'commit') {
          if (chunks.length === 0) {
            return {
              ...base,
              text,
              stored: await store.turns.commit(user, turn.id, { content: answer }),
              visible: true,
            };
          }
          return { ...base, text, stored: await store.turns.commit(user, turn.id), visible: true };
        }
        const { kept } = await store.turns.abort(user, turn.id, { keepPartial: s.end === 'keep' });
        return {
          ...base,
          text,
          visible: kept !== null,
          aborted: kept !== null,
          ...(kept !== null ? { stored: kept } : {}),
        };
      }
      case 'rename':
        await store.conversations.update(user, id, { title: tag });
        return { ...base, text: [] };
      case 'delete':
        await store.conversations.delete(user, id);
        return { ...base, text: [] };
    }
  } catch (error) {
    if (!isChatkeepError(error) || !ACCEPTABLE.has(error.code)) throw error;
    return { ...base, failed: error.code };
  }
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: concurrent scripts on a few conversations`,
    () => {
      const fixture = useStore(backend.name);
      let batch = 0;

      it(`${FUZZ_RUNS} generated batches run at once: nothing lost, nothing half-written, histories gap-free and paired`, async () => {
        const store = fixture.get();
        await fc.assert(
          fc.asyncProperty(fc.array(script, { minLength: 2, maxLength: 16 }), async (scripts) => {
            batch++;
            const user = newUser('mix');
            const ids: string[] = [];
            for (let i = 0; i < CONVERSATIONS; i++)
              ids.push((await store.conversations.create(user, { title: `c${i}` })).id);

            const outcomes = await Promise.all(
              scripts.map((s, i) => play(store, user, ids, s, `${batch}.${i}`)),
            );

            const deleted = new Set(
              outcomes
                .filter((o, i) => scripts[i]!.kind === 'delete' && o.failed === undefined)
                .map((o) => o.target),
            );
            const histories = new Map<number, readonly Message[]>();
            for (let i = 0; i < CONVERSATIONS; i++) {
              if (deleted.has(i)) {
                await expect(store.messages.list(user, ids[i]!)).rejects.toMatchObject({
                  code: 'CK_NOT_FOUND',
                });
                const { rows } = await sql<{ n: number }>`
                select count(*)::int as n from chatkeep.messages where user_id = ${user} and conversation_id = ${ids[i]!}`.execute(
                  fixture.scratch().database.db,
                );
                expect(rows[0]!.n, 'messages left behind by a deleted conversation').toBe(0);
                continue;
              }
              const { messages } = await store.messages.list(user, ids[i]!, { limit: 1000 });
              histories.set(i, messages);
              expect(messages.map((m) => m.seq)).toEqual(messages.map((_, k) => k + 1));
              for (let k = 0; k < messages.length; k += 2) {
                const [asked, replied] = [messages[k]!, messages[k + 1]];
                expect([asked.role, replied?.role]).toEqual(['user', 'assistant']);
                expect(replied!.turnId).toBe(asked.turnId);
              }
              expect((await store.conversations.get(user, ids[i]!)).messageCount).toBe(
                messages.length,
              );
            }
            const everything = [...histories.values()].flat();
            for (const o of outcomes) {
              const history = histories.get(o.target);
              if (o.visible && o.failed === undefined && history !== undefined) {
                const turn = o.stored!;
                for (const m of [turn.userMessage, turn.assistantMessage]) {
                  expect(
                    history.find((h) => h.id === m.id),
                    `${o.tag}: a stored message is missing`,
                  ).toMatchObject({
                    seq: m.seq,
                    content: m.content,
                    aborted: m.aborted,
                  });
                }
                expect(turn.assistantMessage.aborted).toBe(o.aborted);
                expect(
                  history.filter((h) => h.content === turn.userMessage.content),
                  `${o.tag}: stored twice`,
                ).toHaveLength(1);
              } else {
                for (const text of o.text) {
                  expect(
                    everything.some((m) => m.content.includes(text)),
                    `${o.tag}: "${text}" is visible`,
                  ).toBe(false);
                }
              }
            }
          }),
          FUZZ_OPTIONS,
        );
      }, FUZZ_TIMEOUT_MS);
    },
  );
}
