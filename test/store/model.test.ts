import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isChatkeepError, type Store } from '../../src/index.js';
import { BACKENDS } from '../support/backends.js';
import { FUZZ_OPTIONS, FUZZ_RUNS, FUZZ_TIMEOUT_MS } from '../support/fuzz.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * The store against a model of it (SPEC R-CHAT-1..3, R-SEC-1; issue 2's
 * turns and issue 3's streamed-turn lifecycle). fast-check runs random
 * sequences of calls by two users — create, rename and delete conversations,
 * append turns, begin streamed turns, add text, commit, abort with or without
 * keeping the partial reply — and replays each against a plain in-memory model
 * of what the store promises. Ids are picked from everything created so far,
 * so half the calls aim at the other user's rows or at rows already gone.
 * After every call:
 *
 * - the call succeeded exactly when the model says it should, and otherwise
 *   failed with the code the model expects (CK_NOT_FOUND for another user's
 *   row as for a missing one, CK_TURN_FINISHED, CK_VALIDATION);
 * - each user's conversations, titles and every history — role, content and
 *   the aborted mark, in order — are the model's. A streaming turn is never
 *   in a history; a committed one is, both messages at once.
 *
 * FUZZ_RUNS (default 25) sets the sequences per backend; FUZZ_SEED replays
 * a failure fast-check reported.
 */

type Actor = 0 | 1;

interface ModelMessage {
  readonly role: 'user' | 'assistant';
  readonly content: string;
  readonly aborted: boolean;
}

interface ModelConversation {
  readonly owner: Actor;
  title: string | null;
  deleted: boolean;
  readonly messages: ModelMessage[];
}

interface ModelTurn {
  readonly owner: Actor;
  readonly conversation: number;
  readonly message: string;
  text: string;
  state: 'streaming' | 'committed' | 'aborted';
}

interface Model {
  readonly conversations: ModelConversation[];
  readonly turns: ModelTurn[];
}

interface Real {
  readonly store: Store;
  readonly users: readonly [string, string];
  /** Real ids by the model's index. A failed create or begin still takes an index, with a made-up id. */
  readonly conversationIds: string[];
  readonly turnIds: string[];
}

/** What a call should come to, by the model: done, or refused with this code. */
type Expected = 'ok' | 'CK_NOT_FOUND' | 'CK_TURN_FINISHED' | 'CK_VALIDATION';

/** An index counted from the newest row, so that calls mostly aim at rows the sequence just made. */
function recent(length: number, pick: number): number {
  return Math.max(length - 1 - (pick % Math.max(length, 1)), 0);
}

/** The conversation a call names, and whether `actor` may reach it. */
function conversationFor(
  model: Model,
  actor: Actor,
  pick: number,
): { index: number; reachable: boolean } {
  const index = recent(model.conversations.length, pick);
  const c = model.conversations[index];
  return { index, reachable: c !== undefined && c.owner === actor && !c.deleted };
}

function turnFor(
  model: Model,
  actor: Actor,
  pick: number,
): { turn: ModelTurn | undefined; index: number; reachable: boolean } {
  const index = recent(model.turns.length, pick);
  const turn = model.turns[index];
  const reachable =
    turn !== undefined && turn.owner === actor && !model.conversations[turn.conversation]!.deleted;
  return { turn, index, reachable };
}

/** Runs `call` and checks its outcome against `expected`; returns the result when it succeeded. */
async function outcome<T>(
  what: string,
  expected: Expected,
  call: () => Promise<T>,
): Promise<T | undefined> {
  try {
    const result = await call();
    expect('ok', `${what} succeeded`).toBe(expected);
    return result;
  } catch (error) {
    if (!isChatkeepError(error)) throw error;
    expect(error.code, `${what}: ${error.message}`).toBe(expected);
    return undefined;
  }
}

/** Both users' conversations and histories, as the store shows them, against the model. */
async function compare(model: Model, real: Real): Promise<void> {
  for (const actor of [0, 1] as const) {
    const listed = (await real.store.conversations.list(real.users[actor], { limit: 100 }))
      .conversations;
    const expected = model.conversations
      .map((c, i) => ({ ...c, id: real.conversationIds[i]! }))
      .filter((c) => c.owner === actor && !c.deleted);
    expect(listed.map((c) => [c.id, c.title, c.messageCount]).sort()).toEqual(
      expected.map((c) => [c.id, c.title, c.messages.length]).sort(),
    );
    for (const c of expected) {
      const page = await real.store.messages.list(real.users[actor], c.id, { limit: 1000 });
      expect(
        page.messages.map((m) => ({ role: m.role, content: m.content, aborted: m.aborted })),
      ).toEqual(c.messages);
    }
  }
}

type Command = fc.AsyncCommand<Model, Real>;

const actor = fc.constantFrom<Actor>(0, 1);
const pick = fc.nat(5);
const word = fc.stringMatching(/^[a-z]{1,6}$/);

class Create implements Command {
  constructor(
    readonly actor: Actor,
    readonly title: string | null,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const created = await real.store.conversations.create(real.users[this.actor], {
      title: this.title,
    });
    model.conversations.push({
      owner: this.actor,
      title: this.title,
      deleted: false,
      messages: [],
    });
    real.conversationIds.push(created.id);
    await compare(model, real);
  }
  toString = () => `create(${this.actor}, ${JSON.stringify(this.title)})`;
}

class Rename implements Command {
  constructor(
    readonly actor: Actor,
    readonly pick: number,
    readonly title: string,
  ) {}
  check = (model: Readonly<Model>) => model.conversations.length > 0;
  async run(model: Model, real: Real) {
    const { index, reachable } = conversationFor(model, this.actor, this.pick);
    const done = await outcome(this.toString(), reachable ? 'ok' : 'CK_NOT_FOUND', () =>
      real.store.conversations.update(real.users[this.actor], real.conversationIds[index]!, {
        title: this.title,
      }),
    );
    if (done !== undefined) model.conversations[index]!.title = this.title;
    await compare(model, real);
  }
  toString = () => `rename(${this.actor}, #${this.pick}, ${this.title})`;
}

class Delete implements Command {
  constructor(
    readonly actor: Actor,
    readonly pick: number,
  ) {}
  check = (model: Readonly<Model>) => model.conversations.length > 0;
  async run(model: Model, real: Real) {
    const { index, reachable } = conversationFor(model, this.actor, this.pick);
    await outcome(this.toString(), reachable ? 'ok' : 'CK_NOT_FOUND', () =>
      real.store.conversations.delete(real.users[this.actor], real.conversationIds[index]!),
    );
    if (reachable) model.conversations[index]!.deleted = true;
    await compare(model, real);
  }
  toString = () => `delete(${this.actor}, #${this.pick})`;
}

class Append implements Command {
  constructor(
    readonly actor: Actor,
    readonly pick: number,
    readonly user: string,
    readonly assistant: string,
  ) {}
  check = (model: Readonly<Model>) => model.conversations.length > 0;
  async run(model: Model, real: Real) {
    const { index, reachable } = conversationFor(model, this.actor, this.pick);
    await outcome(this.toString(), reachable ? 'ok' : 'CK_NOT_FOUND', () =>
      real.store.turns.append(real.users[this.actor], real.conversationIds[index]!, {
        user: this.user,
        assistant: this.assistant,
      }),
    );
    if (reachable) {
      model.conversations[index]!.messages.push(
        { role: 'user', content: this.user, aborted: false },
        { role: 'assistant', content: this.assistant, aborted: false },
      );
    }
    await compare(model, real);
  }
  toString = () => `append(${this.actor}, #${this.pick}, ${this.user}, ${this.assistant})`;
}

class Begin implements Command {
  constructor(
    readonly actor: Actor,
    readonly pick: number,
    readonly message: string,
  ) {}
  check = (model: Readonly<Model>) => model.conversations.length > 0;
  async run(model: Model, real: Real) {
    const { index, reachable } = conversationFor(model, this.actor, this.pick);
    const begun = await outcome(this.toString(), reachable ? 'ok' : 'CK_NOT_FOUND', () =>
      real.store.turns.begin(real.users[this.actor], real.conversationIds[index]!, this.message),
    );
    if (begun !== undefined) {
      model.turns.push({
        owner: this.actor,
        conversation: index,
        message: this.message,
        text: '',
        state: 'streaming',
      });
      real.turnIds.push(begun.id);
    }
    await compare(model, real);
  }
  toString = () => `begin(${this.actor}, #${this.pick}, ${this.message})`;
}

class AppendText implements Command {
  constructor(
    readonly actor: Actor,
    readonly pick: number,
    readonly text: string,
  ) {}
  check = (model: Readonly<Model>) => model.turns.length > 0;
  async run(model: Model, real: Real) {
    const { turn, index, reachable } = turnFor(model, this.actor, this.pick);
    const expected: Expected = !reachable
      ? 'CK_NOT_FOUND'
      : turn!.state !== 'streaming'
        ? 'CK_TURN_FINISHED'
        : 'ok';
    await outcome(this.toString(), expected, () =>
      real.store.turns.appendText(real.users[this.actor], real.turnIds[index]!, this.text),
    );
    if (expected === 'ok') turn!.text += this.text;
    await compare(model, real);
  }
  toString = () => `appendText(${this.actor}, #${this.pick}, ${this.text})`;
}

class Commit implements Command {
  constructor(
    readonly actor: Actor,
    readonly pick: number,
  ) {}
  check = (model: Readonly<Model>) => model.turns.length > 0;
  async run(model: Model, real: Real) {
    const { turn, index, reachable } = turnFor(model, this.actor, this.pick);
    // Committing a committed turn returns it again; an empty reply cannot be committed and leaves the turn streaming.
    const expected: Expected = !reachable
      ? 'CK_NOT_FOUND'
      : turn!.state === 'aborted'
        ? 'CK_TURN_FINISHED'
        : turn!.state === 'streaming' && turn!.text === ''
          ? 'CK_VALIDATION'
          : 'ok';
    await outcome(this.toString(), expected, () =>
      real.store.turns.commit(real.users[this.actor], real.turnIds[index]!),
    );
    if (expected === 'ok' && turn!.state === 'streaming') {
      turn!.state = 'committed';
      model.conversations[turn!.conversation]!.messages.push(
        { role: 'user', content: turn!.message, aborted: false },
        { role: 'assistant', content: turn!.text, aborted: false },
      );
    }
    await compare(model, real);
  }
  toString = () => `commit(${this.actor}, #${this.pick})`;
}

class Abort implements Command {
  constructor(
    readonly actor: Actor,
    readonly pick: number,
    readonly keepPartial: boolean,
  ) {}
  check = (model: Readonly<Model>) => model.turns.length > 0;
  async run(model: Model, real: Real) {
    const { turn, index, reachable } = turnFor(model, this.actor, this.pick);
    // Aborting an aborted turn returns it unchanged.
    const expected: Expected = !reachable
      ? 'CK_NOT_FOUND'
      : turn!.state === 'committed'
        ? 'CK_TURN_FINISHED'
        : 'ok';
    await outcome(this.toString(), expected, () =>
      real.store.turns.abort(real.users[this.actor], real.turnIds[index]!, {
        keepPartial: this.keepPartial,
      }),
    );
    if (expected === 'ok' && turn!.state === 'streaming') {
      turn!.state = 'aborted';
      // Only a partial reply with something in it is kept, marked aborted.
      if (this.keepPartial && turn!.text !== '') {
        model.conversations[turn!.conversation]!.messages.push(
          { role: 'user', content: turn!.message, aborted: false },
          { role: 'assistant', content: turn!.text, aborted: true },
        );
      }
    }
    await compare(model, real);
  }
  toString = () => `abort(${this.actor}, #${this.pick}, keepPartial: ${this.keepPartial})`;
}

/** Each kind of call, as often as its weight: turns have more states to get wrong than conversations. */
const commands = [
  fc.tuple(actor, fc.option(word, { nil: null })).map(([a, t]) => new Create(a, t)),
  fc.tuple(actor, pick, word).map(([a, p, t]) => new Rename(a, p, t)),
  fc.tuple(actor, pick).map(([a, p]) => new Delete(a, p)),
  ...[1, 2].map(() =>
    fc.tuple(actor, pick, word, word).map(([a, p, u, r]) => new Append(a, p, u, r)),
  ),
  ...[1, 2].map(() => fc.tuple(actor, pick, word).map(([a, p, m]) => new Begin(a, p, m))),
  ...[1, 2, 3].map(() => fc.tuple(actor, pick, word).map(([a, p, t]) => new AppendText(a, p, t))),
  ...[1, 2].map(() => fc.tuple(actor, pick).map(([a, p]) => new Commit(a, p))),
  ...[1, 2].map(() => fc.tuple(actor, pick, fc.boolean()).map(([a, p, k]) => new Abort(a, p, k))),
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the store behaves like its model`, () => {
    const fixture = useStore(backend.name);

    it(`${FUZZ_RUNS} random sequences of calls by two users: every outcome and every history as the model says`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.commands(commands, { maxCommands: 60, size: '+2' }),
          async (sequence) => {
            const model: Model = { conversations: [], turns: [] };
            const real: Real = {
              store: fixture.get(),
              users: [newUser('model-a'), newUser('model-b')],
              conversationIds: [],
              turnIds: [],
            };
            // Each user starts with two conversations, so that the first calls have rows to aim at.
            for (const owner of [0, 1, 0, 1] as const)
              await new Create(owner, `start ${owner}`).run(model, real);
            await fc.asyncModelRun(() => ({ model, real }), sequence);
          },
        ),
        FUZZ_OPTIONS,
      );
    }, FUZZ_TIMEOUT_MS);
  });
}
