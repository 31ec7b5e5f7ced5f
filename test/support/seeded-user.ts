import { randomUUID } from 'node:crypto';
import type { Store } from '../../src/index.js';
import { newUser } from './store-fixture.js';

/** One user's rows, one of each kind, for tests that try to reach or break them. */
export interface SeededUser {
  readonly userId: string;
  readonly conversationId: string;
  /** A streamed turn begun and given some text, neither committed nor aborted. */
  readonly turnId: string;
  readonly sessionId: string;
  readonly keyId: string;
  /** Text in this user's rows that no other user may ever be shown. */
  readonly marker: string;
}

export async function seedUser(store: Store, prefix: string): Promise<SeededUser> {
  const userId = newUser(prefix);
  const marker = `secret-of-${userId}-${randomUUID()}`;
  const { id } = await store.conversations.create(userId, { title: `title ${marker}` });
  await store.turns.append(userId, id, { user: `question ${marker}`, assistant: 'answer' });
  const turn = await store.turns.begin(userId, id, `streaming ${marker}`);
  await store.turns.appendText(userId, turn.id, 'partial');
  const { session } = await store.onboarding.start(userId, {
    flow: 'setup',
    phase: 'welcome',
    context: { note: marker },
  });
  const { apiKey } = await store.apiKeys.create(userId, { name: 'laptop' });
  return {
    userId,
    conversationId: id,
    turnId: turn.id,
    sessionId: session.id,
    keyId: apiKey.id,
    marker,
  };
}

/** Everything of the user the store can show; a refused call must leave it exactly as it was. */
export async function userSnapshot(store: Store, user: SeededUser) {
  const conversations = (await store.conversations.list(user.userId)).conversations;
  return {
    conversations,
    messages: (await store.messages.list(user.userId, user.conversationId).catch(() => undefined))
      ?.messages,
    turn: await store.turns.getStreamed(user.userId, user.turnId).catch(() => undefined),
    sessions: await store.onboarding.list(user.userId),
    apiKeys: await store.apiKeys.list(user.userId),
    flags: await store.flags.evaluate(user.userId),
  };
}
