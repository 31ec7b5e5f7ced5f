import type { Store } from 'chatkeep';
import type { HttpPlan } from './http-plan.js';
import { ASSISTANT_TEXT, USER_TEXT } from '../lib/turn-texts.js';

/** Text of every turn, seeded and appended: the core bench's (lib/turn-texts.ts). */
export { ASSISTANT_TEXT, USER_TEXT };

/** A seeded conversation and its owner. */
export interface OwnedConversation {
  readonly userId: string;
  readonly conversationId: string;
}

/**
 * Seeds through the library, as an application would fill the store:
 * `users × conversationsPerUser` conversations, then `turns` turns in each with
 * `store.turns.append` from `seedConcurrency` workers. Turns go round-robin
 * over the conversations (turn 1 of every conversation, then turn 2, …), so
 * one conversation's messages are spread over the table as in a live system.
 */
export async function seedThroughLibrary(
  store: Store,
  plan: HttpPlan,
  progress: (done: number, total: number) => void,
): Promise<OwnedConversation[]> {
  const conversations: OwnedConversation[] = [];
  for (let u = 0; u < plan.users; u++) {
    const userId = `u${u}`;
    for (let c = 0; c < plan.conversationsPerUser; c++) {
      const { id } = await store.conversations.create(userId, { title: `bench ${c}` });
      conversations.push({ userId, conversationId: id });
    }
  }
  const total = conversations.length * plan.turns;
  let issued = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (let i = issued++; i < total; i = issued++) {
      const c = conversations[i % conversations.length] as OwnedConversation;
      await store.turns.append(c.userId, c.conversationId, {
        user: USER_TEXT,
        assistant: ASSISTANT_TEXT,
      });
      if (++done % 5000 === 0) progress(done, total);
    }
  };
  await Promise.all(Array.from({ length: plan.seedConcurrency }, () => worker()));
  return conversations;
}
